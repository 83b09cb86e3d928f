//! Top-K maximum inner product search over item vectors: [`ExactIndex`] scans every item
//! (blocked, SIMD-friendly dot products, rayon over blocks); [`HnswIndex`] (`hnsw_rs`, behind
//! the `hnsw` feature) and [`UsearchIndex`] (USearch's C++ HNSW with SIMD inner products,
//! behind the `usearch` feature) answer approximately from a graph. A query is one or several
//! vectors (a multi-interest user's H heads); an item's score is the max over the query vectors.

#[cfg(feature = "hnsw")]
pub mod bench;
pub mod exact;
#[cfg(feature = "hnsw")]
pub mod hnsw;
#[cfg(feature = "usearch")]
pub mod usearch;

pub use exact::ExactIndex;
#[cfg(feature = "hnsw")]
pub use hnsw::{HnswIndex, HnswParams};
#[cfg(feature = "usearch")]
pub use usearch::{Calibration, UsearchIndex, calibrated};

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
    /// [`MipsIndex::search`] for each of `queries`, in order; by default the queries are
    /// spread over rayon's threads.
    fn search_batch(&self, queries: &[&[f32]], k: usize) -> Vec<Vec<Hit>> {
        use rayon::prelude::*;
        queries.par_iter().map(|q| self.search(q, k)).collect()
    }
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

/// A graph index's answer for a multi-head query: the candidates every head's graph search
/// found (any order, repeats allowed), rescored exactly with the max over heads, best `k`.
#[cfg(any(feature = "hnsw", feature = "usearch"))]
pub(crate) fn rescore_candidates(query: &[f32], vectors: &[f32], dim: usize, mut candidates: Vec<u32>, k: usize) -> Vec<Hit> {
    candidates.sort_unstable();
    candidates.dedup();
    let mut hits: Vec<Hit> = candidates
        .into_iter()
        .map(|item| {
            let v = &vectors[item as usize * dim..(item as usize + 1) * dim];
            let score = query.chunks_exact(dim).map(|q| exact::dot(q, v)).fold(f32::NEG_INFINITY, f32::max);
            Hit { item, score }
        })
        .collect();
    sort_hits(&mut hits);
    hits.truncate(k);
    hits
}
