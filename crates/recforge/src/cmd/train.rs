//! `recforge train CONFIG.toml [--seed N] [--set key=value]... [--out DIR] [--json]`: prepare,
//! train, test, write the run folder (`recforge_train::Run`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_data::TaskOptions;
use recforge_train::{Run, RunConfig, RunDir};

#[derive(ClapArgs)]
pub struct Args {
    /// Training config: [data] schema, [model] and [train] tables (see configs/).
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
    /// Skip malformed rows while preparing (counted and reported).
    #[arg(long)]
    skip_bad_rows: bool,
    /// Print the metrics JSON only.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let mut config = RunConfig::from_file_with_overrides(&args.config, &args.set)?;
    config.train.seed = args.seed.unwrap_or(config.train.seed);
    config.train.epochs = args.epochs.unwrap_or(config.train.epochs);
    let out = args.out.unwrap_or_else(|| PathBuf::from("runs").join(config.name()));
    let options = TaskOptions { skip_bad_rows: args.skip_bad_rows, ..Default::default() };
    let run = Run::train_to(&config, &out, &options, crate::progress::console())?;
    println!("{}", serde_json::to_string_pretty(&run.metrics)?);
    if !args.json {
        println!("run written to {} (report: {})", out.display(), out.join(RunDir::REPORT).display());
    }
    Ok(())
}
