//! Serving-side retrieval: a user history in, the top-K items out. Holds the trained model
//! (for the user tower), the item vectors computed once, and a [`MipsIndex`] over them.

use burn::prelude::*;

use crate::retrieval::model::RetrievalModel;
use crate::retrieval::mur::HistoryBatch;
use crate::retrieval::search::{ExactIndex, Hit, MipsIndex};

/// A ready-to-query retrieval model.
pub struct Retriever {
    model: RetrievalModel,
    index: Box<dyn MipsIndex>,
    max_len: usize,
    device: Device,
}

impl Retriever {
    /// `model` on a plain (non-autodiff) device; `item_vectors` row-major `[num_items, dim]`.
    /// Uses exact search; see [`Retriever::with_index`] for an approximate one.
    pub fn new(model: RetrievalModel, item_vectors: Vec<f32>, dim: usize, max_len: usize, device: Device) -> Self {
        let index = Box::new(ExactIndex::new(item_vectors, dim));
        Retriever { model, index, max_len, device }
    }

    /// Replaces the search index (it must index the same item vectors).
    pub fn with_index(mut self, index: Box<dyn MipsIndex>) -> Self {
        self.index = index;
        self
    }

    /// The user's H vectors, row-major `[H, dim]`, for a history of item ids (oldest first).
    pub fn user_vectors(&self, history: &[u32]) -> Vec<f32> {
        let batch = HistoryBatch::new(&[history], self.max_len, &self.device);
        self.model.user.forward(&batch).into_data().try_to_vec::<f32>().unwrap_or_default()
    }

    /// The `k` best items for a history, best first, never an item of the history nor the
    /// padding id 0. Item ids outside the corpus are ignored.
    pub fn retrieve(&self, history: &[u32], k: usize) -> Vec<Hit> {
        let corpus = self.index.len() as u32;
        let history: Vec<u32> = history.iter().copied().filter(|&i| i > 0 && i < corpus).collect();
        let query = self.user_vectors(&history);
        let mut seen = history.clone();
        seen.push(0);
        seen.sort_unstable();
        self.index
            .search(&query, k + seen.len())
            .into_iter()
            .filter(|hit| seen.binary_search(&hit.item).is_err())
            .take(k)
            .collect()
    }

    pub fn num_items(&self) -> usize {
        self.index.len()
    }
}
