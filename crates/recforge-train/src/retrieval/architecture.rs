//! Any trained sequential model behind one enum: the two towers (SUR/MUR), SASRec, BPR-MF and
//! EASE. [`SequentialModel`] scores held-out targets on the shared protocols
//! ([`super::evaluate`]), gives its item vectors and query encoder to a
//! [`recforge_models::retrieval::Retriever`], and saves/loads its weights (`model.bpk`) from
//! the [`Architecture`] a run folder records.

use std::path::Path;

use burn::prelude::*;
use recforge_data::Example;
use recforge_models::retrieval::{
    BprQuery, ItemFeatureTable, MultiHotQuery, QueryEncoder, RetrievalModel, RetrievalModelConfig, SasRecQuery, TowerQuery,
};
use recforge_models::sequential::{BprConfig, BprMf, Ease, EaseConfig, SasRec, SasRecConfig};
use serde::{Deserialize, Deserializer, Serialize};

use super::data::RetrievalData;
use super::evaluate::{EvalSplit, RetrievalMetrics, evaluate_model, evaluate_with};
use super::run::ItemVectors;
use crate::run::RunError;
use crate::sasrec::score_histories;

/// A model's sizes as a run folder records them (`retrieval.json`, key `model_config`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// SUR (one interest) or MUR.
    TwoTower(RetrievalModelConfig),
    Sasrec(SasRecConfig),
    Bpr(BprConfig),
    Ease(EaseConfig),
}

impl From<RetrievalModelConfig> for Architecture {
    fn from(config: RetrievalModelConfig) -> Self {
        Architecture::TwoTower(config)
    }
}

/// Reads an [`Architecture`], or the bare two-tower config of runs written before the others.
pub(crate) fn architecture_or_towers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Architecture, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Saved {
        Tagged(Architecture),
        Towers(RetrievalModelConfig),
    }
    Ok(match Saved::deserialize(deserializer)? {
        Saved::Tagged(architecture) => architecture,
        Saved::Towers(config) => Architecture::TwoTower(config),
    })
}

/// A trained model of any sequential family, on a plain (inference) device.
#[derive(Debug, Clone)]
pub enum SequentialModel {
    Towers(RetrievalModel),
    SasRec(SasRec),
    Bpr(BprMf),
    Ease(Ease),
}

/// Users scored per forward pass by the families scored here (the towers and SASRec batch
/// their own way).
const SCORE_BATCH: usize = 512;

fn weights_error(path: &Path, e: impl std::fmt::Debug) -> RunError {
    RunError::Weights { path: path.into(), message: format!("{e:?}") }
}

impl SequentialModel {
    /// Loads `model.bpk` weights of `architecture` onto the default device.
    pub fn load(architecture: &Architecture, path: &Path) -> Result<Self, RunError> {
        let device = Device::default();
        Ok(match architecture {
            Architecture::TwoTower(c) => SequentialModel::Towers(c.init(&device).try_load_file(path).map_err(|e| weights_error(path, e))?),
            Architecture::Sasrec(c) => SequentialModel::SasRec(c.init(&device).try_load_file(path).map_err(|e| weights_error(path, e))?),
            Architecture::Bpr(c) => SequentialModel::Bpr(c.init(&device).try_load_file(path).map_err(|e| weights_error(path, e))?),
            Architecture::Ease(c) => SequentialModel::Ease(c.init(&device).try_load_file(path).map_err(|e| weights_error(path, e))?),
        })
    }

    /// Writes the weights to `path` (`model.bpk`).
    pub fn save(&self, path: &Path) -> Result<(), RunError> {
        match self {
            SequentialModel::Towers(m) => m.clone().save_file(path),
            SequentialModel::SasRec(m) => m.clone().save_file(path),
            SequentialModel::Bpr(m) => m.clone().save_file(path),
            SequentialModel::Ease(m) => m.clone().save_file(path),
        }
        .map_err(|e| weights_error(path, e))
    }

    /// Hit rates on `split` (full corpus and sampled negatives); `seq_len` is the history the
    /// towers read (SASRec reads its own `max_len`, BPR-MF none, EASE all of it).
    pub fn evaluate(&self, data: &RetrievalData, split: EvalSplit, seq_len: usize) -> RetrievalMetrics {
        let device = Device::default();
        let whole = |e: &Example| data.sequences.context(*e, usize::MAX);
        match self {
            SequentialModel::Towers(model) => evaluate_model(model, data, split, seq_len, &device),
            SequentialModel::SasRec(model) => evaluate_with(data, split, |chunk| {
                let contexts: Vec<&[u32]> = chunk.iter().map(whole).collect();
                score_histories(model, &contexts, &device)
            }),
            SequentialModel::Bpr(model) => evaluate_with(data, split, |chunk| {
                let users: Vec<u32> = chunk.iter().map(|e| e.user).collect();
                users.chunks(SCORE_BATCH).flat_map(|u| floats(model.score_all(u, &device))).collect()
            }),
            SequentialModel::Ease(model) => evaluate_with(data, split, |chunk| {
                let contexts: Vec<&[u32]> = chunk.iter().map(whole).collect();
                contexts.chunks(SCORE_BATCH).flat_map(|c| floats(model.score_all(c, &device))).collect()
            }),
        }
    }

    /// Every item's search vector, row-major `[num_items, dim]`; the towers need the item
    /// features (`None` without them), EASE's vector of item j is column j of B.
    pub fn item_vectors(&self, items: Option<&ItemFeatureTable>) -> Option<ItemVectors> {
        let device = Device::default();
        let matrix = match self {
            SequentialModel::Towers(model) => model.all_item_vectors(items?, &device),
            SequentialModel::SasRec(model) => model.items.weight.val(),
            SequentialModel::Bpr(model) => model.items.weight.val(),
            SequentialModel::Ease(model) => model.weights.val().transpose(),
        };
        let [_, dim] = matrix.dims();
        Some(ItemVectors { dim, vectors: floats(matrix) })
    }

    /// The query encoder a [`recforge_models::retrieval::Retriever`] serves with.
    pub fn into_encoder(self, seq_len: usize) -> Box<dyn QueryEncoder> {
        let device = Device::default();
        match self {
            SequentialModel::Towers(model) => Box::new(TowerQuery { model, max_len: seq_len, device }),
            SequentialModel::SasRec(model) => Box::new(SasRecQuery { model, device }),
            SequentialModel::Bpr(model) => Box::new(BprQuery { model, device }),
            SequentialModel::Ease(model) => Box::new(MultiHotQuery { num_items: model.num_items() }),
        }
    }

    /// Whether a stored user (not only a history) is needed to query the model.
    pub fn needs_user(&self) -> bool {
        matches!(self, SequentialModel::Bpr(_))
    }
}

fn floats(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
}
