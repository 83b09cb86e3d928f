//! The shared layer library every model composes (FuxiCTR's idea: models are short files
//! over these blocks).

pub mod dense_embedding;
pub mod dropout;
pub mod field_embedding;
pub mod mlp;

pub use dense_embedding::DenseEmbeddingRanker;
pub use dropout::{Dropout, seed_dropout};
pub use field_embedding::{EmbeddedBatch, ModelInput};
pub use mlp::{Mlp, MlpConfig};
