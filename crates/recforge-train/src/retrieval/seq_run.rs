//! A sequential run folder, trained from a [`SeqRunConfig`] and evaluated again later: the
//! retrieval run files ([`super::run`]) plus `config.toml` (the resolved config),
//! `metrics.json` ([`SeqRunMetrics`]) and `history.json` (one [`SeqEpoch`] per epoch).
//! [`train_seq_run`] trains any family — the two towers (SUR/MUR), SASRec and BPR-MF through
//! the one step loop with early stopping on validation NDCG@10, EASE in closed form — on the
//! leave-one-out split; [`evaluate_seq_run`] rebuilds the split from the saved config and
//! scores the saved model on it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use recforge_data::{Progress, Schema, TaskOptions};
use recforge_models::sequential::{Ease, EaseError, ease_weights};
use serde::{Deserialize, Serialize};

use super::architecture::SequentialModel;
use super::bpr::train_bpr;
use super::data::RetrievalData;
use super::eval_report::SeqEvalReport;
use super::evaluate::{EvalSplit, RetrievalMetrics};
use super::experiment::fresh_model;
use super::fit::{Selection, Stage, train_stage};
use super::run::{INFO, MODEL, RetrievalRunInfo, RunVocabulary, save_run};
use super::seq_config::{SeqModelSpec, SeqRunConfig};
use super::RetrievalError;
use crate::run::{RunDir, RunError};
use crate::sasrec::{SasRecError, train_sasrec};

/// One epoch of any family (epoch 0: the untrained model; EASE has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqEpoch {
    pub epoch: usize,
    /// Mean training loss; `None` for epoch 0.
    pub train_loss: Option<f64>,
    /// Full-corpus validation NDCG@10 and HR@10 (the early-stopping criterion is NDCG@10).
    pub valid_ndcg10: f64,
    pub valid_hr10: f64,
    /// Optimisation seconds (validation excluded).
    pub seconds: f64,
}

/// `metrics.json` of a sequential run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeqRunMetrics {
    pub model: String,
    pub dataset: String,
    pub users: usize,
    pub items: usize,
    /// The epoch whose model was kept (0 for EASE and for an untrained best).
    pub best_epoch: usize,
    /// Training seconds (validation included).
    pub train_seconds: f64,
    pub valid: RetrievalMetrics,
    pub test: RetrievalMetrics,
}

/// What [`train_seq_run`] returns.
#[derive(Debug, Clone)]
pub struct SeqRunOutcome {
    pub out: PathBuf,
    pub metrics: SeqRunMetrics,
    /// The test split's report (what `recforge eval` prints for the folder).
    pub test: SeqEvalReport,
    pub history: Vec<SeqEpoch>,
}

/// Why a sequential run could not be trained or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum SeqRunError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
    #[error(transparent)]
    SasRec(#[from] SasRecError),
    #[error(transparent)]
    Ease(#[from] EaseError),
    #[error("{0}: the prepared dataset has no item or user vocabulary; declare `user` and `item` in the schema")]
    Vocabulary(PathBuf),
    #[error(
        "{dir}: the model has {model} items but the data now has {data}; the schema's data changed since training — \
         retrain with `recforge train`"
    )]
    Mismatch { dir: PathBuf, model: usize, data: usize },
}

/// Whether `dir` holds a sequential/retrieval run (its `retrieval.json`).
pub fn is_seq_run(dir: &Path) -> bool {
    dir.join(INFO).is_file()
}

fn prepare(config: &SeqRunConfig, progress: &dyn Progress) -> Result<RetrievalData, SeqRunError> {
    let schema = Schema::from_toml_file(&config.data.schema)?;
    let (prepared, _) = recforge_data::prepare(&schema, &TaskOptions::default().prepare_options(progress))?;
    Ok(RetrievalData::from_dataset(&prepared, &config.train)?)
}

/// Trains `config`'s model, evaluates it on the validation and test targets and writes the
/// run folder `out`.
pub fn train_seq_run(config: &SeqRunConfig, out: &Path, progress: &dyn Progress) -> Result<SeqRunOutcome, SeqRunError> {
    let schema = Schema::from_toml_file(&config.data.schema)?;
    let (prepared, _) = recforge_data::prepare(&schema, &TaskOptions::default().prepare_options(progress))?;
    let train = &config.train;
    let data = RetrievalData::from_dataset(&prepared, train)?;
    let vocabulary = RunVocabulary::of(&prepared, &data.sequences).ok_or_else(|| SeqRunError::Vocabulary(config.data.schema.clone()))?;
    let kind = config.model.kind();
    tracing::info!(
        kind,
        users = data.sequences.users.len(),
        items = data.sequences.num_items,
        training_targets = data.sequences.train_examples().len(),
        "training a sequential model"
    );
    let started = Instant::now();
    let (model, history) = fit(&config.model, &data, train, progress)?;
    let train_seconds = started.elapsed().as_secs_f64();
    let valid = model.evaluate(&data, EvalSplit::Valid, train.seq_len);
    let test = model.evaluate(&data, EvalSplit::Test, train.seq_len);
    let best_epoch = history.iter().max_by(|a, b| a.valid_ndcg10.total_cmp(&b.valid_ndcg10)).map_or(0, |e| e.epoch);
    let dataset = prepared.meta.name.clone();
    let metrics = SeqRunMetrics {
        model: kind.into(),
        dataset: dataset.clone(),
        users: data.sequences.users.len(),
        items: data.sequences.num_items,
        best_epoch,
        train_seconds,
        valid,
        test,
    };
    let info = RetrievalRunInfo {
        model: kind.into(),
        dataset: dataset.clone(),
        seed: train.seed,
        seq_len: train.seq_len,
        model_config: config.model.architecture(&data, train),
        items: vocabulary.items,
        users: vocabulary.users,
    };
    let vectors = if matches!(model, SequentialModel::Ease(_)) { None } else { model.item_vectors(Some(&data.items)) };
    save_run(out, &info, &model, vectors.as_ref(), &vocabulary.histories)?;
    let dir = RunDir::create(out)?;
    let mut resolved = config.clone();
    if let Ok(absolute) = std::fs::canonicalize(&config.data.schema) {
        resolved.data.schema = absolute;
    }
    let text = toml::to_string_pretty(&resolved).map_err(|e| RunError::Config { path: dir.file(RunDir::CONFIG), message: e.to_string() })?;
    dir.write(RunDir::CONFIG, text.as_bytes())?;
    dir.write_json(RunDir::METRICS, &metrics)?;
    dir.write_json(RunDir::HISTORY, &history)?;
    let test = SeqEvalReport::new(kind, &dataset, "test", &metrics.test);
    Ok(SeqRunOutcome { out: out.into(), metrics, test, history })
}

/// Trains one family; returns the kept model (plain device) and its epochs.
fn fit(
    spec: &SeqModelSpec,
    data: &RetrievalData,
    train: &super::RetrievalTrainConfig,
    progress: &dyn Progress,
) -> Result<(SequentialModel, Vec<SeqEpoch>), SeqRunError> {
    Ok(match *spec {
        SeqModelSpec::Sur {} | SeqModelSpec::Mur { .. } => {
            let interests = if let SeqModelSpec::Mur { interests } = *spec { interests.max(1) } else { 1 };
            let ones = vec![1f32; data.sequences.num_items];
            let stage = Stage {
                name: spec.kind().into(),
                example_weights: &ones,
                lr: train.lr,
                max_epochs: train.epochs,
                freeze_items: false,
                selection: Selection::Ndcg,
                seed: train.seed,
            };
            let (model, logs) = train_stage(fresh_model(data, train, interests), data, train, &stage, progress)?;
            let history = logs
                .iter()
                .map(|log| SeqEpoch {
                    epoch: log.epoch,
                    train_loss: Some(log.train_loss).filter(|l| l.is_finite()),
                    valid_ndcg10: log.valid.ndcg_at(10),
                    valid_hr10: log.valid.get("overall", 10),
                    seconds: log.seconds,
                })
                .collect();
            (SequentialModel::Towers(model.valid()), history)
        }
        SeqModelSpec::Sasrec { .. } => {
            let (model, logs) = train_sasrec(&data.sequences, &spec.sasrec(train), progress)?;
            let history = logs
                .iter()
                .map(|l| SeqEpoch { epoch: l.epoch, train_loss: l.train_loss, valid_ndcg10: l.valid_ndcg10, valid_hr10: l.valid_hr10, seconds: l.seconds })
                .collect();
            (SequentialModel::SasRec(model), history)
        }
        SeqModelSpec::Bpr {} => {
            let (model, history) = train_bpr(data, train, progress)?;
            (SequentialModel::Bpr(model), history)
        }
        SeqModelSpec::Ease { lambda } => {
            // Training interactions only: the validation and test targets stay held out.
            let rows: Vec<&[u32]> = data.sequences.histories.iter().map(|h| &h[..h.len().saturating_sub(2)]).collect();
            let n = data.sequences.num_items;
            let weights = ease_weights(&rows, n, lambda)?;
            (SequentialModel::Ease(Ease::from_weights(weights, n, &burn::prelude::Device::default())), Vec::new())
        }
    })
}

/// Scores the run in `dir` on `split` of the data its saved config names.
pub fn evaluate_seq_run(dir: &Path, split: EvalSplit, progress: &dyn Progress) -> Result<SeqEvalReport, SeqRunError> {
    let run = RunDir::open(dir)?;
    let config_path = run.file(RunDir::CONFIG);
    let config = SeqRunConfig::from_file_with_overrides(&config_path, &[])?;
    let info_path = dir.join(INFO);
    let text = std::fs::read(&info_path).map_err(|source| RunError::Io { path: info_path.clone(), source })?;
    let info: RetrievalRunInfo = serde_json::from_slice(&text).map_err(|e| RunError::Config { path: info_path, message: e.to_string() })?;
    let data = prepare(&config, progress)?;
    if data.sequences.num_items != info.items.len() {
        return Err(SeqRunError::Mismatch { dir: dir.into(), model: info.items.len(), data: data.sequences.num_items });
    }
    let model = SequentialModel::load(&info.model_config, &dir.join(MODEL))?;
    let metrics = model.evaluate(&data, split, info.seq_len);
    let name = match split {
        EvalSplit::Valid => "valid",
        EvalSplit::Test => "test",
    };
    Ok(SeqEvalReport::new(&info.model, &info.dataset, name, &metrics))
}
