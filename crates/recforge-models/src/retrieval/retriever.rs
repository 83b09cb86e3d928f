//! Serving-side retrieval: a query (a user's history, and the user when the model stores
//! per-user vectors) in, the top-K items out. A [`QueryEncoder`] turns the query into one or
//! several vectors; a [`MipsIndex`] over the item vectors, computed once, finds the best items.
//! Every sequential model fits this shape: the two towers (H user vectors · item tower
//! outputs), SASRec (last hidden state · item table), BPR-MF (user row · item table) and EASE
//! (multi-hot history · columns of B).

use burn::prelude::*;

use crate::retrieval::model::RetrievalModel;
use crate::retrieval::mur::HistoryBatch;
use crate::retrieval::search::{ExactIndex, Hit, MipsIndex};
use crate::sequential::{BprMf, SasRec, SequenceBatch};

/// Turns a query into search vectors, row-major `[heads, dim]`.
pub trait QueryEncoder: Send + Sync {
    /// The query vectors for `history` (item ids, oldest first, all inside the corpus) of the
    /// user with training index `user` when known; `None` when the model cannot encode it
    /// (BPR-MF has vectors only for the users it was trained on).
    fn encode(&self, user: Option<u32>, history: &[u32]) -> Option<Vec<f32>>;
}

/// The two towers' user tower: H interest vectors.
pub struct TowerQuery {
    pub model: RetrievalModel,
    pub max_len: usize,
    pub device: Device,
}

impl QueryEncoder for TowerQuery {
    fn encode(&self, _user: Option<u32>, history: &[u32]) -> Option<Vec<f32>> {
        let batch = HistoryBatch::new(&[history], self.max_len, &self.device);
        self.model.user.forward(&batch).into_data().try_to_vec::<f32>().ok()
    }
}

/// SASRec's hidden state after the last history item.
pub struct SasRecQuery {
    pub model: SasRec,
    pub device: Device,
}

impl QueryEncoder for SasRecQuery {
    fn encode(&self, _user: Option<u32>, history: &[u32]) -> Option<Vec<f32>> {
        let batch = SequenceBatch::new(&[history], self.model.max_len(), &self.device);
        self.model.last_hidden(&batch).into_data().try_to_vec::<f32>().ok()
    }
}

/// BPR-MF's user vector (stored users only).
pub struct BprQuery {
    pub model: BprMf,
    pub device: Device,
}

impl QueryEncoder for BprQuery {
    fn encode(&self, user: Option<u32>, _history: &[u32]) -> Option<Vec<f32>> {
        let user = user.filter(|&u| (u as usize) < self.model.users.weight.dims()[0])?;
        self.model.user_vectors(&[user], &self.device).into_data().try_to_vec::<f32>().ok()
    }
}

/// EASE's multi-hot history row over `num_items` items (the item vectors are B's columns).
pub struct MultiHotQuery {
    pub num_items: usize,
}

impl QueryEncoder for MultiHotQuery {
    fn encode(&self, _user: Option<u32>, history: &[u32]) -> Option<Vec<f32>> {
        let mut x = vec![0f32; self.num_items];
        for &item in history.iter().filter(|&&i| (i as usize) < self.num_items) {
            x[item as usize] = 1.0;
        }
        Some(x)
    }
}

/// A ready-to-query retrieval model.
pub struct Retriever {
    encoder: Box<dyn QueryEncoder>,
    index: Box<dyn MipsIndex>,
}

impl Retriever {
    /// The two towers: `model` on a plain (non-autodiff) device; `item_vectors` row-major
    /// `[num_items, dim]`. Uses exact search; see [`Retriever::with_index`] for an approximate one.
    pub fn new(model: RetrievalModel, item_vectors: Vec<f32>, dim: usize, max_len: usize, device: Device) -> Self {
        Self::with_encoder(Box::new(TowerQuery { model, max_len, device }), item_vectors, dim)
    }

    /// Any model: its query encoder and its item vectors (row-major `[num_items, dim]`), exact search.
    pub fn with_encoder(encoder: Box<dyn QueryEncoder>, item_vectors: Vec<f32>, dim: usize) -> Self {
        Retriever { encoder, index: Box::new(ExactIndex::new(item_vectors, dim)) }
    }

    /// Replaces the search index (it must index the same item vectors).
    pub fn with_index(mut self, index: Box<dyn MipsIndex>) -> Self {
        self.index = index;
        self
    }

    /// The query's vectors, row-major `[heads, dim]`, for a history of item ids (oldest first)
    /// with no stored user (empty when the model needs one).
    pub fn user_vectors(&self, history: &[u32]) -> Vec<f32> {
        self.encoder.encode(None, history).unwrap_or_default()
    }

    /// The `k` best items for a history, best first, never an item of the history nor the
    /// padding id 0. Item ids outside the corpus are ignored. Empty when the model needs a
    /// stored user (see [`Retriever::retrieve_for`]).
    pub fn retrieve(&self, history: &[u32], k: usize) -> Vec<Hit> {
        self.retrieve_for(None, history, k).unwrap_or_default()
    }

    /// As [`Retriever::retrieve`] for the user with training index `user` when known; `None`
    /// when the model cannot encode the query.
    pub fn retrieve_for(&self, user: Option<u32>, history: &[u32], k: usize) -> Option<Vec<Hit>> {
        let corpus = self.index.len() as u32;
        let history: Vec<u32> = history.iter().copied().filter(|&i| i > 0 && i < corpus).collect();
        let query = self.encoder.encode(user, &history)?;
        let mut seen = history;
        seen.push(0);
        seen.sort_unstable();
        seen.dedup();
        Some(
            self.index
                .search(&query, k + seen.len())
                .into_iter()
                .filter(|hit| seen.binary_search(&hit.item).is_err())
                .take(k)
                .collect(),
        )
    }

    pub fn num_items(&self) -> usize {
        self.index.len()
    }
}
