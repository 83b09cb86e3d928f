//! `recforge eval RUN_DIR [--data FILE] [--split test|valid|train]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::prelude::*;
use clap::{Args as ClapArgs, ValueEnum};
use recforge_train::{RunDir, evaluate};
use serde_json::json;


#[derive(Clone, Copy, ValueEnum)]
enum SplitName {
    Train,
    Valid,
    Test,
}

#[derive(ClapArgs)]
pub struct Args {
    /// A run directory written by `recforge train`.
    run_dir: PathBuf,
    /// Score a new file (same columns as the training data), encoded with the run's vocabularies.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Which split of the training data to score when --data is not given.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitName,
    /// Skip malformed rows of --data (counted and reported).
    #[arg(long)]
    skip_bad_rows: bool,
}

pub fn run(args: Args) -> Result<()> {
    let run = RunDir::open(&args.run_dir)?;
    let config = run.load_config()?;
    let recforge_data::Task { schema, dataset, split, .. } = recforge_data::Task::load(&config.data.schema, &recforge_data::TaskOptions::default(), crate::progress::console())?;
    let device = Device::default();
    let trained = run.load_model(&config, &dataset, &device)?;
    let (label, metrics) = match &args.data {
        Some(file) => {
            let options = recforge_data::TaskOptions { skip_bad_rows: args.skip_bad_rows, ..Default::default() }
                .prepare_options(crate::progress::console());
            let encoder = dataset
                .encoder()
                .context("the prepared dataset has no fitted encoder; rerun `recforge data prepare --force` on its schema")?;
            let encoded = recforge_data::encode_file(&schema, encoder, file, &options)?;
            let rows: Vec<usize> = (0..encoded.len()).collect();
            (file.display().to_string(), evaluate(&trained.model, &trained.store, &encoded, &rows, config.train.eval_batch_size, &device))
        }
        None => {
            let (name, rows) = match args.split {
                SplitName::Train => ("train", split.train),
                SplitName::Valid => ("valid", split.valid),
                SplitName::Test => ("test", split.test),
            };
            (name.to_string(), evaluate(&trained.model, &trained.store, &dataset, &rows, config.train.eval_batch_size, &device))
        }
    };
    let out = json!({
        "data": label,
        "auc": metrics.auc,
        "logloss": metrics.logloss,
        "accuracy": metrics.accuracy,
        "examples": metrics.examples,
        "label_rate": metrics.label_rate,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
