//! From a data [`Batch`] to model tensors: every sparse field embedded through the
//! [`EmbeddingStore`] (multi-valued fields mean-pooled, an embedding bag), numeric fields as
//! one dense block.
//!
//! The rows of each table are gathered once per batch as a leaf tensor; after the backward
//! pass [`EmbeddedBatch::apply_gradients`] hands each leaf's gradient back to the store.

use burn::tensor::{Device, Int, Tensor, TensorData};
use recforge_data::{Batch, SparseField};

use crate::embedding_store::EmbeddingStore;

/// What every ranking model consumes.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// Embedded sparse fields `[batch, fields, dim]`.
    pub fields: Tensor<3>,
    /// Normalised numeric features `[batch, num_dense]`, `None` when the data has none.
    pub dense: Option<Tensor<2>>,
}

impl ModelInput {
    /// Stack embedded fields (`[batch, dim]` each) and attach the batch's numeric block.
    pub(crate) fn new(fields: Vec<Tensor<2>>, batch: &Batch, device: &Device) -> Self {
        let dense = (batch.num_dense > 0).then(|| {
            Tensor::<2>::from_data(TensorData::new(batch.dense.clone(), [batch.len, batch.num_dense]), device)
        });
        ModelInput { fields: Tensor::stack(fields, 1), dense }
    }

    pub fn batch_size(&self) -> usize {
        self.fields.dims()[0]
    }
}

/// One gathered table: its distinct rows and the leaf tensor holding them.
#[derive(Debug)]
struct Leaf {
    table: usize,
    rows: Vec<u32>,
    tensor: Tensor<2>,
}

/// A batch embedded for one forward pass, remembering which rows it used.
#[derive(Debug)]
pub struct EmbeddedBatch {
    pub input: ModelInput,
    leaves: Vec<Leaf>,
}

impl EmbeddedBatch {
    /// Embed `batch`: one table per sparse field, in order. With `track` the gathered rows
    /// are gradient-tracked leaves (the device must have autodiff enabled).
    pub fn new(store: &EmbeddingStore, batch: &Batch, device: &Device, track: bool) -> Self {
        assert_eq!(
            batch.sparse.len(),
            store.specs().len(),
            "batch has {} sparse fields but the store has {} tables",
            batch.sparse.len(),
            store.specs().len()
        );
        let size = batch.len;
        let mut leaves = Vec::with_capacity(batch.sparse.len());
        let mut fields = Vec::with_capacity(batch.sparse.len());
        for (table, field) in batch.sparse.iter().enumerate() {
            let dim = store.specs()[table].dim;
            let ids: &[u32] = match field {
                SparseField::Single(ids) => ids,
                SparseField::Bag { values, .. } => values,
            };
            // An all-empty bag field still needs one row for the leaf to be well formed.
            let gather = store.gather_rows(table, if ids.is_empty() { &[0] } else { ids });
            let data = store.rows_data(table, &gather.rows);
            let mut leaf = Tensor::<2>::from_data(TensorData::new(data, [gather.rows.len(), dim]), device);
            if track {
                leaf = leaf.require_grad();
            }
            fields.push(lookup(&leaf, &gather.inverse, field, size, dim, device));
            leaves.push(Leaf { table, rows: gather.rows, tensor: leaf });
        }
        EmbeddedBatch { input: ModelInput::new(fields, batch, device), leaves }
    }

    /// Send each leaf's gradient to its table (one optimizer step over the touched rows).
    pub fn apply_gradients(&self, store: &mut EmbeddingStore, grads: &burn::tensor::Gradients) {
        store.begin_step();
        for leaf in &self.leaves {
            if let Some(grad) = leaf.tensor.grad(grads) {
                let values: Vec<f32> = grad.into_data().try_to_vec().unwrap_or_default();
                if values.len() == leaf.rows.len() * store.specs()[leaf.table].dim {
                    store.apply_row_gradients(leaf.table, &leaf.rows, &values);
                }
            }
        }
    }
}

/// Embed one field from `source` rows: `index[i]` is the source row of the field's i-th id.
pub(crate) fn lookup(
    source: &Tensor<2>,
    index: &[u32],
    field: &SparseField,
    size: usize,
    dim: usize,
    device: &Device,
) -> Tensor<2> {
    match field {
        SparseField::Single(_) => source.clone().select(0, int_tensor(index, device)),
        SparseField::Bag { offsets, .. } => mean_pool(source, index, offsets, size, dim, device),
    }
}

/// Mean of each bag's rows: `[batch, dim]`; an empty bag pools to zeros.
///
/// Bags are padded to the longest in the batch; padding points at leaf row 0 with weight 0,
/// so it contributes neither value nor gradient.
fn mean_pool(
    leaf: &Tensor<2>,
    inverse: &[u32],
    offsets: &[u32],
    size: usize,
    dim: usize,
    device: &Device,
) -> Tensor<2> {
    let longest = offsets.windows(2).map(|w| (w[1] - w[0]) as usize).max().unwrap_or(0).max(1);
    let mut index = vec![0u32; size * longest];
    let mut weight = vec![0f32; size * longest];
    for (row, bounds) in offsets.windows(2).enumerate() {
        let (start, end) = (bounds[0] as usize, bounds[1] as usize);
        let len = end - start;
        for (slot, position) in (start..end).enumerate() {
            index[row * longest + slot] = inverse[position];
            weight[row * longest + slot] = 1.0 / len as f32;
        }
    }
    let gathered = leaf.clone().select(0, int_tensor(&index, device)).reshape([size, longest, dim]);
    let weight = Tensor::<3>::from_data(TensorData::new(weight, [size, longest, 1]), device);
    (gathered * weight).sum_dim(1).reshape([size, dim])
}

fn int_tensor(values: &[u32], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = values.iter().map(|&v| v as i64).collect();
    let len = values.len();
    Tensor::<1, Int>::from_data(TensorData::new(values, [len]), device)
}
