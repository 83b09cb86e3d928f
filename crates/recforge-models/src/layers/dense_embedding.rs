//! The dense-gradient alternative to the EmbeddingStore, kept as the benchmark baseline.
//!
//! Every table is an ordinary burn parameter: the whole table takes part in the backward
//! pass and the dense optimizer updates every weight each step, touched or not. This is what
//! a model built only from `burn::nn::Embedding` does; `recforge bench train-step` measures it
//! against the sparse path on the same data.

use burn::module::Param;
use burn::prelude::*;
use recforge_data::{Batch, SparseField};

use crate::embedding_store::EmbeddingStore;
use crate::layers::field_embedding::lookup;
use crate::layers::ModelInput;
use crate::ranking::{Ranker, RankingModel};

/// A ranker whose embedding tables are dense burn parameters.
#[derive(Module, Debug)]
pub struct DenseEmbeddingRanker {
    tables: Vec<Param<Tensor<2>>>,
    ranker: Ranker,
}

impl DenseEmbeddingRanker {
    /// Copy `store`'s tables into dense parameters beside `ranker`.
    pub fn from_store(store: &EmbeddingStore, ranker: Ranker, device: &Device) -> Self {
        let tables = store
            .specs()
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let data = TensorData::new(store.table(i).to_vec(), [spec.rows, spec.dim]);
                Param::from_tensor(Tensor::<2>::from_data(data, device))
            })
            .collect();
        DenseEmbeddingRanker { tables, ranker }
    }

    /// Logits `[batch]`.
    pub fn forward(&self, batch: &Batch, device: &Device) -> Tensor<1> {
        let fields = self
            .tables
            .iter()
            .zip(&batch.sparse)
            .map(|(table, field)| {
                let table = table.val();
                let [rows, dim] = table.dims();
                let ids: Vec<u32> = match field {
                    SparseField::Single(ids) => ids.iter().map(|&id| id.min(rows as u32 - 1)).collect(),
                    SparseField::Bag { values, .. } => values.iter().map(|&id| id.min(rows as u32 - 1)).collect(),
                };
                lookup(&table, &ids, field, batch.len, dim, device)
            })
            .collect();
        self.ranker.forward(&ModelInput::new(fields, batch, device))
    }
}
