//! `recforge train CONFIG.toml [--seed N] [--out DIR]`: prepare, train, test, report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::prelude::*;
use clap::Args as ClapArgs;
use recforge_train::{EvalMetrics, RunConfig, RunDir, TrainedModel, fit, labels_of, predict};
use serde_json::{Value, json};

use crate::report;

#[derive(ClapArgs)]
pub struct Args {
    /// Training config: [data] schema, [model] and [train] tables (see configs/).
    config: PathBuf,
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
}

pub fn run(args: Args) -> Result<Value> {
    let mut config = RunConfig::from_file(&args.config)?;
    if let Some(seed) = args.seed {
        config.train.seed = seed;
    }
    if let Some(epochs) = args.epochs {
        config.train.epochs = epochs;
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from("runs").join(config.name()));
    let metrics = train_config(&config, &out, args.skip_bad_rows, true)?;
    println!("{}", serde_json::to_string_pretty(&metrics)?);
    println!("run written to {} (report: {})", out.display(), out.join(RunDir::REPORT).display());
    Ok(metrics)
}

/// Train `config` into `out`; returns the flat metrics written to metrics.json.
pub fn train_config(config: &RunConfig, out: &Path, skip_bad_rows: bool, show_progress: bool) -> Result<Value> {
    let task = recforge_data::Task::load(&config.data.schema, &recforge_data::TaskOptions { skip_bad_rows: skip_bad_rows, ..Default::default() }, crate::progress::console())?;
    Ok(train_on(config, out, &task, show_progress)?.0)
}

/// Train `config` on an already loaded task into `out`; returns the flat metrics written to
/// metrics.json and the trained model (for callers that go on to measure it, like `zoo`).
pub fn train_on(config: &RunConfig, out: &Path, task: &recforge_data::Task, show_progress: bool) -> Result<(Value, TrainedModel)> {
    let recforge_data::Task { schema, dataset, split, prepared } = task;
    tracing::info!(
        train = split.train.len(),
        valid = split.valid.len(),
        test = split.test.len(),
        method = ?schema.split.method,
        "split"
    );
    let run = RunDir::create(out)?;
    run.save_config(config)?;

    let started = Instant::now();
    let outcome = fit(&config.model, &config.train, dataset, split, show_progress)
        .with_context(|| format!("training on the data of {}", config.data.schema.display()))?;
    let train_seconds = started.elapsed().as_secs_f64();
    let trained = &outcome.trained;
    let probabilities =
        predict(&trained.model, &trained.store, dataset, &split.test, config.train.eval_batch_size, &Device::default());
    let labels = labels_of(dataset, &split.test);
    let test = EvalMetrics::of(&probabilities, &labels);
    let best = outcome.history.iter().find(|r| r.epoch == outcome.best_epoch);

    let metrics = json!({
        "model": config.model.name(),
        "dataset": dataset.meta.name,
        "seed": config.train.seed,
        "auc": test.auc,
        "logloss": test.logloss,
        "accuracy": test.accuracy,
        "test_examples": test.examples,
        "test_label_rate": test.label_rate,
        "valid_auc": best.map(|r| r.valid.auc),
        "valid_logloss": best.map(|r| r.valid.logloss),
        "best_epoch": outcome.best_epoch,
        "epochs_run": outcome.history.len(),
        "stopped_early": outcome.stopped_early,
        "train_examples_per_sec": outcome.train_examples_per_sec,
        "train_seconds": train_seconds,
        "prepare_seconds": prepared.seconds,
        "prepare_cache_hit": prepared.cache_hit,
        "parameters": outcome.trained.num_parameters(),
        "embedding_parameters": outcome.trained.store.num_parameters(),
        "train_examples": split.train.len(),
        "valid_examples": split.valid.len(),
        "split": format!("{:?}", schema.split.method).to_lowercase(),
    });
    run.save_model(&outcome.trained)?;
    run.write_json(RunDir::METRICS, &metrics)?;
    run.write_json(RunDir::HISTORY, &outcome.history)?;
    let html = report::render(&report::ReportInput {
        title: config.name(),
        metrics: &metrics,
        history: &outcome.history,
        dataset,
        split,
        test_probabilities: &probabilities,
        test_labels: &labels,
    });
    run.write(RunDir::REPORT, html.as_bytes())?;
    Ok((metrics, outcome.trained))
}
