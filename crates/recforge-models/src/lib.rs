//! recforge-models: the EmbeddingStore (sparse tables with row-wise optimizers), the shared
//! layer library on burn, the ranking models behind the [`ranking::RankingModel`] trait, and
//! two-tower multi-interest retrieval with density weighting and top-K search ([`retrieval`]),
//! and sequential next-item models (SASRec, [`sequential`]).

pub mod embedding_store;
pub mod layers;
pub mod linalg;
pub mod ranking;
pub mod retrieval;
pub mod sequential;
pub mod sparse_optim;

pub use embedding_store::{EmbeddingStore, RowGather, RowGradients, StoreError, TableSpec};
pub use layers::{DenseEmbeddingRanker, EmbeddedBatch, ModelInput};
pub use ranking::{ModelConfig, Ranker, RankingModel};
pub use sparse_optim::SparseOptimizer;
