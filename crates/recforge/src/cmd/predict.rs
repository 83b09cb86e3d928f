//! `recforge predict RUN_DIR --data FILE [--out scores.csv|.parquet] [--batch-size N] [--skip-bad-rows]
//! [--json]`: score raw rows with a model folder (`recforge_train::ScoringModel::predict_file`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_train::{PredictOptions, ScoringModel};

#[derive(ClapArgs)]
pub struct Args {
    /// A model folder written by `recforge train` (it may have moved; the training data may be gone).
    run_dir: PathBuf,
    /// The rows to score: CSV, TSV or Parquet with the schema's raw columns (the label is optional).
    #[arg(long)]
    data: PathBuf,
    /// Scores file: *.csv, *.tsv or *.parquet (columns: example_id or row, score).
    #[arg(long, default_value = "scores.csv")]
    out: PathBuf,
    /// Examples per forward pass (default: the run's [train] eval_batch_size).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Skip malformed rows (counted and reported) instead of stopping at the first.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let model = ScoringModel::load(&args.run_dir)?;
    let options = PredictOptions { batch_size: args.batch_size, skip_bad_rows: args.skip_bad_rows };
    let report = model.predict_file(&args.data, &args.out, &options, crate::progress::console())?;
    match args.json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => print!("{}", report.summary()),
    }
    Ok(())
}
