//! Self-contained model folders: everything needed to score raw rows, with no training data.
//!
//! [`Run::save`](crate::Run::save) writes, beside the run's own files:
//!
//! | file | what |
//! |---|---|
//! | `schema.toml` | the data schema, copied; join tables copied under `side/` (relative paths) |
//! | `encoder.json` | vocabularies (token → id, or hash buckets) and numeric statistics per feature |
//! | `model.safetensors` | dense weights `dense.<module path>` and embedding tables `embedding.<feature>` `[rows, dim]`, f32 |
//! | `metadata.json` | format version, model kind, table layout, recforge version, git commit, time, host, CPU, build profile |
//! | `config.toml` | the resolved config, `[data] schema = "schema.toml"` |
//!
//! [`ScoringModel::load`] reads such a folder from anywhere; [`ScoringModel::score`] scores
//! raw rows (feature name → raw value), [`ScoringModel::predict_file`] streams a CSV, TSV or
//! Parquet file into a scores file. The CLI (`recforge predict`), the server
//! (`POST /v1/score`) and `bench/python/score_reference.py` all read this format.

mod export;
pub mod metadata;
mod predict;
mod scoring;
pub mod tensors;

pub use export::{copy_model_folder, write_model_folder};
pub use metadata::{FORMAT_VERSION, ModelMetadata, TableMeta};
pub use predict::{InMemoryScores, PredictOptions, PredictReport};
pub use scoring::{RawRow, RawScalar, RawValue, ScoringError, ScoringModel};

/// File names inside a model folder.
pub struct Files;

impl Files {
    pub const SCHEMA: &'static str = "schema.toml";
    pub const ENCODER: &'static str = "encoder.json";
    pub const WEIGHTS: &'static str = "model.safetensors";
    pub const METADATA: &'static str = "metadata.json";
    /// Join tables copied from the training data.
    pub const SIDE: &'static str = "side";
    /// `<folder>/CURRENT`: the name of the sub-folder that is the current model (for hot reload).
    pub const CURRENT: &'static str = "CURRENT";
}

/// Tensor name prefixes in `model.safetensors`.
pub const DENSE_PREFIX: &str = "dense.";
pub const EMBEDDING_PREFIX: &str = "embedding.";
