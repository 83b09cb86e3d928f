//! From a data [`Batch`] to model tensors: every sparse field embedded through the
//! [`EmbeddingStore`] (multi-valued fields mean-pooled, an embedding bag), numeric fields as
//! one dense block.
//!
//! The fields are gathered once per batch, in one pass, into a single leaf tensor; after the
//! backward pass [`EmbeddedBatch::apply_gradients`] sums its gradient per table row and hands
//! it to the store's row-wise optimizer.

use burn::tensor::{Device, Int, Tensor, TensorData};
use recforge_data::{Batch, SparseField};

use rayon::prelude::*;

use crate::embedding_store::{EmbeddingStore, RowGather, RowGradients};

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
        ModelInput { fields: Tensor::stack(fields, 1), dense: dense_block(batch, device) }
    }

    pub fn batch_size(&self) -> usize {
        self.fields.dims()[0]
    }
}

/// One sparse field's ids as table rows, kept for the backward pass.
#[derive(Debug)]
struct FieldRows {
    table: usize,
    /// The table row of every id of the field, in batch order (bag values flattened).
    rows: Vec<u32>,
    /// Bag bounds (`len + 1` entries) for mean-pooled fields; `None`: one id per example.
    offsets: Option<Vec<u32>>,
}

/// Batches at least this large gather their rows on rayon's threads; smaller ones (serving
/// single examples) stay on the caller's thread, where a hand-off would cost more than the copy.
const PARALLEL_GATHER_MIN_EXAMPLES: usize = 256;

/// A batch embedded for one forward pass, remembering which rows it used.
///
/// The gather is fused: every example's field vectors are copied (bags mean-pooled) straight
/// from the tables into one `[batch, fields, dim]` buffer that becomes `input.fields`, with no
/// per-field tensor ops. When gradients are tracked that tensor is the single autodiff leaf;
/// its gradient is summed per distinct table row and handed to the store's row-wise optimizer
/// ([`EmbeddedBatch::apply_gradients`]), table by table in parallel.
#[derive(Debug)]
pub struct EmbeddedBatch {
    pub input: ModelInput,
    fields: Vec<FieldRows>,
    leaf: Option<Tensor<3>>,
}

impl EmbeddedBatch {
    /// Embed `batch`: one table per sparse field, in order. With `track` the embedded fields
    /// are a gradient-tracked leaf (the device must have autodiff enabled).
    pub fn new(store: &EmbeddingStore, batch: &Batch, device: &Device, track: bool) -> Self {
        let dim = field_dim(store, batch);
        let fields = field_rows(store, batch);
        let width = fields.len() * dim;
        let mut values = vec![0f32; batch.len * width];
        let gather = |(example, out): (usize, &mut [f32])| gather_example(store, &fields, dim, example, out);
        if batch.len >= PARALLEL_GATHER_MIN_EXAMPLES {
            values.par_chunks_mut(width.max(1)).enumerate().for_each(gather);
        } else {
            values.chunks_mut(width.max(1)).enumerate().for_each(gather);
        }
        let mut tensor = Tensor::<3>::from_data(TensorData::new(values, [batch.len, fields.len(), dim]), device);
        if track {
            tensor = tensor.require_grad();
        }
        let input = ModelInput { fields: tensor.clone(), dense: dense_block(batch, device) };
        EmbeddedBatch { input, fields, leaf: track.then_some(tensor) }
    }

    /// Send the fields' gradient to the tables: one optimizer step over the touched rows.
    pub fn apply_gradients(&self, store: &mut EmbeddingStore, grads: &burn::tensor::Gradients) {
        store.begin_step();
        let Some(grad) = self.leaf.as_ref().and_then(|leaf| leaf.grad(grads)) else {
            return;
        };
        let [size, num_fields, dim] = grad.dims();
        let values: Vec<f32> = grad.into_data().try_to_vec().unwrap_or_default();
        if values.len() != size * num_fields * dim || num_fields != self.fields.len() {
            return;
        }
        store.apply_many(&row_updates(&self.fields, &values, num_fields * dim, dim));
    }
}

/// Copy example `example`'s field vectors into `out` (`[fields * dim]`); bags mean-pooled,
/// an empty bag left at zeros.
fn gather_example(store: &EmbeddingStore, fields: &[FieldRows], dim: usize, example: usize, out: &mut [f32]) {
    for (field, slot) in fields.iter().zip(out.chunks_exact_mut(dim)) {
        let table = store.table(field.table);
        match &field.offsets {
            None => {
                let row = field.rows[example] as usize * dim;
                slot.copy_from_slice(&table[row..row + dim]);
            }
            Some(offsets) => {
                let (start, end) = (offsets[example] as usize, offsets[example + 1] as usize);
                if end == start {
                    continue;
                }
                for &row in &field.rows[start..end] {
                    let row = row as usize * dim;
                    for (s, w) in slot.iter_mut().zip(&table[row..row + dim]) {
                        *s += w;
                    }
                }
                let scale = 1.0 / (end - start) as f32;
                slot.iter_mut().for_each(|s| *s *= scale);
            }
        }
    }
}

/// The embedding width shared by every table. Panics when `batch` and `store` disagree on the
/// number of fields or the tables' widths differ (programming errors: the model built both).
fn field_dim(store: &EmbeddingStore, batch: &Batch) -> usize {
    assert_eq!(
        batch.sparse.len(),
        store.specs().len(),
        "batch has {} sparse fields but the store has {} tables",
        batch.sparse.len(),
        store.specs().len()
    );
    let dim = store.specs().first().map_or(1, |s| s.dim);
    assert!(store.specs().iter().all(|s| s.dim == dim), "every embedding table must have the same width to stack fields");
    dim
}

/// Every sparse field of `batch` as table rows of `store` (one table per field, in order).
fn field_rows(store: &EmbeddingStore, batch: &Batch) -> Vec<FieldRows> {
    batch
        .sparse
        .iter()
        .enumerate()
        .map(|(table, field)| {
            let (ids, offsets) = match field {
                SparseField::Single(ids) => (ids, None),
                SparseField::Bag { offsets, values } => (values, Some(offsets.clone())),
            };
            FieldRows { table, rows: ids.iter().map(|&id| store.row_index(table, id)).collect(), offsets }
        })
        .collect()
}

/// A batch's model input as plain rows for compiled inference: each example's field vectors
/// (bags mean-pooled) then its numeric features, the layout `flat_features` builds from a
/// [`ModelInput`], written straight from the tables into a caller's buffer.
pub struct FlatInput<'a> {
    store: &'a EmbeddingStore,
    batch: &'a Batch,
    fields: Vec<FieldRows>,
    dim: usize,
}

impl<'a> FlatInput<'a> {
    /// Maps the batch's ids to table rows (once per batch).
    pub fn new(store: &'a EmbeddingStore, batch: &'a Batch) -> Self {
        FlatInput { store, batch, fields: field_rows(store, batch), dim: field_dim(store, batch) }
    }

    pub fn len(&self) -> usize {
        self.batch.len
    }

    pub fn is_empty(&self) -> bool {
        self.batch.len == 0
    }

    /// Embedded width: fields × dim.
    pub fn field_width(&self) -> usize {
        self.fields.len() * self.dim
    }

    /// Floats per row: fields × dim + numeric features.
    pub fn width(&self) -> usize {
        self.field_width() + self.batch.num_dense
    }

    /// Writes examples `examples` as rows of [`FlatInput::width`] floats into `out`.
    pub fn fill(&self, examples: std::ops::Range<usize>, out: &mut [f32]) {
        let (width, field_width, num_dense) = (self.width(), self.field_width(), self.batch.num_dense);
        for (example, row) in examples.zip(out.chunks_exact_mut(width.max(1))) {
            let (embedded, dense) = row.split_at_mut(field_width);
            embedded.fill(0.0);
            gather_example(self.store, &self.fields, self.dim, example, embedded);
            dense.copy_from_slice(&self.batch.dense[example * num_dense..(example + 1) * num_dense]);
        }
    }
}

impl FlatInput<'_> {
    /// The gradient of a loss with respect to these rows (`grad`: one row of
    /// [`FlatInput::width`] floats per example, fields first) as per-table row updates for
    /// [`EmbeddingStore::apply_many`]; the numeric columns are ignored.
    pub fn row_gradients(&self, grad: &[f32]) -> Vec<RowGradients> {
        assert_eq!(grad.len(), self.len() * self.width(), "one gradient row per example");
        row_updates(&self.fields, grad, self.width(), self.dim)
    }
}

/// Every field's slice of `grad` (example rows `row_stride` apart, fields first) summed per
/// table row, fields in parallel.
fn row_updates(fields: &[FieldRows], grad: &[f32], row_stride: usize, dim: usize) -> Vec<RowGradients> {
    fields
        .par_iter()
        .enumerate()
        .filter(|(_, field)| !field.rows.is_empty())
        .map(|(f, field)| sum_per_row(field, grad, f, row_stride, dim))
        .collect()
}

/// Field `f`'s slice of the fields gradient (example rows `row_stride` apart, field `f` at
/// `f * dim` in each), summed per distinct row (a bag's ids each get the example's gradient
/// divided by the bag's length).
fn sum_per_row(field: &FieldRows, grad: &[f32], f: usize, row_stride: usize, dim: usize) -> RowGradients {
    let gather = RowGather::of_rows(&field.rows);
    let mut sums = vec![0f32; gather.rows.len() * dim];
    let mut add = |position: usize, example: usize, weight: f32| {
        let source = example * row_stride + f * dim;
        let target = gather.inverse[position] as usize * dim;
        for (s, g) in sums[target..target + dim].iter_mut().zip(&grad[source..source + dim]) {
            *s += weight * g;
        }
    };
    match &field.offsets {
        None => (0..field.rows.len()).for_each(|example| add(example, example, 1.0)),
        Some(offsets) => {
            for (example, bounds) in offsets.windows(2).enumerate() {
                let (start, end) = (bounds[0] as usize, bounds[1] as usize);
                let weight = 1.0 / (end - start).max(1) as f32;
                (start..end).for_each(|position| add(position, example, weight));
            }
        }
    }
    RowGradients { table: field.table, rows: gather.rows, grads: sums }
}

/// The batch's numeric features `[batch, num_dense]`, `None` when it has none.
fn dense_block(batch: &Batch, device: &Device) -> Option<Tensor<2>> {
    (batch.num_dense > 0)
        .then(|| Tensor::<2>::from_data(TensorData::new(batch.dense.clone(), [batch.len, batch.num_dense]), device))
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
