//! The serving export of a trained Hiformer: composite Q/K/V factorised by truncated SVD, the
//! last layer computed for the task tokens only, optionally fine-tuned for a few steps; each
//! variant is written as a run folder `recforge eval` reads, with its test AUC and serving
//! latency against the original ([`export_serving`]).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use recforge_data::{Progress, Task, TaskOptions};
use recforge_models::ranking::{ServingError, to_serving};
use recforge_models::{ModelConfig, Ranker};
use serde::{Deserialize, Serialize};

use crate::evaluate::evaluate;
use crate::latency::serving_latency;
use crate::run::{RunConfig, RunDir, RunError};
use crate::trainer::{TrainError, TrainedModel, fine_tune};
use crate::zoo::{LATENCY_BATCHES, variant_name};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// One variant per entry: Some(rank) factorises Q/K/V to that rank, None keeps full rank.
    pub ranks: Vec<Option<usize>>,
    pub prune_last_layer: bool,
    /// Fine-tuning steps for each factorised variant (0: none).
    pub finetune_steps: usize,
    /// Output folder (one variant: the variant's run; several: one sub-folder each).
    pub out: PathBuf,
    /// Timed requests per latency measurement.
    pub latency_calls: usize,
}

/// Why the export could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{} holds a {model} model; the serving export factorises Hiformer's composite projections (train a kind = \"hiformer\" config)",
        .path.display()
    )]
    NotHiformer { path: PathBuf, model: String },
    #[error("nothing to export: pass --low-rank R (or --ranks), --prune-last-layer, or both")]
    NothingToExport,
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Serving(#[from] ServingError),
    #[error("fine-tuning the factorised model: {0}")]
    FineTune(#[from] TrainError),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// One model of the export table (the original first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRow {
    pub variant: String,
    pub auc: f64,
    pub logloss: f64,
    pub parameters: usize,
    pub dense_parameters: usize,
    pub p50_ms_batch1: f64,
    pub p99_ms_batch1: f64,
    pub p50_ms_batch256: f64,
    pub p99_ms_batch256: f64,
    /// AUC minus the original's (variants only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc_change: Option<f64>,
    /// The original's p50 latency over the variant's, per batch size (variants only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup_batch1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup_batch256: Option<f64>,
    /// The variant's run folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

/// Export the Hiformer run in `run_dir` as `options` says; writes each variant's run folder
/// and `export.json`, and returns the rows (the original first).
pub fn export_serving(run_dir: &Path, options: &ExportOptions, progress: &dyn Progress) -> Result<Vec<ExportRow>, ExportError> {
    let run = RunDir::open(run_dir)?;
    let config = run.load_config()?;
    let ModelConfig::Hiformer(hiformer_config) = &config.model else {
        return Err(ExportError::NotHiformer { path: run_dir.into(), model: config.model.name().into() });
    };
    if options.ranks.iter().all(Option::is_none) && !options.prune_last_layer {
        return Err(ExportError::NothingToExport);
    }
    let task = Task::load(&config.data.schema, &TaskOptions::default(), progress).map_err(RunError::from)?;
    let device = Device::default();
    let trained = run.load_model(&config, &task.dataset, &device)?;
    let Ranker::Hiformer(model) = &trained.model else {
        return Err(ExportError::NotHiformer { path: run_dir.into(), model: config.model.name().into() });
    };
    let single = options.ranks.len() == 1;
    let original = measure("original", &trained, &config, &task, options.latency_calls, &device);
    let mut rows = vec![original.clone()];
    for &rank in &options.ranks {
        let (served, exported) = to_serving(model.clone(), hiformer_config, rank, options.prune_last_layer)?;
        let variant_config = RunConfig { model: ModelConfig::Hiformer(exported), ..config.clone() };
        let mut variant =
            TrainedModel { config: variant_config.model.clone(), model: Ranker::Hiformer(served), store: trained.store.clone() };
        let fine_tuned = options.finetune_steps > 0 && rank.is_some();
        if fine_tuned {
            tracing::info!("fine-tuning rank {} for {} steps", rank.unwrap_or(0), options.finetune_steps);
            variant = fine_tune(variant, &variant_config.train, &task.dataset, &task.split, options.finetune_steps, progress)?;
        }
        let mut name = if options.prune_last_layer { variant_name(rank) } else { format!("hiformer-r{}", rank.unwrap_or(0)) };
        if fine_tuned {
            name += &format!("-ft{}", options.finetune_steps);
        }
        let mut row = measure(&name, &variant, &variant_config, &task, options.latency_calls, &device);
        row.auc_change = Some(row.auc - original.auc);
        row.speedup_batch1 = Some(original.p50_ms_batch1 / row.p50_ms_batch1);
        row.speedup_batch256 = Some(original.p50_ms_batch256 / row.p50_ms_batch256);
        let dir = if single { options.out.clone() } else { options.out.join(&name) };
        let variant_run = RunDir::create(&dir)?;
        variant_run.save_config(&variant_config)?;
        variant_run.save_model(&variant)?;
        variant_run.write_json(RunDir::METRICS, &row)?;
        row.dir = Some(dir.display().to_string());
        rows.push(row);
    }
    std::fs::create_dir_all(&options.out).map_err(|source| ExportError::Io { path: options.out.clone(), source })?;
    let summary = RunDir { path: options.out.clone() };
    summary.write_json("export.json", &rows)?;
    Ok(rows)
}

fn measure(name: &str, trained: &TrainedModel, config: &RunConfig, task: &Task, calls: usize, device: &Device) -> ExportRow {
    let test = evaluate(&trained.model, &trained.store, &task.dataset, &task.split.test, config.train.eval_batch_size, device);
    let latency = |batch| serving_latency(&trained.model, &trained.store, &task.dataset, &task.split.test, batch, calls, device);
    let (one, many) = (latency(LATENCY_BATCHES[0]), latency(LATENCY_BATCHES[1]));
    ExportRow {
        variant: name.to_string(),
        auc: test.auc,
        logloss: test.logloss,
        parameters: trained.num_parameters(),
        dense_parameters: trained.model.num_params(),
        p50_ms_batch1: one.p50_ms,
        p99_ms_batch1: one.p99_ms,
        p50_ms_batch256: many.p50_ms,
        p99_ms_batch256: many.p99_ms,
        auc_change: None,
        speedup_batch1: None,
        speedup_batch256: None,
        dir: None,
    }
}

/// The export table in markdown.
pub fn markdown(rows: &[ExportRow]) -> String {
    let mut out = String::from(
        "| variant | test AUC | ΔAUC | logloss | dense params | p50 ms b1 | p50 ms b256 | speed-up b1 | speed-up b256 |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out += &format!(
            "| {} | {:.4} | {:+.4} | {:.4} | {} | {:.3} | {:.3} | {:.2}× | {:.2}× |\n",
            r.variant,
            r.auc,
            r.auc_change.unwrap_or(0.0),
            r.logloss,
            r.dense_parameters,
            r.p50_ms_batch1,
            r.p50_ms_batch256,
            r.speedup_batch1.unwrap_or(1.0),
            r.speedup_batch256.unwrap_or(1.0),
        );
    }
    out
}
