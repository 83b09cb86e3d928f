//! [`ScoringModel`]: a model folder loaded for scoring, and raw rows ([`RawRow`]) as a
//! client sends them (feature name → number, string or list).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use recforge_data::{DataError, Dataset, Encoder, Event, FeatureKind, FeatureValue, Schema, encode_events};
use recforge_models::ranking::CompiledRanker;
use serde::{Deserialize, Serialize};

use super::metadata::{FORMAT, FORMAT_VERSION, ModelMetadata};
use super::tensors::{load_dense, read_safetensors};
use super::{DENSE_PREFIX, EMBEDDING_PREFIX, Files};
use crate::evaluate::Predictor;
use crate::run::{RunConfig, RunDir};
use crate::trainer::TrainedModel;

/// Why a model folder cannot be loaded or rows cannot be scored.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    #[error(
        "{path}: this run folder was written by an older recforge and holds no {weights} / {metadata}, so it cannot \
         score without its training data; re-export it with `recforge eval {path} --resave` (needs the training \
         data it was trained on) or retrain it with `recforge train`",
        weights = Files::WEIGHTS, metadata = Files::METADATA
    )]
    Legacy { path: PathBuf },
    #[error("{path}: not a model folder (no {}); pass a folder written by `recforge train`", Files::METADATA)]
    NotAFolder { path: PathBuf },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("row {row}: feature \"{feature}\": {message}")]
    Row { row: usize, feature: String, message: String },
    #[error("row {row}: unknown feature \"{feature}\"; the model reads {known}")]
    UnknownFeature { row: usize, feature: String, known: String },
    #[error("{path}: {message}")]
    Output { path: PathBuf, message: String },
}

/// One raw scalar: a number or a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawScalar {
    Number(f64),
    Text(String),
}

/// A raw feature value: a number (numeric features, or a categorical id written as a
/// number), a string (a token; a multi-valued cell is split on the schema's separator), or a
/// list of tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawValue {
    Number(f64),
    Text(String),
    List(Vec<RawScalar>),
}

/// One row to score: feature name → raw value. A token feature left out maps to OOV; a
/// numeric feature left out takes the schema's `fill`, else it is an error.
pub type RawRow = BTreeMap<String, RawValue>;

/// A model folder loaded for scoring. Immutable and `Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct ScoringModel {
    pub dir: PathBuf,
    pub metadata: ModelMetadata,
    pub config: RunConfig,
    /// The copied schema (joins point into the folder's `side/`).
    pub schema: Schema,
    pub encoder: Arc<Encoder>,
    trained: TrainedModel,
    /// The model compiled for inference once at load (LR, MLP, DCN-v2; `None` for the others).
    compiled: Option<CompiledRanker>,
}

impl ScoringModel {
    /// Load the model folder `dir` (written by `recforge train`), from any location.
    pub fn load(dir: &Path) -> Result<ScoringModel, ScoringError> {
        let invalid = |path: PathBuf, message: String| ScoringError::Invalid { path, message };
        let metadata_path = dir.join(Files::METADATA);
        if !metadata_path.is_file() || !dir.join(Files::WEIGHTS).is_file() {
            return Err(if dir.join(RunDir::CONFIG).is_file() {
                ScoringError::Legacy { path: dir.to_path_buf() }
            } else {
                ScoringError::NotAFolder { path: dir.to_path_buf() }
            });
        }
        let bytes = std::fs::read(&metadata_path).map_err(|e| invalid(metadata_path.clone(), e.to_string()))?;
        let metadata: ModelMetadata =
            serde_json::from_slice(&bytes).map_err(|e| invalid(metadata_path.clone(), e.to_string()))?;
        if metadata.format != FORMAT || metadata.format_version > FORMAT_VERSION {
            return Err(invalid(
                metadata_path,
                format!(
                    "format {} version {} but this build reads {FORMAT} up to version {FORMAT_VERSION}; upgrade recforge",
                    metadata.format, metadata.format_version
                ),
            ));
        }
        let config = RunDir::open(dir)?.load_config()?;
        let schema = Schema::from_toml_file(&dir.join(Files::SCHEMA))?;
        let encoder = Arc::new(Encoder::load(&dir.join(Files::ENCODER))?);
        encoder.check_compatible(&schema)?;
        let empty = encode_events(&encoder, &[])?;
        let weights = dir.join(Files::WEIGHTS);
        let fresh = TrainedModel::init(&config.model, &config.train, &empty, &Device::default())
            .map_err(|e| invalid(dir.join(RunDir::CONFIG), e.to_string()))?;
        let (tensors, _) = read_safetensors(&weights).map_err(|e| invalid(weights.clone(), e))?;
        let model = load_dense(fresh.model, 1, DENSE_PREFIX, &tensors).map_err(|e| invalid(weights.clone(), e))?;
        let mut store = fresh.store;
        for i in 0..store.specs().len() {
            let spec = store.specs()[i].clone();
            let name = format!("{EMBEDDING_PREFIX}{}", spec.name);
            let table = tensors.get(&name).ok_or_else(|| invalid(weights.clone(), format!("tensor \"{name}\" is missing")))?;
            if table.shape != [spec.rows, spec.dim] {
                return Err(invalid(
                    weights.clone(),
                    format!("tensor \"{name}\" has shape {:?}, the model expects [{}, {}]", table.shape, spec.rows, spec.dim),
                ));
            }
            store.table_mut(i).copy_from_slice(&table.values);
        }
        Ok(ScoringModel {
            dir: dir.to_path_buf(),
            metadata,
            config,
            schema,
            encoder,
            compiled: CompiledRanker::compile(&model),
            trained: TrainedModel { config: fresh.config, model, store },
        })
    }

    /// The run name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Examples per forward pass by default (the run's `eval_batch_size`).
    pub fn default_batch_size(&self) -> usize {
        self.config.train.eval_batch_size.max(1)
    }

    /// Click probabilities of every row of `data` (encoded with [`ScoringModel::encoder`]).
    pub fn score_dataset(&self, data: &Dataset, batch_size: usize) -> Vec<f32> {
        let rows: Vec<usize> = (0..data.len()).collect();
        Predictor::precompiled(&self.trained.model, self.compiled.as_ref()).predict(&self.trained.store, data, &rows, batch_size.max(1), &Device::default())
    }

    /// Click probabilities of raw rows, in order. Unknown features, values of the wrong type
    /// and non-finite numbers are errors naming the row (0-based) and the feature.
    pub fn score(&self, rows: &[RawRow]) -> Result<Vec<f32>, ScoringError> {
        let known: HashSet<&str> = self.encoder.schema.features.iter().map(|f| f.name.as_str()).collect();
        let events = rows.iter().enumerate().map(|(i, row)| self.event(i, row, &known)).collect::<Result<Vec<_>, _>>()?;
        let data = encode_events(&self.encoder, &events)?;
        Ok(self.score_dataset(&data, self.default_batch_size()))
    }

    /// A raw row as an event of the encoder's features.
    fn event(&self, index: usize, row: &RawRow, known: &HashSet<&str>) -> Result<Event, ScoringError> {
        let specs = &self.encoder.schema.features;
        if let Some(unknown) = row.keys().find(|k| !known.contains(k.as_str())) {
            let known: Vec<&str> = specs.iter().map(|f| f.name.as_str()).collect();
            return Err(ScoringError::UnknownFeature { row: index, feature: unknown.clone(), known: known.join(", ") });
        }
        let mut features = BTreeMap::new();
        for (spec, fitted) in specs.iter().zip(&self.encoder.features) {
            let bad = |message: String| ScoringError::Row { row: index, feature: spec.name.clone(), message };
            let value = match (spec.kind, row.get(&spec.name)) {
                (FeatureKind::Numeric, None) => match spec.fill.as_deref().map(|f| f.trim().parse::<f64>()) {
                    Some(Ok(x)) => FeatureValue::Number(x),
                    _ => return Err(bad("missing; the schema declares no `fill` for it".into())),
                },
                (FeatureKind::Numeric, Some(RawValue::Number(x))) if x.is_finite() => FeatureValue::Number(*x),
                (FeatureKind::Numeric, Some(RawValue::Number(_))) => return Err(bad("not a finite number".into())),
                (FeatureKind::Numeric, Some(other)) => return Err(bad(format!("expected a number, found {}", describe(other)))),
                (_, None) => FeatureValue::Tokens(spec.fill.iter().cloned().collect()),
                (kind, Some(value)) => {
                    let separator = match fitted {
                        recforge_data::FittedFeature::Tokens { separator, .. } => separator.as_str(),
                        recforge_data::FittedFeature::Numeric { .. } => "|",
                    };
                    FeatureValue::Tokens(tokens(kind, value, separator).map_err(bad)?)
                }
            };
            features.insert(spec.name.clone(), value);
        }
        Ok(Event { v: recforge_data::event_log::EVENT_FORMAT_VERSION, id: index as u64, ts: 0, label: 0.0, features })
    }
}

/// The tokens of a raw value for a token feature of `kind`.
fn tokens(kind: FeatureKind, value: &RawValue, separator: &str) -> Result<Vec<String>, String> {
    let scalar = |s: &RawScalar| match s {
        RawScalar::Number(x) => number_token(*x),
        RawScalar::Text(t) => Ok(t.trim().to_string()),
    };
    match value {
        RawValue::Number(x) => Ok(vec![number_token(*x)?]),
        RawValue::Text(text) if kind == FeatureKind::Categorical => Ok(vec![text.trim().to_string()]),
        RawValue::Text(text) => {
            Ok(text.split(separator).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect())
        }
        RawValue::List(items) if kind == FeatureKind::Categorical && items.len() > 1 => {
            Err(format!("a categorical feature takes one token, found a list of {}", items.len()))
        }
        RawValue::List(items) => items.iter().map(scalar).collect(),
    }
}

/// A number used as a token: integers without a fraction (`42`, as a CSV cell would read).
fn number_token(x: f64) -> Result<String, String> {
    if !x.is_finite() {
        return Err("not a finite number".into());
    }
    Ok(if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") })
}

fn describe(value: &RawValue) -> String {
    match value {
        RawValue::Number(x) => format!("the number {x}"),
        RawValue::Text(t) => format!("the string \"{t}\""),
        RawValue::List(items) => format!("a list of {} values", items.len()),
    }
}
