//! `recforge train CONFIG.toml [--seed N] [--set key=value]... [--out DIR] [--json]`: train
//! any model family from its `[model] kind` (`recforge_train::train_config`): a ranking run
//! (`recforge_train::Run`) or a sequential one (sur, mur, sasrec, bpr, ease).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_data::TaskOptions;
use recforge_train::{RunDir, TrainedRun, train_config};

#[derive(ClapArgs)]
pub struct Args {
    /// Training config: [data] schema, [model] (kind) and [train] tables (see configs/ and
    /// configs/retrieval/).
    config: PathBuf,
    /// Override any config value before it is read, e.g. `--set train.lr=0.01 --set model.hidden=[64]`.
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Seed for initialisation, shuffling and dropout (overrides [train] seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run directory (default runs/<config name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override [train] epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Skip malformed rows while preparing (counted and reported; ranking configs).
    #[arg(long)]
    skip_bad_rows: bool,
    /// Print the metrics JSON only (a sequential run: its test report, as `recforge eval --json`).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let mut overrides = args.set;
    overrides.extend(args.seed.map(|s| format!("train.seed={s}")));
    overrides.extend(args.epochs.map(|e| format!("train.epochs={e}")));
    let options = TaskOptions { skip_bad_rows: args.skip_bad_rows, ..Default::default() };
    match train_config(&args.config, &overrides, args.out.as_deref(), &options, crate::progress::console())? {
        TrainedRun::Ranking { run, out } => {
            println!("{}", serde_json::to_string_pretty(&run.metrics)?);
            if !args.json {
                println!("run written to {} (report: {})", out.display(), out.join(RunDir::REPORT).display());
            }
        }
        TrainedRun::Sequential(outcome) if args.json => println!("{}", serde_json::to_string_pretty(&outcome.test)?),
        TrainedRun::Sequential(outcome) => {
            print!("{}", outcome.test.table());
            println!("run written to {} (best epoch {})", outcome.out.display(), outcome.metrics.best_epoch);
        }
    }
    Ok(())
}
