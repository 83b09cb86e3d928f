//! The teacher: a trained ranking run (`recforge train`'s run directory) that scores events
//! into logits in batches, counts its forward passes, and can be refreshed — fine-tuned on the
//! newest window of events into a new run directory with the next version number.
//!
//! Events are encoded with the teacher's own vocabularies (the [`Encoder`] of the dataset it
//! was trained on), so a teacher and its students may use different feature sets.
//! [`TeacherPointer`] publishes the current version (`DIR/CURRENT`, replaced atomically) so
//! restarted or sibling labelers pick up a refreshed teacher.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::prelude::*;
use recforge_data::{Dataset, Encoder, Event, Split, encode_events};
use recforge_models::{EmbeddedBatch, RankingModel};
use recforge_train::{RunConfig, RunDir, TrainedModel, fine_tune};
use serde::{Deserialize, Serialize};

use crate::label_store::TeacherVersion;

/// Why a teacher could not be loaded, run or refreshed.
#[derive(Debug, thiserror::Error)]
pub enum TeacherError {
    #[error("teacher {path}: {source}")]
    Run { path: PathBuf, source: recforge_train::run::RunError },
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    #[error("refreshing the teacher: {0}")]
    Train(#[from] recforge_train::TrainError),
    #[error("{path}: {message}")]
    Pointer { path: PathBuf, message: String },
}

/// Teacher work done, shared by every clone of a teacher (and across refreshed versions).
#[derive(Debug, Default)]
pub struct TeacherCounters {
    forward_passes: AtomicU64,
    examples: AtomicU64,
}

/// A loaded teacher. Cloning gives an independent copy of the weights (for worker threads)
/// that shares the counters.
#[derive(Debug, Clone)]
pub struct Teacher {
    pub version: TeacherVersion,
    pub run_dir: PathBuf,
    config: RunConfig,
    trained: TrainedModel,
    encoder: Arc<Encoder>,
    counters: Arc<TeacherCounters>,
}

impl Teacher {
    /// Loads the run in `run_dir` as `version`; `encoder` is the fitted encoder of the dataset
    /// the run was trained on (its vocabularies give the model's embedding rows).
    pub fn load(run_dir: &Path, version: TeacherVersion, encoder: Arc<Encoder>) -> Result<Teacher, TeacherError> {
        let run_err = |source| TeacherError::Run { path: run_dir.to_path_buf(), source };
        let run = RunDir::open(run_dir).map_err(run_err)?;
        let config = run.load_config().map_err(run_err)?;
        let empty = encode_events(&encoder, &[])?;
        let trained = run.load_model(&config, &empty, &Device::default()).map_err(run_err)?;
        Ok(Teacher { version, run_dir: run_dir.to_path_buf(), config, trained, encoder, counters: Arc::default() })
    }

    /// The run's config (its `[data] schema` names the teacher's dataset).
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.encoder
    }

    /// Forward passes (batches) run so far by this teacher and its clones.
    pub fn forward_passes(&self) -> u64 {
        self.counters.forward_passes.load(Ordering::Relaxed)
    }

    /// Examples scored so far by this teacher and its clones.
    pub fn examples_labeled(&self) -> u64 {
        self.counters.examples.load(Ordering::Relaxed)
    }

    /// Logits for `rows` of `data` (encoded with [`Teacher::encoder`]), in order, in batches
    /// of the run's `eval_batch_size`. `recforge_train::predict` returns probabilities; labels
    /// are stored as logits, so this runs the same forward pass without the sigmoid.
    pub fn logits(&self, data: &Dataset, rows: &[usize]) -> Vec<f32> {
        let device = Device::default();
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(self.config.train.eval_batch_size.max(1)) {
            let batch = data.batch(chunk);
            let embedded = EmbeddedBatch::new(&self.trained.store, &batch, &device, false);
            let logits = self.trained.model.forward(&embedded.input);
            out.extend(logits.into_data().try_to_vec::<f32>().unwrap_or_default());
            self.counters.forward_passes.fetch_add(1, Ordering::Relaxed);
            self.counters.examples.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        out
    }

    /// Encodes `events` and scores them.
    pub fn label_events(&self, events: &[Event]) -> Result<Vec<f32>, TeacherError> {
        let data = encode_events(&self.encoder, events)?;
        let rows: Vec<usize> = (0..data.len()).collect();
        Ok(self.logits(&data, &rows))
    }

    /// Fine-tunes a copy on `window` (their hard labels) for `steps` mini-batches of the run's
    /// batch size, saves it as a run directory in `out_dir` and returns it as `version`.
    pub fn refreshed(&self, window: &[Event], steps: usize, out_dir: &Path, version: TeacherVersion) -> Result<Teacher, TeacherError> {
        let data = encode_events(&self.encoder, window)?;
        let split = Split { train: (0..data.len()).collect(), valid: Vec::new(), test: Vec::new() };
        let trained = fine_tune(self.trained.clone(), &self.config.train, &data, &split, steps.max(1), &recforge_data::Silent)?;
        let run_err = |source| TeacherError::Run { path: out_dir.to_path_buf(), source };
        let run = RunDir::create(out_dir).map_err(run_err)?;
        run.save_config(&self.config).map_err(run_err)?;
        run.save_model(&trained).map_err(run_err)?;
        let provenance = serde_json::json!({ "version": version, "parent": self.run_dir, "parent_version": self.version, "window_events": window.len(), "steps": steps });
        run.write_json("teacher.json", &provenance).map_err(run_err)?;
        Ok(Teacher { version, run_dir: out_dir.to_path_buf(), config: self.config.clone(), trained, encoder: self.encoder.clone(), counters: self.counters.clone() })
    }
}

/// Which teacher version is current: `DIR/CURRENT` (JSON), replaced atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherPointer {
    pub version: TeacherVersion,
    pub run_dir: PathBuf,
}

impl TeacherPointer {
    pub const FILE: &'static str = "CURRENT";

    /// The published pointer in `dir`, if any.
    pub fn read(dir: &Path) -> Result<Option<TeacherPointer>, TeacherError> {
        let path = dir.join(Self::FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| TeacherError::Pointer { path, message: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TeacherError::Pointer { path, message: e.to_string() }),
        }
    }

    /// Publishes this pointer in `dir`: write a temporary file, fsync, rename over `CURRENT`.
    pub fn publish(&self, dir: &Path) -> Result<(), TeacherError> {
        use std::io::Write;
        let path = dir.join(Self::FILE);
        let err = |e: std::io::Error| TeacherError::Pointer { path: path.clone(), message: e.to_string() };
        std::fs::create_dir_all(dir).map_err(err)?;
        let tmp = dir.join(format!(".{}.tmp", Self::FILE));
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(&serde_json::to_vec(self).unwrap_or_default()).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)
    }
}
