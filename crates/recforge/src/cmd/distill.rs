//! `recforge distill CONFIG.toml`: one distillation experiment from a config (the label
//! pipeline, or `mode = "committee" | "talking" | "levi"`), run by
//! [`recforge_distill::experiment::run`]; writes `<out>/{results.json,report.html}` and prints
//! the results tables (or, with `--json`, the results).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_distill::{DistillConfig, ExperimentOptions, experiment};

#[derive(ClapArgs)]
pub struct Args {
    /// Distillation config (see configs/distill/): [data] windows, [teacher], [[students]], [search];
    /// `mode = "committee" | "talking" | "levi"` with [[teachers]], [foundation], [committee], [talking], [levi].
    config: PathBuf,
    /// Output folder (default runs/<config name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override a config value, e.g. `--set data.max_student_rows=5000` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Override the label store URL (`labels = ...` in the config), e.g. mem://.
    #[arg(long)]
    labels: Option<String>,
    /// Override the student seeds, comma-separated.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Skip the [search] table even if the config has one.
    #[arg(long)]
    no_search: bool,
    /// Skip malformed rows while preparing (counted and reported).
    #[arg(long)]
    skip_bad_rows: bool,
    /// Print results.json on stdout instead of the tables (nothing else goes to stdout).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let mut config = DistillConfig::from_file_with_overrides(&args.config, &args.set)?;
    config.labels = args.labels.unwrap_or(config.labels);
    config.seeds = args.seeds.unwrap_or(config.seeds);
    let mut options = ExperimentOptions::new(&args.config, &config);
    options.out = args.out.unwrap_or(options.out);
    options.no_search = args.no_search;
    options.task.skip_bad_rows = args.skip_bad_rows;
    let outcome = experiment::run(&config, &options, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome.results)?);
    } else {
        println!("{}", outcome.results.markdown());
        println!("results written to {} (report: {})", outcome.results_path.display(), outcome.report_path.display());
    }
    Ok(())
}
