//! Two-tower retrieval with a multi-interest user tower, density weighting and top-K search
//! — "Density Weighting for Multi-Interest Personalized Recommendation" (arXiv 2308.01563).
//!
//! [`item_tower`] embeds items (id + side features → MLP); [`mur`] turns a history into H
//! user vectors (H = 1 is the single-representation baseline); [`loss`] scores with the max
//! over heads and trains with in-batch softmax, logQ correction, temperature and
//! per-example weights; [`kde`] and [`idw`] implement iterative density weighting;
//! [`search`] finds the top-K items exactly or with HNSW; [`retriever`] serves a history.

pub mod idw;
pub mod item_tower;
pub mod kde;
pub mod loss;
pub mod model;
pub mod mur;
pub mod retriever;
pub mod search;

pub use item_tower::{ItemFeatureTable, ItemTower, ItemTowerConfig};
pub use model::{RetrievalModel, RetrievalModelConfig};
pub use mur::{HistoryBatch, UserTower, UserTowerConfig};
pub use retriever::{BprQuery, MultiHotQuery, QueryEncoder, Retriever, SasRecQuery, TowerQuery};
pub use search::{ExactIndex, Hit, MipsIndex};
#[cfg(feature = "hnsw")]
pub use search::{HnswIndex, HnswParams};
#[cfg(feature = "usearch")]
pub use search::UsearchIndex;
