//! Retrieval run directories: `retrieval.json` (what was trained, on what, its
//! [`Architecture`] and the item and user vocabularies), `model.bpk` (burn weights),
//! `item_vectors.json` (every item's search vector; EASE's, the columns of B, are rebuilt from
//! the weights instead), `histories.json` (each user's time-ordered item ids, by the user's
//! original id) and `metrics.json`. [`RetrievalRun::load`] turns one back into a [`Retriever`]
//! that serves top-K items for any history (or stored user) — two towers, SASRec, BPR-MF or EASE.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use recforge_models::retrieval::Retriever;
use serde::{Deserialize, Serialize};

use super::architecture::{Architecture, SequentialModel, architecture_or_towers};
use crate::run::RunError;

/// What a retrieval run holds besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetrievalRunInfo {
    /// The row this model is ("sur", "mur", "mur-idw-cal", ...).
    pub model: String,
    pub dataset: String,
    pub seed: u64,
    /// History length the user tower reads.
    pub seq_len: usize,
    /// The model family and its sizes (runs from before the other families hold the bare
    /// two-tower config, read as [`Architecture::TwoTower`]).
    #[serde(deserialize_with = "architecture_or_towers")]
    pub model_config: Architecture,
    /// Original item id of each item id (index 0 is the OOV/padding id).
    pub items: Vec<String>,
    /// Original user id of each training user index (the rows of BPR-MF's user table; empty in
    /// runs written before it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

/// Item vectors as saved: row-major `[items, dim]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemVectors {
    pub dim: usize,
    pub vectors: Vec<f32>,
}

/// A loaded retrieval run.
pub struct RetrievalRun {
    pub path: PathBuf,
    pub info: RetrievalRunInfo,
    pub retriever: Retriever,
    /// Original user id → item ids, oldest first.
    pub histories: BTreeMap<String, Vec<u32>>,
    item_index: std::collections::HashMap<String, u32>,
    user_index: std::collections::HashMap<String, u32>,
}

pub const INFO: &str = "retrieval.json";
pub const MODEL: &str = "model.bpk";
pub const VECTORS: &str = "item_vectors.json";
pub const HISTORIES: &str = "histories.json";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io { path: path.into(), source }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunError> {
    let text = serde_json::to_vec(value).map_err(|e| RunError::Config { path: path.into(), message: e.to_string() })?;
    std::fs::write(path, text).map_err(io(path))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, RunError> {
    let text = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&text).map_err(|e| RunError::Config { path: path.into(), message: e.to_string() })
}

/// Writes a retrieval run; `item_vectors` is `None` for a family that rebuilds them from its
/// weights (EASE, whose n × n vectors would be a large JSON file).
pub fn save_run(
    dir: &Path,
    info: &RetrievalRunInfo,
    model: &SequentialModel,
    item_vectors: Option<&ItemVectors>,
    histories: &BTreeMap<String, Vec<u32>>,
) -> Result<(), RunError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    write_json(&dir.join(INFO), info)?;
    if let Some(vectors) = item_vectors {
        write_json(&dir.join(VECTORS), vectors)?;
    }
    write_json(&dir.join(HISTORIES), histories)?;
    model.save(&dir.join(MODEL))
}

/// The original ids a run folder records: items by item id, users by training index, and
/// each user's history.
pub struct RunVocabulary {
    pub items: Vec<String>,
    pub users: Vec<String>,
    pub histories: BTreeMap<String, Vec<u32>>,
}

impl RunVocabulary {
    /// From the prepared dataset's item and user vocabularies; `None` when it has none.
    pub fn of(prepared: &recforge_data::Dataset, sequences: &recforge_data::Sequences) -> Option<Self> {
        let encoder = prepared.encoder()?;
        let vocab = |feature: Option<&str>| feature.and_then(|f| encoder.vocab(f));
        let items_vocab = vocab(prepared.meta.item_feature.as_deref())?;
        let users_vocab = vocab(prepared.meta.user_feature.as_deref())?;
        let items = (0..sequences.num_items as u32).map(|i| items_vocab.token(i).unwrap_or("").to_string()).collect();
        let users: Vec<String> = sequences.users.iter().map(|&u| users_vocab.token(u).unwrap_or("").to_string()).collect();
        let histories = users.iter().cloned().zip(sequences.histories.iter().cloned()).collect();
        Some(RunVocabulary { items, users, histories })
    }
}

impl RetrievalRun {
    /// Loads a run written by [`save_run`] onto the default (CPU) device, with exact search.
    pub fn load(dir: &Path) -> Result<Self, RunError> {
        let info: RetrievalRunInfo = read_json(&dir.join(INFO))?;
        let histories: BTreeMap<String, Vec<u32>> = read_json(&dir.join(HISTORIES))?;
        let model = SequentialModel::load(&info.model_config, &dir.join(MODEL))?;
        let vectors: ItemVectors = match model.item_vectors(None) {
            Some(vectors) if !dir.join(VECTORS).is_file() => vectors,
            _ => read_json(&dir.join(VECTORS))?,
        };
        if vectors.dim == 0 || vectors.vectors.len() != vectors.dim * info.items.len() {
            return Err(RunError::Weights {
                path: dir.join(VECTORS),
                message: format!("{} values for {} items of dimension {}", vectors.vectors.len(), info.items.len(), vectors.dim),
            });
        }
        let retriever = Retriever::with_encoder(model.into_encoder(info.seq_len), vectors.vectors, vectors.dim);
        let item_index = info.items.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let user_index = info.users.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Ok(RetrievalRun { path: dir.into(), info, retriever, histories, item_index, user_index })
    }

    /// The item id of an original item id, if the run knows it.
    pub fn item_id(&self, token: &str) -> Option<u32> {
        self.item_index.get(token).copied().filter(|&i| i > 0)
    }

    /// The training index of an original user id (the row of BPR-MF's user table), if the
    /// run records it.
    pub fn user_index(&self, user: &str) -> Option<u32> {
        self.user_index.get(user).copied()
    }

    /// The original item id of an item id.
    pub fn item_token(&self, id: u32) -> &str {
        self.info.items.get(id as usize).map_or("?", String::as_str)
    }
}

/// Whose history a retrieval query starts from.
#[derive(Debug, Clone)]
pub enum Query {
    /// A stored user's whole recorded history, by original user id.
    User(String),
    /// Original item ids, oldest first.
    Items(Vec<String>),
}

/// One retrieved item, by original id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievedItem {
    pub item: String,
    pub score: f32,
}

/// The answer to a [`Query`] (the JSON `recforge retrieve --json` prints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retrieved {
    pub model: String,
    pub history_len: usize,
    pub items: Vec<RetrievedItem>,
}

/// A query the run cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("user \"{user}\" is not in {run} (it has {users} users)")]
    UnknownUser { user: String, run: PathBuf, users: usize },
    #[error("item \"{0}\" is not in the run's item vocabulary")]
    UnknownItem(String),
    #[error("{model} scores only the users it was trained on: pass --user ID (a user of the run), not a history")]
    NeedsUser { model: String },
}

impl RetrievalRun {
    /// The item ids of `query`'s history.
    pub fn history(&self, query: &Query) -> Result<Vec<u32>, QueryError> {
        match query {
            Query::User(user) => self.histories.get(user).cloned().ok_or_else(|| QueryError::UnknownUser {
                user: user.clone(),
                run: self.path.clone(),
                users: self.histories.len(),
            }),
            Query::Items(items) => items.iter().map(|t| self.item_id(t).ok_or_else(|| QueryError::UnknownItem(t.clone()))).collect(),
        }
    }

    /// The top `k` items for `query`, the history's own items excluded.
    pub fn recommend(&self, query: &Query, k: usize) -> Result<Retrieved, QueryError> {
        let history = self.history(query)?;
        let user = match query {
            Query::User(user) => self.user_index(user),
            Query::Items(_) => None,
        };
        let items = self
            .retriever
            .retrieve_for(user, &history, k)
            .ok_or_else(|| QueryError::NeedsUser { model: self.info.model.clone() })?
            .into_iter()
            .map(|h| RetrievedItem { item: self.item_token(h.item).to_string(), score: h.score })
            .collect();
        Ok(Retrieved { model: self.info.model.clone(), history_len: history.len(), items })
    }
}
