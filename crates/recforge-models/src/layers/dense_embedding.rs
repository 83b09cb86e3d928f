//! The dense-gradient alternative to the EmbeddingStore, kept as the benchmark baseline.
//!
//! Every table is an ordinary burn parameter: the whole table takes part in the backward
//! pass and the dense optimizer updates every weight each step, touched or not. This is what
//! a model built only from `burn::nn::Embedding` does; `recforge bench train-step` measures it
//! against the sparse path on the same data.

use burn::module::Param;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Gradients;
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

    /// One optimiser step with the split the sparse trainer makes: `tables` (an optimiser and
    /// its learning rate) updates the embedding tables, `layers` the ranker's dense layers.
    pub fn step(self, mut grads: Gradients, tables: (&mut ModuleOptimizer, f64), layers: (&mut ModuleOptimizer, f64)) -> Self {
        let table_grads = GradientsParams::from_module(&mut grads, &self.tables);
        let layer_grads = GradientsParams::from_module(&mut grads, &self.ranker);
        DenseEmbeddingRanker {
            tables: tables.0.step(tables.1, self.tables, table_grads),
            ranker: layers.0.step(layers.1, self.ranker, layer_grads),
        }
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
