//! Top-K maximum inner product search over item vectors: [`ExactIndex`] scans every item
//! (blocked, SIMD-friendly dot products, rayon over blocks) and [`HnswIndex`] answers
//! approximately from an HNSW graph (`hnsw_rs`, behind the `hnsw` feature). A query is one or several vectors (a
//! multi-interest user's H heads); an item's score is the max over the query vectors.

#[cfg(feature = "hnsw")]
pub mod bench;
pub mod exact;
#[cfg(feature = "hnsw")]
pub mod hnsw;

pub use exact::ExactIndex;
#[cfg(feature = "hnsw")]
pub use hnsw::{HnswIndex, HnswParams};

/// One retrieved item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub item: u32,
    pub score: f32,
}

/// Anything that returns the top-K items for a query.
pub trait MipsIndex: Send + Sync {
    /// The `k` best items for `query` (row-major `[heads, dim]`), best first; ties by
    /// ascending item id.
    fn search(&self, query: &[f32], k: usize) -> Vec<Hit>;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Number of indexed items.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Orders hits best first, ties by ascending item id.
pub(crate) fn sort_hits(hits: &mut [Hit]) {
    hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
}
