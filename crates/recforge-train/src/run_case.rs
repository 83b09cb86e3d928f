//! The ranking use case as one typed value: a [`Run`] is a config, the model it trained, what
//! scoring new data needs (the schema and the fitted encoder), typed [`RunMetrics`] and the
//! per-epoch history. `Run::train` trains and tests on a [`Task`], `evaluate` scores a split or
//! a new file, `save` writes the run folder ([`RunDir`]'s file names) and `load` reads it back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::prelude::*;
use recforge_data::{Dataset, Encoder, Progress, Schema, Task, TaskOptions};
use serde::{Deserialize, Deserializer, Serialize};

use crate::evaluate::{EvalMetrics, evaluate, labels_of, predict};
use crate::report::{self, DataSummary};
use crate::run::{RunConfig, RunDir, RunError};
use crate::trainer::{EpochRecord, TrainedModel, fit};

/// A metric that may be undefined (AUC of a one-class split) is written as JSON null; read
/// null back as NaN.
fn nan_if_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// What `metrics.json` of a trained run holds: test metrics, the best validation epoch,
/// throughput and sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    pub model: String,
    pub dataset: String,
    pub seed: u64,
    #[serde(deserialize_with = "nan_if_null")]
    pub auc: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub logloss: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub accuracy: f64,
    pub test_examples: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub test_label_rate: f64,
    pub valid_auc: Option<f64>,
    pub valid_logloss: Option<f64>,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub stopped_early: bool,
    #[serde(deserialize_with = "nan_if_null")]
    pub train_examples_per_sec: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub train_seconds: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub prepare_seconds: f64,
    pub prepare_cache_hit: bool,
    pub parameters: usize,
    pub embedding_parameters: usize,
    pub train_examples: usize,
    pub valid_examples: usize,
    /// The split method (`random`, `temporal`, `leaveoneout`).
    pub split: String,
}

impl RunMetrics {
    /// (name, shown value) per metric, names sorted as in metrics.json; reals to 5 decimals.
    pub fn rows(&self) -> Vec<(String, String)> {
        let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self) else { return Vec::new() };
        map.into_iter()
            .map(|(key, value)| {
                let shown = match &value {
                    serde_json::Value::Number(n) if n.is_f64() => format!("{:.5}", n.as_f64().unwrap_or(f64::NAN)),
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (key, shown)
            })
            .collect()
    }
}

/// Predicted probabilities and labels of the test split (what the report plots).
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    pub probabilities: Vec<f32>,
    pub labels: Vec<f32>,
}

/// Which rows [`Run::evaluate`] scores.
#[derive(Debug, Clone)]
pub enum EvalTarget {
    Train,
    Valid,
    Test,
    /// A new file with the training data's columns, encoded with the run's vocabularies.
    File { path: PathBuf, skip_bad_rows: bool },
}

/// Test metrics of [`Run::evaluate`], as `recforge eval` prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The split name or the file scored.
    pub data: String,
    pub auc: f64,
    pub logloss: f64,
    pub accuracy: f64,
    pub examples: usize,
    pub label_rate: f64,
}

/// A trained ranking run.
#[derive(Debug, Clone)]
pub struct Run {
    pub config: RunConfig,
    pub trained: TrainedModel,
    /// None for a folder whose metrics.json is not a training run's (e.g. an exported variant).
    pub metrics: Option<RunMetrics>,
    pub history: Vec<EpochRecord>,
    /// The schema and fitted encoder that turn new files into the model's ids.
    pub schema: Schema,
    pub encoder: Option<Arc<Encoder>>,
    pub data: DataSummary,
    /// Test predictions of a freshly trained run (what report.html plots); None once loaded.
    pub test_predictions: Option<Predictions>,
}

impl Run {
    /// Train `config` on `task`, keep the best validation epoch, and test it.
    pub fn train(config: &RunConfig, task: &Task, progress: &dyn Progress) -> Result<Run, RunError> {
        let Task { schema, dataset, split, prepared } = task;
        tracing::info!(train = split.train.len(), valid = split.valid.len(), test = split.test.len(), method = ?schema.split.method, "split");
        let started = Instant::now();
        let outcome = fit(&config.model, &config.train, dataset, split, progress)
            .map_err(|source| RunError::Train { schema: config.data.schema.clone(), source })?;
        let train_seconds = started.elapsed().as_secs_f64();
        let trained = outcome.trained;
        let probabilities =
            predict(&trained.model, &trained.store, dataset, &split.test, config.train.eval_batch_size, &Device::default());
        let labels = labels_of(dataset, &split.test);
        let test = EvalMetrics::of(&probabilities, &labels);
        let best = outcome.history.iter().find(|r| r.epoch == outcome.best_epoch);
        let metrics = RunMetrics {
            model: config.model.name().to_string(),
            dataset: dataset.meta.name.clone(),
            seed: config.train.seed,
            auc: test.auc,
            logloss: test.logloss,
            accuracy: test.accuracy,
            test_examples: test.examples,
            test_label_rate: test.label_rate,
            valid_auc: best.map(|r| r.valid.auc),
            valid_logloss: best.map(|r| r.valid.logloss),
            best_epoch: outcome.best_epoch,
            epochs_run: outcome.history.len(),
            stopped_early: outcome.stopped_early,
            train_examples_per_sec: outcome.train_examples_per_sec,
            train_seconds,
            prepare_seconds: prepared.seconds,
            prepare_cache_hit: prepared.cache_hit,
            parameters: trained.num_parameters(),
            embedding_parameters: trained.store.num_parameters(),
            train_examples: split.train.len(),
            valid_examples: split.valid.len(),
            split: format!("{:?}", schema.split.method).to_lowercase(),
        };
        Ok(Run {
            config: config.clone(),
            trained,
            metrics: Some(metrics),
            history: outcome.history,
            schema: schema.clone(),
            encoder: dataset.encoder.clone(),
            data: summary_of(task),
            test_predictions: Some(Predictions { probabilities, labels }),
        })
    }

    /// Load the task of `config` (prepared data, cached), train on it and save the run to `out`.
    pub fn train_to(config: &RunConfig, out: &Path, options: &TaskOptions, progress: &dyn Progress) -> Result<Run, RunError> {
        let task = Task::load(&config.data.schema, options, progress)?;
        let run = Run::train(config, &task, progress)?;
        run.save(out)?;
        Ok(run)
    }

    /// Write the run folder: config.toml, model.bpk, embeddings.bin, metrics.json,
    /// history.json, (for a freshly trained run) report.html and, when the run has its fitted
    /// encoder, the self-contained model folder files ([`crate::folder`]): schema.toml,
    /// encoder.json, model.safetensors and metadata.json, with config.toml's schema path
    /// relative to the folder.
    pub fn save(&self, out: &Path) -> Result<RunDir, RunError> {
        let dir = RunDir::create(out)?;
        match &self.encoder {
            Some(encoder) => {
                let relative = crate::folder::write_model_folder(&dir, &self.config, &self.schema, encoder, &self.trained)?;
                dir.save_config_as_is(&relative)?;
            }
            None => dir.save_config(&self.config)?,
        }
        dir.save_model(&self.trained)?;
        if let Some(metrics) = &self.metrics {
            dir.write_json(RunDir::METRICS, metrics)?;
        }
        dir.write_json(RunDir::HISTORY, &self.history)?;
        if let (Some(metrics), Some(test)) = (&self.metrics, &self.test_predictions) {
            let html = report::render(&report::ReportInput {
                title: self.config.name(),
                metrics,
                history: &self.history,
                data: &self.data,
                test_probabilities: &test.probabilities,
                test_labels: &test.labels,
            });
            dir.write(RunDir::REPORT, html.as_bytes())?;
        }
        Ok(dir)
    }

    /// Read the run in `dir`, rebuilding its model for `task` (the task of its config).
    pub fn load(dir: &Path, task: &Task) -> Result<Run, RunError> {
        let run_dir = RunDir::open(dir)?;
        let config = run_dir.load_config()?;
        let trained = run_dir.load_model(&config, &task.dataset, &Device::default())?;
        let metrics = std::fs::read(run_dir.file(RunDir::METRICS)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let history = std::fs::read(run_dir.file(RunDir::HISTORY)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        Ok(Run {
            config,
            trained,
            metrics,
            history: history.unwrap_or_default(),
            schema: task.schema.clone(),
            encoder: task.dataset.encoder.clone(),
            data: summary_of(task),
            test_predictions: None,
        })
    }

    /// Load the task of the run in `dir` (its config's schema) and the run with it.
    pub fn open(dir: &Path, options: &TaskOptions, progress: &dyn Progress) -> Result<(Run, Task), RunError> {
        let config = RunDir::open(dir)?.load_config()?;
        let task = Task::load(&config.data.schema, options, progress)?;
        Ok((Run::load(dir, &task)?, task))
    }

    /// Score `target` (a split of `task`, or a new file) with `batch_size` examples per forward
    /// pass (default: the config's eval batch size).
    pub fn evaluate(
        &self,
        task: &Task,
        target: &EvalTarget,
        batch_size: Option<usize>,
        progress: &dyn Progress,
    ) -> Result<EvalReport, RunError> {
        let batch_size = batch_size.unwrap_or(self.config.train.eval_batch_size).max(1);
        let score = |data: &Dataset, rows: &[usize]| {
            evaluate(&self.trained.model, &self.trained.store, data, rows, batch_size, &Device::default())
        };
        let (label, metrics) = match target {
            EvalTarget::Train => ("train".to_string(), score(&task.dataset, &task.split.train)),
            EvalTarget::Valid => ("valid".to_string(), score(&task.dataset, &task.split.valid)),
            EvalTarget::Test => ("test".to_string(), score(&task.dataset, &task.split.test)),
            EvalTarget::File { path, skip_bad_rows } => {
                let encoder = self.encoder.as_deref().ok_or_else(|| RunError::NoEncoder { path: self.config.data.schema.clone() })?;
                let options = TaskOptions { skip_bad_rows: *skip_bad_rows, ..Default::default() }.prepare_options(progress);
                let encoded = recforge_data::encode_file(&self.schema, encoder, path, &options)?;
                let rows: Vec<usize> = (0..encoded.len()).collect();
                (path.display().to_string(), score(&encoded, &rows))
            }
        };
        Ok(EvalReport {
            data: label,
            auc: metrics.auc,
            logloss: metrics.logloss,
            accuracy: metrics.accuracy,
            examples: metrics.examples,
            label_rate: metrics.label_rate,
        })
    }
}

fn summary_of(task: &Task) -> DataSummary {
    DataSummary {
        meta: task.dataset.meta.clone(),
        train: task.split.train.len(),
        valid: task.split.valid.len(),
        test: task.split.test.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> RunMetrics {
        RunMetrics {
            model: "mlp".into(),
            dataset: "synthetic".into(),
            seed: 3,
            auc: f64::NAN,
            logloss: 0.5,
            accuracy: 0.75,
            test_examples: 10,
            test_label_rate: 0.0,
            valid_auc: None,
            valid_logloss: Some(0.6),
            best_epoch: 2,
            epochs_run: 3,
            stopped_early: false,
            train_examples_per_sec: 1000.0,
            train_seconds: 1.5,
            prepare_seconds: 0.25,
            prepare_cache_hit: true,
            parameters: 123,
            embedding_parameters: 100,
            train_examples: 80,
            valid_examples: 10,
            split: "random".into(),
        }
    }

    #[test]
    fn metrics_round_trip_with_an_undefined_auc() {
        let text = serde_json::to_string(&metrics()).unwrap();
        assert!(text.contains("\"auc\":null"), "{text}");
        let back: RunMetrics = serde_json::from_str(&text).unwrap();
        assert!(back.auc.is_nan());
        assert_eq!(back.logloss, 0.5);
        assert_eq!(back.valid_auc, None);
        assert_eq!(back.split, "random");
    }

    #[test]
    fn metrics_keys_are_the_documented_ones() {
        let value = serde_json::to_value(metrics()).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        for key in ["model", "dataset", "seed", "auc", "logloss", "accuracy", "test_examples", "test_label_rate", "valid_auc",
            "valid_logloss", "best_epoch", "epochs_run", "stopped_early", "train_examples_per_sec", "train_seconds",
            "prepare_seconds", "prepare_cache_hit", "parameters", "embedding_parameters", "train_examples", "valid_examples", "split"]
        {
            assert!(keys.contains(&key), "metrics.json lacks {key}");
        }
        assert_eq!(keys.len(), 22);
    }

    #[test]
    fn rows_show_reals_to_five_decimals_and_strings_bare() {
        let rows = metrics().rows();
        assert!(rows.contains(&("logloss".to_string(), "0.50000".to_string())));
        assert!(rows.contains(&("model".to_string(), "mlp".to_string())));
        assert!(rows.contains(&("parameters".to_string(), "123".to_string())));
    }
}
