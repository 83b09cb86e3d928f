//! The steps of `recforge distill`: cut the data windows, train or refresh a teacher, label the
//! student window once into a [`LabelStore`] (skipped when the version is already there), and
//! train students against the stored labels without running the teacher again.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use recforge_data::{Dataset, Progress, Split};
use recforge_models::{EmbeddedBatch, ModelConfig};
use recforge_train::run::RunError;
use recforge_train::{EvalMetrics, Objective, RunConfig, RunDir, TrainConfig, TrainError, TrainedModel, fine_tune, fit_with, labels_of, predict};
use serde::Serialize;

use crate::aux_head::{AuxHeadConfig, DistillError, DistillObjective, KdMode, shared_bottom_width};
use crate::config::DataWindows;
use crate::kd::KdConfig;
use crate::label_store::{LabelStore, StoreError, TeacherVersion};
use crate::teacher::{Teacher, TeacherError};

/// Labels are written and read in chunks of this many examples.
const STORE_CHUNK: usize = 8192;

/// A pipeline failure.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Distill(#[from] DistillError),
    #[error("window {what} holds no rows; widen it in [data]")]
    EmptyWindow { what: &'static str },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Teacher(#[from] TeacherError),
    #[error("the dataset has no fitted encoder (not a prepared dataset), so a teacher cannot be saved and reloaded")]
    NoEncoder,
}

/// The rows each party trains on, plus the shared validation and test rows.
#[derive(Debug, Clone)]
pub struct Windows {
    /// Teacher training split (train = teacher window, valid/test = the schema's).
    pub teacher: Split,
    /// Student training split (train = student window).
    pub student: Split,
}

/// Cut the windows out of `split.train` (kept in split order: time order for temporal splits).
pub fn windows(split: &Split, config: &DataWindows) -> Result<Windows, PipelineError> {
    let cut = |[from, to]: [f64; 2], max: Option<usize>| {
        let n = split.train.len() as f64;
        let rows = &split.train[(from * n).round() as usize..(to * n).round() as usize];
        let keep = max.unwrap_or(rows.len()).min(rows.len());
        rows[rows.len() - keep..].to_vec()
    };
    let teacher = cut(config.teacher_window, config.max_teacher_rows);
    let student = cut(config.student_window, config.max_student_rows);
    if teacher.is_empty() {
        return Err(PipelineError::EmptyWindow { what: "teacher_window" });
    }
    if student.is_empty() {
        return Err(PipelineError::EmptyWindow { what: "student_window" });
    }
    let with_train = |train| Split { train, valid: split.valid.clone(), test: split.test.clone() };
    Ok(Windows { teacher: with_train(teacher), student: with_train(student) })
}

/// Save `trained` as a run directory in `dir` (config, weights) and load it back as the label
/// pipeline's [`Teacher`] of `version`: batch inference with forward-pass counters, the same
/// teacher `recforge labeler` serves.
pub fn save_as_teacher(
    dir: &Path,
    run: &RunConfig,
    trained: &TrainedModel,
    version: TeacherVersion,
    data: &Dataset,
) -> Result<Teacher, PipelineError> {
    let encoder = data.encoder.clone().ok_or(PipelineError::NoEncoder)?;
    let run_dir = RunDir::create(dir)?;
    run_dir.save_config(run)?;
    run_dir.save_model(trained)?;
    Ok(Teacher::load(dir, version, encoder)?)
}

/// What labeling one version cost.
#[derive(Debug, Clone, Serialize)]
pub struct Labeling {
    pub version: TeacherVersion,
    pub examples: usize,
    /// True when the store already held every label and the teacher did not run.
    pub skipped: bool,
    /// Examples the teacher scored (one forward pass each).
    pub teacher_forward_passes: u64,
    pub seconds: f64,
}

/// Label `rows` under `version` unless the store already holds all of them.
pub fn label_once(
    store: &dyn LabelStore,
    version: TeacherVersion,
    teacher: &Teacher,
    data: &Dataset,
    rows: &[usize],
    progress: &dyn Fn(usize),
) -> Result<Labeling, PipelineError> {
    let started = Instant::now();
    let ids: Vec<u64> = rows.iter().map(|&r| data.example_ids[r]).collect();
    let mut missing: Vec<usize> = Vec::new();
    for (chunk_rows, chunk_ids) in rows.chunks(STORE_CHUNK).zip(ids.chunks(STORE_CHUNK)) {
        let got = store.get(version, chunk_ids)?;
        missing.extend(chunk_rows.iter().zip(got).filter(|(_, l)| l.is_none()).map(|(&r, _)| r));
    }
    let before = teacher.examples_labeled();
    for chunk in missing.chunks(STORE_CHUNK) {
        let logits = teacher.logits(data, chunk);
        let labels: Vec<(u64, f32)> = chunk.iter().map(|&r| data.example_ids[r]).zip(logits).collect();
        store.put(version, &labels)?;
        progress(chunk.len());
    }
    Ok(Labeling {
        version,
        examples: rows.len(),
        skipped: missing.is_empty(),
        teacher_forward_passes: teacher.examples_labeled() - before,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Read the labels of `rows` under `version` (every one must exist).
pub fn read_labels(
    store: &dyn LabelStore,
    version: TeacherVersion,
    data: &Dataset,
    rows: &[usize],
) -> Result<HashMap<u64, f32>, PipelineError> {
    let mut out = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(STORE_CHUNK) {
        let ids: Vec<u64> = chunk.iter().map(|&r| data.example_ids[r]).collect();
        for (id, label) in ids.iter().zip(store.get(version, &ids)?) {
            let label = label.ok_or(DistillError::MissingLabel { id: *id, version })?;
            out.insert(*id, label);
        }
    }
    Ok(out)
}

/// Train a teacher on its window.
pub fn train_teacher(
    model: &ModelConfig,
    train: &TrainConfig,
    data: &Dataset,
    split: &Split,
    progress: &dyn Progress,
) -> Result<(TrainedModel, f64), PipelineError> {
    let started = Instant::now();
    let outcome = recforge_train::fit(model, train, data, split, progress)?;
    Ok((outcome.trained, started.elapsed().as_secs_f64()))
}

/// The streaming teacher's refresh: `epochs` more passes over the newer window.
pub fn refresh_teacher(
    teacher: &TrainedModel,
    train: &TrainConfig,
    data: &Dataset,
    newer: &Split,
    epochs: usize,
    progress: &dyn Progress,
) -> Result<(TrainedModel, f64), PipelineError> {
    let started = Instant::now();
    let steps = epochs * newer.train.len().div_ceil(train.batch_size.max(1));
    let refreshed = fine_tune(teacher.clone(), train, data, newer, steps, progress)?;
    Ok((refreshed, started.elapsed().as_secs_f64()))
}

/// One trained student, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct StudentResult {
    pub valid: EvalMetrics,
    pub test: EvalMetrics,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub train_seconds: f64,
    pub parameters: usize,
}

/// Train a student under `mode` against `labels` (unused for `KdMode::None`) and evaluate it.
#[allow(clippy::too_many_arguments)]
pub fn train_student(
    model: &ModelConfig,
    train: &TrainConfig,
    mode: KdMode,
    kd: &KdConfig,
    aux_hidden: &[usize],
    labels: &HashMap<u64, f32>,
    version: TeacherVersion,
    data: &Dataset,
    split: &Split,
    progress: &dyn Progress,
) -> Result<(StudentResult, TrainedModel), PipelineError> {
    let device = Device::default().autodiff();
    let aux_head = match mode {
        KdMode::Aux => Some(AuxHeadConfig::new(probe_width(model, train, data, split, &device)?).with_hidden(aux_hidden.to_vec())),
        _ => None,
    };
    let mut objective = DistillObjective::new(mode, kd.clone(), labels, version, aux_head, &device);
    let outcome = fit_and_evaluate(model, train, data, split, progress, &mut objective);
    objective.check()?;
    outcome
}

/// Train `model` under any trainer [`Objective`] and evaluate the served model on the split's
/// validation and test rows.
pub fn fit_and_evaluate(
    model: &ModelConfig,
    train: &TrainConfig,
    data: &Dataset,
    split: &Split,
    progress: &dyn Progress,
    objective: &mut dyn Objective,
) -> Result<(StudentResult, TrainedModel), PipelineError> {
    let started = Instant::now();
    let outcome = fit_with(model, train, data, split, progress, objective)?;
    let train_seconds = started.elapsed().as_secs_f64();
    let eval = |rows: &[usize]| {
        let p = predict(&outcome.trained.model, &outcome.trained.store, data, rows, train.eval_batch_size, &Device::default());
        EvalMetrics::of(&p, &labels_of(data, rows))
    };
    let result = StudentResult {
        valid: eval(&split.valid),
        test: eval(&split.test),
        best_epoch: outcome.best_epoch,
        epochs_run: outcome.history.len(),
        train_seconds,
        parameters: outcome.trained.num_parameters(),
    };
    Ok((result, outcome.trained))
}

/// Width of the student's shared bottom for `model` (a fresh model run on one example).
pub fn student_width(model: &ModelConfig, train: &TrainConfig, data: &Dataset, split: &Split) -> Result<usize, PipelineError> {
    probe_width(model, train, data, split, &Device::default())
}

/// Width of the student's shared bottom, from a fresh model on one example.
fn probe_width(model: &ModelConfig, train: &TrainConfig, data: &Dataset, split: &Split, device: &Device) -> Result<usize, PipelineError> {
    let fresh = TrainedModel::init(model, train, data, device)?;
    let batch = data.batch(&split.train[..1]);
    let embedded = EmbeddedBatch::new(&fresh.store, &batch, device, false);
    Ok(shared_bottom_width(&fresh.model, &embedded.input, model.name())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataWindows;
    use crate::label_store::MemoryLabelStore;

    fn split(n: usize) -> Split {
        Split { train: (0..n).collect(), valid: vec![n], test: vec![n + 1] }
    }

    #[test]
    fn windows_cut_fractions_and_keep_the_newest_rows() {
        let config = DataWindows {
            schema: "x".into(),
            teacher_window: [0.0, 0.5],
            student_window: [0.5, 1.0],
            max_teacher_rows: Some(2),
            max_student_rows: None,
        };
        let w = windows(&split(10), &config).unwrap();
        assert_eq!(w.teacher.train, vec![3, 4]);
        assert_eq!(w.student.train, vec![5, 6, 7, 8, 9]);
        assert_eq!(w.student.valid, vec![10]);
    }

    #[test]
    fn empty_window_is_an_error() {
        let config = DataWindows {
            schema: "x".into(),
            teacher_window: [0.0, 0.01],
            student_window: [0.5, 1.0],
            max_teacher_rows: None,
            max_student_rows: None,
        };
        assert!(windows(&split(10), &config).unwrap_err().to_string().contains("teacher_window"));
    }

    /// A small prepared (encoded) dataset: the synthetic CTR log through the real pipeline.
    fn prepared(dir: &Path) -> Dataset {
        let schema_path = recforge_data::write_synthetic_ctr(&dir.join("synth"), 400, 3).unwrap();
        let schema = recforge_data::Schema::from_toml_file(&schema_path).unwrap();
        let options = recforge_data::PrepareOptions {
            cache_dir: dir.join("cache"),
            skip_bad_rows: false,
            force: false,
            progress: &recforge_data::Silent,
        };
        recforge_data::prepare(&schema, &options).unwrap().0
    }

    #[test]
    fn labels_are_written_once_per_version_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = prepared(dir.path());
        let model = ModelConfig::Mlp(recforge_models::ranking::MlpRankerConfig { embedding_dim: 4, hidden: vec![8], dropout: 0.0 });
        let train = TrainConfig { eval_batch_size: 64, ..TrainConfig::default() };
        let trained = TrainedModel::init(&model, &train, &data, &Device::default()).unwrap();
        let run = RunConfig {
            name: Some("t".into()),
            data: recforge_train::run::DataSection { schema: "unused.toml".into() },
            model,
            train,
        };
        let teacher = save_as_teacher(&dir.path().join("teacher"), &run, &trained, 4, &data).unwrap();
        let store = MemoryLabelStore::new();
        let rows: Vec<usize> = (100..300).collect();
        let first = label_once(&store, 4, &teacher, &data, &rows, &|_| {}).unwrap();
        assert!(!first.skipped);
        assert_eq!(first.teacher_forward_passes, 200);
        // Same version again: the store holds every label, the teacher does not run.
        let again = label_once(&store, 4, &teacher, &data, &rows, &|_| {}).unwrap();
        assert!(again.skipped);
        assert_eq!(again.teacher_forward_passes, 0);
        assert_eq!(teacher.examples_labeled(), 200);
        // Stored logits are the saved teacher's: sigmoid(logit) equals its predicted probability.
        let labels = read_labels(&store, 4, &data, &rows).unwrap();
        let p = predict(&trained.model, &trained.store, &data, &rows[..5], 64, &Device::default());
        for (k, &r) in rows[..5].iter().enumerate() {
            let logit = labels[&data.example_ids[r]];
            assert!((1.0 / (1.0 + (-logit).exp()) - p[k]).abs() < 1e-5);
        }
    }

    #[test]
    fn read_labels_names_the_missing_id() {
        let store = MemoryLabelStore::new();
        store.put(3, &[(0, 1.0)]).unwrap();
        let data = recforge_train::bench::synthetic_dataset(4, 2, 10, 0, 1);
        let err = read_labels(&store, 3, &data, &[0, 1]).unwrap_err().to_string();
        assert!(err.contains("version 3"), "{err}");
    }
}
