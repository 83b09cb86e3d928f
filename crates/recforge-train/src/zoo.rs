//! The model zoo: every ranking model on one dataset, the same split and training budget for
//! all, several seeds; test AUC, logloss, parameters, training speed and serving latency at
//! batch 1 and 256, plus the low-rank / pruned Hiformer serving variants. [`run_zoo`] writes
//! one run folder per model and seed, `results.json` and `report.html`, and returns typed
//! [`ZooResults`] whose [`ZooResults::markdown`] is the printed table.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use recforge_data::{Progress, Task, TaskOptions};
use recforge_models::ranking::{ServingError, to_serving};
use recforge_models::{ModelConfig, Ranker};
use serde::{Deserialize, Serialize};

use crate::evaluate::evaluate;
use crate::latency::serving_latency;
use crate::metrics::mean_std;
use crate::report::zoo::{Point, render};
use crate::run::{RunConfig, RunError};
use crate::run_case::Run;
use crate::trainer::TrainedModel;

/// Request sizes whose serving latency the zoo and the export report.
pub const LATENCY_BATCHES: [usize; 2] = [1, 256];

/// The name of a Hiformer serving variant: pruned last layer, optionally low-rank Q/K/V.
pub fn variant_name(rank: Option<usize>) -> String {
    match rank {
        Some(r) => format!("hiformer-r{r}-pruned"),
        None => "hiformer-pruned".to_string(),
    }
}

/// The file-name prefix of a dataset's zoo configs: `ml-1m` and `ml-100k` (the one spelling
/// of the CLI) name the `ml1m_*` and `ml100k_*` configs; any other name is its own prefix.
pub fn config_prefix(dataset: &str) -> &str {
    match dataset {
        "ml-1m" => "ml1m",
        "ml-100k" => "ml100k",
        other => other,
    }
}

/// Why the zoo could not run.
#[derive(Debug, thiserror::Error)]
pub enum ZooError {
    #[error("--seeds and --models need at least one value each")]
    Empty,
    #[error("unknown model {model:?}; choose from {}", ModelConfig::KINDS.join(", "))]
    UnknownModel { model: String },
    #[error("{} not found: the zoo trains <configs>/<dataset>_ctr_<model>.toml (see --configs)", .path.display())]
    MissingConfig { path: PathBuf },
    #[error("the {model} config reads another schema than the {first} config; the zoo compares models on one split")]
    OtherSchema { model: String, first: String },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Serving(#[from] ServingError),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ZooOptions {
    /// Dataset name: the zoo trains `<configs>/<dataset>_ctr_<model>.toml` per model.
    pub dataset: String,
    pub seeds: Vec<u64>,
    /// Models in table order.
    pub models: Vec<String>,
    pub configs: PathBuf,
    pub out: PathBuf,
    /// The same `[train] epochs` for every model.
    pub epochs: Option<usize>,
    /// `--set key.path=value` overrides applied to every config.
    pub overrides: Vec<String>,
    /// Ranks of the low-rank Hiformer serving variants (a pruned full-rank one always runs).
    pub ranks: Vec<usize>,
    /// Timed requests per latency measurement.
    pub latency_calls: usize,
}

/// One model (or serving variant) trained with one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZooRun {
    pub model: String,
    pub seed: u64,
    pub auc: f64,
    pub logloss: f64,
    pub parameters: usize,
    /// Training examples/s (of the trained model a serving variant comes from).
    pub train_examples_per_sec: f64,
    pub p50_ms_batch1: f64,
    pub p99_ms_batch1: f64,
    pub p50_ms_batch256: f64,
    pub p99_ms_batch256: f64,
}

/// Mean and sample standard deviation over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Stat {
        let values: Vec<f64> = values.into_iter().collect();
        let (mean, std) = mean_std(&values);
        Stat { mean, std }
    }
}

/// One model's row of the zoo table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZooSummary {
    pub model: String,
    pub seeds: usize,
    pub parameters: usize,
    pub auc: Stat,
    pub logloss: Stat,
    pub train_examples_per_sec: Stat,
    pub p50_ms_batch1: Stat,
    pub p99_ms_batch1: Stat,
    pub p50_ms_batch256: Stat,
    pub p99_ms_batch256: Stat,
}

/// What `results.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZooResults {
    pub dataset: String,
    /// The command that regenerates this table.
    pub command: String,
    pub seeds: Vec<u64>,
    pub summary: Vec<ZooSummary>,
    pub runs: Vec<ZooRun>,
}

/// Train every model of `options` over its seeds, measure, and write `results.json` and
/// `report.html` to `options.out`.
pub fn run_zoo(options: &ZooOptions, progress: &dyn Progress) -> Result<ZooResults, ZooError> {
    if options.seeds.is_empty() || options.models.is_empty() {
        return Err(ZooError::Empty);
    }
    let configs = load_configs(options)?;
    let task = Task::load(&configs[0].data.schema, &TaskOptions::default(), progress).map_err(RunError::from)?;
    let device = Device::default();
    let measure = |name: &str, seed, auc, logloss, speed, model: &Ranker, trained: &TrainedModel| {
        let latency = |batch| serving_latency(model, &trained.store, &task.dataset, &task.split.test, batch, options.latency_calls, &device);
        let (one, many) = (latency(LATENCY_BATCHES[0]), latency(LATENCY_BATCHES[1]));
        ZooRun {
            model: name.to_string(),
            seed,
            auc,
            logloss,
            parameters: model.num_params() + trained.store.num_parameters(),
            train_examples_per_sec: speed,
            p50_ms_batch1: one.p50_ms,
            p99_ms_batch1: one.p99_ms,
            p50_ms_batch256: many.p50_ms,
            p99_ms_batch256: many.p99_ms,
        }
    };
    let mut runs: Vec<ZooRun> = Vec::new();
    for base in &configs {
        for &seed in &options.seeds {
            let mut config = base.clone();
            config.train.seed = seed;
            if let Some(epochs) = options.epochs {
                config.train.epochs = epochs;
            }
            tracing::info!("== {} seed {seed} ==", config.model.name());
            let run = Run::train(&config, &task, progress)?;
            run.save(&options.out.join(config.model.name()).join(format!("seed-{seed}")))?;
            let metrics = run.metrics.as_ref().expect("a trained run has metrics");
            let speed = metrics.train_examples_per_sec;
            let trained = &run.trained;
            runs.push(measure(config.model.name(), seed, metrics.auc, metrics.logloss, speed, &trained.model, trained));
            if let (ModelConfig::Hiformer(hc), Ranker::Hiformer(model)) = (&config.model, &trained.model) {
                for rank in std::iter::once(None).chain(options.ranks.iter().map(|&r| Some(r))) {
                    let served = Ranker::Hiformer(to_serving(model.clone(), hc, rank, true)?.0);
                    let test = evaluate(&served, &trained.store, &task.dataset, &task.split.test, config.train.eval_batch_size, &device);
                    runs.push(measure(&variant_name(rank), seed, test.auc, test.logloss, speed, &served, trained));
                }
            }
        }
    }
    let results = ZooResults { dataset: options.dataset.clone(), command: command(options), seeds: options.seeds.clone(), summary: summarise(&runs), runs };
    results.write(&options.out)?;
    Ok(results)
}

/// The command line that regenerates the zoo.
fn command(options: &ZooOptions) -> String {
    let sets: String = options.overrides.iter().map(|s| format!(" --set {s}")).collect();
    format!(
        "recforge zoo --dataset {} --seeds {} --models {}{}{sets}",
        options.dataset,
        join(&options.seeds),
        options.models.join(","),
        options.epochs.map(|e| format!(" --epochs {e}")).unwrap_or_default()
    )
}

/// The configs of the requested models; all must train on the same data schema (same split).
fn load_configs(options: &ZooOptions) -> Result<Vec<RunConfig>, ZooError> {
    let mut configs = Vec::new();
    for model in &options.models {
        if !ModelConfig::KINDS.contains(&model.as_str()) {
            return Err(ZooError::UnknownModel { model: model.clone() });
        }
        let path = options.configs.join(format!("{}_ctr_{model}.toml", options.dataset));
        if !path.is_file() {
            return Err(ZooError::MissingConfig { path });
        }
        configs.push(RunConfig::from_file_with_overrides(&path, &options.overrides)?);
    }
    let canonical = |config: &RunConfig| std::fs::canonicalize(&config.data.schema).unwrap_or(config.data.schema.clone());
    let schema = canonical(&configs[0]);
    for (config, model) in configs.iter().zip(&options.models).skip(1) {
        if canonical(config) != schema {
            return Err(ZooError::OtherSchema { model: model.clone(), first: options.models[0].clone() });
        }
    }
    Ok(configs)
}

/// Mean and sample std per model and column, models in first-seen order.
fn summarise(runs: &[ZooRun]) -> Vec<ZooSummary> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        if !names.contains(&r.model.as_str()) {
            names.push(&r.model);
        }
    }
    names
        .iter()
        .map(|name| {
            let rows: Vec<&ZooRun> = runs.iter().filter(|r| r.model == *name).collect();
            let stat = |f: fn(&ZooRun) -> f64| Stat::of(rows.iter().map(|r| f(r)));
            ZooSummary {
                model: name.to_string(),
                seeds: rows.len(),
                parameters: rows[0].parameters,
                auc: stat(|r| r.auc),
                logloss: stat(|r| r.logloss),
                train_examples_per_sec: stat(|r| r.train_examples_per_sec),
                p50_ms_batch1: stat(|r| r.p50_ms_batch1),
                p99_ms_batch1: stat(|r| r.p99_ms_batch1),
                p50_ms_batch256: stat(|r| r.p50_ms_batch256),
                p99_ms_batch256: stat(|r| r.p99_ms_batch256),
            }
        })
        .collect()
}

impl ZooResults {
    /// The results table in markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| model | test AUC | test logloss | parameters | train ex/s | p50 / p99 ms, batch 1 | p50 / p99 ms, batch 256 |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for s in &self.summary {
            out += &format!(
                "| {} | {:.4} ± {:.4} | {:.4} ± {:.4} | {} | {:.0} ± {:.0} | {:.2} ± {:.2} / {:.2} | {:.2} ± {:.2} / {:.2} |\n",
                s.model,
                s.auc.mean,
                s.auc.std,
                s.logloss.mean,
                s.logloss.std,
                s.parameters,
                s.train_examples_per_sec.mean,
                s.train_examples_per_sec.std,
                s.p50_ms_batch1.mean,
                s.p50_ms_batch1.std,
                s.p99_ms_batch1.mean,
                s.p50_ms_batch256.mean,
                s.p50_ms_batch256.std,
                s.p99_ms_batch256.mean,
            );
        }
        out + &format!("\nseeds: {} (mean ± sample std; p99 columns: mean over seeds)", join(&self.seeds))
    }

    /// The HTML page: the table and the AUC-vs-latency plots.
    pub fn report_html(&self) -> String {
        let plots: Vec<(String, Vec<Point>)> = LATENCY_BATCHES
            .iter()
            .map(|&batch| {
                let points = self
                    .summary
                    .iter()
                    .map(|s| Point {
                        label: s.model.clone(),
                        latency_ms: if batch == 1 { s.p50_ms_batch1.mean } else { s.p50_ms_batch256.mean },
                        auc: s.auc.mean,
                    })
                    .collect();
                (format!("test AUC vs p50 latency, batch {batch}"), points)
            })
            .collect();
        render(&format!("{} CTR", self.dataset), &self.markdown(), &plots, &self.command)
    }

    /// Write `results.json` and `report.html` into `out`.
    pub fn write(&self, out: &Path) -> Result<(), ZooError> {
        let io = |path: PathBuf| move |source| ZooError::Io { path, source };
        std::fs::create_dir_all(out).map_err(io(out.to_path_buf()))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| ZooError::Io { path: out.join("results.json"), source: e.into() })?;
        std::fs::write(out.join("results.json"), json).map_err(io(out.join("results.json")))?;
        std::fs::write(out.join("report.html"), self.report_html()).map_err(io(out.join("report.html")))
    }
}

fn join(values: &[u64]) -> String {
    values.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(model: &str, seed: u64, auc: f64) -> ZooRun {
        ZooRun {
            model: model.into(),
            seed,
            auc,
            logloss: 0.5,
            parameters: 10,
            train_examples_per_sec: 100.0,
            p50_ms_batch1: 1.0,
            p99_ms_batch1: 2.0,
            p50_ms_batch256: 3.0,
            p99_ms_batch256: 4.0,
        }
    }

    #[test]
    fn summary_averages_seeds_per_model_in_first_seen_order() {
        let summary = summarise(&[run("mlp", 1, 0.70), run("lr", 1, 0.60), run("mlp", 2, 0.72)]);
        assert_eq!(summary.iter().map(|s| s.model.as_str()).collect::<Vec<_>>(), vec!["mlp", "lr"]);
        assert_eq!(summary[0].seeds, 2);
        assert!((summary[0].auc.mean - 0.71).abs() < 1e-12);
        assert!((summary[0].auc.std - 0.02f64.hypot(0.0) / 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(summary[1].auc.std, 0.0);
    }

    #[test]
    fn markdown_has_a_row_per_model() {
        let runs = vec![run("lr", 1, 0.6), run("hiformer-pruned", 1, 0.7)];
        let results = ZooResults { dataset: "synth".into(), command: "c".into(), seeds: vec![1], summary: summarise(&runs), runs };
        let table = results.markdown();
        assert!(table.contains("| lr | 0.6000 ± 0.0000 |") && table.contains("| hiformer-pruned |"), "{table}");
    }
}
