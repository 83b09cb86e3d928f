//! The prepared dataset: one column per feature (ids or normalised floats), labels, example
//! ids and timestamps, all in memory, plus the metadata models need to size their inputs.
//! Gathering rows into a [`Batch`] is the training hot path.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::encoder::Encoder;
use crate::error::{DataError, Result};
use crate::numeric::NumericStats;
use crate::schema::{SplitMethod, SplitSpec};
use crate::split::{Split, leave_one_out, random_split, temporal_split};

pub use crate::schema::{FeatureKind, Side};

/// What a model needs to know about one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMeta {
    pub name: String,
    pub kind: FeatureKind,
    /// Embedding rows: vocabulary size including the OOV row 0; 0 for numeric features.
    pub cardinality: usize,
    pub side: Option<Side>,
    pub max_len: Option<usize>,
    /// Fitted statistics of a numeric feature.
    pub stats: Option<NumericStats>,
}

/// Dataset-level facts, stored as `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    pub name: String,
    pub rows: usize,
    /// Mean label.
    pub label_rate: f64,
    pub features: Vec<FeatureMeta>,
    pub has_timestamp: bool,
    pub user_feature: Option<String>,
    pub item_feature: Option<String>,
    /// SHA-256 of the canonical schema and source files this was prepared from.
    pub schema_hash: String,
    /// Data rows read from the main file, kept or skipped.
    pub source_rows_read: u64,
    /// Malformed rows skipped (only with `skip_bad_rows`).
    pub source_rows_skipped: u64,
}

/// One feature's values for every row.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// One id per row.
    Categorical(Vec<u32>),
    /// Several ids per row (multi-categorical and sequence features): the ids of row `r` are
    /// `values[offsets[r]..offsets[r + 1]]`.
    Multi { offsets: Vec<u32>, values: Vec<u32> },
    /// One normalised value per row.
    Numeric(Vec<f32>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Categorical(ids) => ids.len(),
            Column::Multi { offsets, .. } => offsets.len().saturating_sub(1),
            Column::Numeric(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column restricted to `rows`, in that order. Panics on an out-of-range row.
    pub fn gather(&self, rows: &[usize]) -> Column {
        match self {
            Column::Categorical(ids) => Column::Categorical(rows.iter().map(|&r| ids[r]).collect()),
            Column::Numeric(values) => Column::Numeric(rows.iter().map(|&r| values[r]).collect()),
            Column::Multi { offsets, values } => {
                let (offsets, values) = gather_bags(offsets, values, rows);
                Column::Multi { offsets, values }
            }
        }
    }

    /// Whether this column's shape fits a feature of `kind`.
    pub fn matches(&self, kind: FeatureKind) -> bool {
        matches!(
            (self, kind),
            (Column::Categorical(_), FeatureKind::Categorical)
                | (Column::Numeric(_), FeatureKind::Numeric)
                | (
                    Column::Multi { .. },
                    FeatureKind::MultiCategorical | FeatureKind::Sequence
                )
        )
    }
}

/// Gathers variable-length rows: two exact-size allocations, no per-row allocation.
fn gather_bags(offsets: &[u32], values: &[u32], rows: &[usize]) -> (Vec<u32>, Vec<u32>) {
    let total: usize = rows
        .iter()
        .map(|&r| (offsets[r + 1] - offsets[r]) as usize)
        .sum();
    let mut out_offsets = Vec::with_capacity(rows.len() + 1);
    let mut out_values = Vec::with_capacity(total);
    out_offsets.push(0);
    for &r in rows {
        out_values.extend_from_slice(&values[offsets[r] as usize..offsets[r + 1] as usize]);
        out_offsets.push(out_values.len() as u32);
    }
    (out_offsets, out_values)
}

/// How features map onto model inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureLayout {
    /// Categorical, multi-categorical and sequence features, in schema order.
    pub sparse: Vec<SparseFeature>,
    /// Numeric feature names, in schema order (the columns of [`Batch::dense`]).
    pub dense: Vec<String>,
}

/// One embedding-table input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SparseFeature {
    pub name: String,
    pub cardinality: usize,
    /// Several ids per row (pooled by the model).
    pub bag: bool,
    pub max_len: Option<usize>,
}

/// Rows gathered for one training or scoring step.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub len: usize,
    /// Parallel to [`FeatureLayout::sparse`].
    pub sparse: Vec<SparseField>,
    /// `[len * num_dense]`, row-major.
    pub dense: Vec<f32>,
    pub num_dense: usize,
    pub labels: Vec<f32>,
    pub example_ids: Vec<u64>,
}

/// The ids of one sparse feature for a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum SparseField {
    Single(Vec<u32>),
    /// Row `r`'s ids are `values[offsets[r]..offsets[r + 1]]`; `offsets` has `len + 1` entries.
    Bag {
        offsets: Vec<u32>,
        values: Vec<u32>,
    },
}

/// The prepared, in-memory, columnar dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub meta: DatasetMeta,
    /// Parallel to `meta.features`.
    pub columns: Vec<Column>,
    pub labels: Vec<f32>,
    pub example_ids: Vec<u64>,
    pub timestamps: Option<Vec<i64>>,
    /// The fitted vocabularies and statistics; present for prepared datasets, so new files
    /// can be encoded the same way ([`crate::encode_file`]).
    pub encoder: Option<Arc<Encoder>>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn layout(&self) -> FeatureLayout {
        let features = &self.meta.features;
        FeatureLayout {
            sparse: features
                .iter()
                .filter(|f| f.kind.is_sparse())
                .map(|f| SparseFeature {
                    name: f.name.clone(),
                    cardinality: f.cardinality,
                    bag: f.kind.is_bag(),
                    max_len: f.max_len,
                })
                .collect(),
            dense: features
                .iter()
                .filter(|f| !f.kind.is_sparse())
                .map(|f| f.name.clone())
                .collect(),
        }
    }

    /// Gathers `rows` into a batch (panics on an out-of-range row, like slice indexing).
    pub fn batch(&self, rows: &[usize]) -> Batch {
        let num_dense = self
            .columns
            .iter()
            .filter(|c| matches!(c, Column::Numeric(_)))
            .count();
        let mut dense = vec![0.0f32; rows.len() * num_dense];
        let mut sparse = Vec::with_capacity(self.columns.len() - num_dense);
        let mut dense_index = 0;
        for column in &self.columns {
            match column {
                Column::Categorical(ids) => {
                    sparse.push(SparseField::Single(rows.iter().map(|&r| ids[r]).collect()));
                }
                Column::Multi { offsets, values } => {
                    let (offsets, values) = gather_bags(offsets, values, rows);
                    sparse.push(SparseField::Bag { offsets, values });
                }
                Column::Numeric(values) => {
                    for (i, &r) in rows.iter().enumerate() {
                        dense[i * num_dense + dense_index] = values[r];
                    }
                    dense_index += 1;
                }
            }
        }
        Batch {
            len: rows.len(),
            sparse,
            dense,
            num_dense,
            labels: rows.iter().map(|&r| self.labels[r]).collect(),
            example_ids: rows.iter().map(|&r| self.example_ids[r]).collect(),
        }
    }

    /// A new dataset holding `rows` in that order (panics on an out-of-range row).
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        let labels: Vec<f32> = rows.iter().map(|&r| self.labels[r]).collect();
        let mut meta = self.meta.clone();
        meta.rows = rows.len();
        meta.label_rate = label_rate(&labels);
        Dataset {
            meta,
            columns: self.columns.iter().map(|c| c.gather(rows)).collect(),
            labels,
            example_ids: rows.iter().map(|&r| self.example_ids[r]).collect(),
            timestamps: self
                .timestamps
                .as_ref()
                .map(|ts| rows.iter().map(|&r| ts[r]).collect()),
            encoder: self.encoder.clone(),
        }
    }

    /// Splits by `spec`: random, temporal (needs timestamps) or leave-one-out (needs the user
    /// feature and timestamps).
    pub fn split(&self, spec: &SplitSpec) -> Result<Split> {
        match spec.method {
            SplitMethod::Random => Ok(random_split(self.len(), spec.valid, spec.test, spec.seed)),
            SplitMethod::Temporal => Ok(temporal_split(
                self.require_timestamps("a temporal split")?,
                spec.valid,
                spec.test,
            )),
            SplitMethod::LeaveOneOut => {
                let users = self.user_column().ok_or_else(|| {
                    DataError::Invalid(format!(
                        "{}: leave_one_out needs `user` to name a categorical feature",
                        self.meta.name
                    ))
                })?;
                Ok(leave_one_out(
                    users,
                    self.require_timestamps("leave_one_out")?,
                ))
            }
        }
    }

    fn require_timestamps(&self, what: &str) -> Result<&[i64]> {
        self.timestamps.as_deref().ok_or_else(|| {
            DataError::Invalid(format!(
                "{}: {what} needs timestamps; set `timestamp = \"COLUMN\"` in the schema",
                self.meta.name
            ))
        })
    }

    /// The ids of the feature the schema names as `user`.
    pub fn user_column(&self) -> Option<&[u32]> {
        self.categorical(self.meta.user_feature.as_deref()?)
    }

    /// The ids of the feature the schema names as `item`.
    pub fn item_column(&self) -> Option<&[u32]> {
        self.categorical(self.meta.item_feature.as_deref()?)
    }

    /// Position of feature `name` in `meta.features` and `columns`.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.meta.features.iter().position(|f| f.name == name)
    }

    /// The ids of categorical feature `name`.
    pub fn categorical(&self, name: &str) -> Option<&[u32]> {
        match self.columns.get(self.feature_index(name)?)? {
            Column::Categorical(ids) => Some(ids),
            _ => None,
        }
    }

    /// The fitted encoder, when the dataset was prepared (or loaded from a prepared cache).
    pub fn encoder(&self) -> Option<&Encoder> {
        self.encoder.as_deref()
    }

    /// Writes the dataset to `dir` (see [`crate::store`]).
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::store::save(self, dir, &[])
    }

    /// Reads a dataset written by [`Dataset::save`].
    pub fn load(dir: &Path) -> Result<Dataset> {
        crate::store::load(dir)
    }

    /// Checks that every column, label, id and timestamp vector has `meta.rows` rows and
    /// that columns match their feature kinds and cardinalities.
    pub fn check_consistency(&self) -> std::result::Result<(), String> {
        let n = self.meta.rows;
        if self.columns.len() != self.meta.features.len() {
            return Err(format!(
                "{} columns for {} features",
                self.columns.len(),
                self.meta.features.len()
            ));
        }
        if self.labels.len() != n || self.example_ids.len() != n {
            return Err(format!("labels or example ids do not have {n} rows"));
        }
        if self.timestamps.as_ref().is_some_and(|t| t.len() != n) {
            return Err(format!("timestamps do not have {n} rows"));
        }
        for (column, feature) in self.columns.iter().zip(&self.meta.features) {
            if !column.matches(feature.kind) || column.len() != n {
                return Err(format!(
                    "column \"{}\" has the wrong kind or length",
                    feature.name
                ));
            }
            let ids: &[u32] = match column {
                Column::Categorical(ids) => ids,
                Column::Multi { offsets, values } => {
                    let sorted = offsets.windows(2).all(|w| w[0] <= w[1]);
                    if offsets.first() != Some(&0)
                        || !sorted
                        || offsets.last().copied() != Some(values.len() as u32)
                    {
                        return Err(format!("column \"{}\" has broken offsets", feature.name));
                    }
                    values
                }
                Column::Numeric(_) => &[],
            };
            if ids.iter().any(|&id| id as usize >= feature.cardinality) {
                return Err(format!(
                    "column \"{}\" has an id beyond its cardinality {}",
                    feature.name, feature.cardinality
                ));
            }
        }
        Ok(())
    }
}

/// Mean of `labels` (0 for none).
pub fn label_rate(labels: &[f32]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    labels.iter().map(|&l| f64::from(l)).sum::<f64>() / labels.len() as f64
}
