//! Approximate top-K inner product search with an HNSW graph from the `hnsw_rs` crate.
//! HNSW searches by a distance, so inner product is reduced to Euclidean distance with the
//! standard augmentation (Bachrach et al. 2014): item x ↦ [x, √(M² − ‖x‖²)] with M the
//! largest item norm, query q ↦ [q, 0]; then ‖q' − x'‖² = ‖q‖² + M² − 2⟨q, x⟩. A
//! multi-vector query searches each head, pools the candidates and rescores them exactly
//! with the max over heads.

use hnsw_rs::prelude::{Distance, Hnsw};

use super::exact::dot;
use super::{Hit, MipsIndex, sort_hits};

/// Graph construction and search parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HnswParams {
    /// Neighbours per node (M).
    pub connections: usize,
    /// Candidate list size while building.
    pub ef_construction: usize,
    /// Candidate list size while searching (raised to k when smaller).
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { connections: 16, ef_construction: 100, ef_search: 64 }
    }
}

/// Euclidean distance with 8 independent accumulators, which the compiler keeps in SIMD
/// registers (a serial float sum cannot be vectorised).
#[derive(Debug, Clone, Copy, Default)]
pub struct LanesL2;

impl Distance<f32> for LanesL2 {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0f32; 8];
        let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| (x - y) * (x - y)).sum();
        for (x, y) in chunks_a.zip(chunks_b) {
            for lane in 0..8 {
                let d = x[lane] - y[lane];
                lanes[lane] += d * d;
            }
        }
        (lanes.iter().sum::<f32>() + tail).sqrt()
    }
}

/// Layers of the graph (hnsw_rs caps it at 16).
const MAX_LAYERS: usize = 16;

/// An HNSW graph over augmented item vectors, plus the raw vectors for exact rescoring.
pub struct HnswIndex {
    dim: usize,
    vectors: Vec<f32>,
    graph: Hnsw<'static, f32, LanesL2>,
    params: HnswParams,
}

impl HnswIndex {
    /// Builds the graph (insertion runs in parallel on rayon's pool).
    pub fn build(vectors: Vec<f32>, dim: usize, params: HnswParams) -> Self {
        assert!(dim > 0 && vectors.len() % dim == 0, "vectors must be [len, dim]");
        let len = vectors.len() / dim;
        let norms: Vec<f32> = vectors.chunks_exact(dim).map(|v| dot(v, v)).collect();
        let max_norm = norms.iter().copied().fold(0f32, f32::max);
        let augmented: Vec<Vec<f32>> = vectors
            .chunks_exact(dim)
            .zip(&norms)
            .map(|(v, n)| {
                let mut a = Vec::with_capacity(dim + 1);
                a.extend_from_slice(v);
                a.push((max_norm - n).max(0.0).sqrt());
                a
            })
            .collect();
        let graph = Hnsw::<f32, LanesL2>::new(params.connections, len.max(1), MAX_LAYERS, params.ef_construction, LanesL2);
        let refs: Vec<(&[f32], usize)> = augmented.iter().enumerate().map(|(i, v)| (v.as_slice(), i)).collect();
        graph.parallel_insert_slice(&refs);
        HnswIndex { dim, vectors, graph, params }
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the search-time candidate list size.
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef;
    }
}

impl MipsIndex for HnswIndex {
    fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        let dim = self.dim;
        if k == 0 || query.is_empty() || query.len() % dim != 0 {
            return Vec::new();
        }
        let ef = self.params.ef_search.max(k);
        let mut candidates: Vec<u32> = Vec::new();
        for head in query.chunks_exact(dim) {
            let mut q = Vec::with_capacity(dim + 1);
            q.extend_from_slice(head);
            q.push(0.0);
            candidates.extend(self.graph.search(&q, k, ef).iter().map(|n| n.d_id as u32));
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut hits: Vec<Hit> = candidates
            .into_iter()
            .map(|item| {
                let v = &self.vectors[item as usize * dim..(item as usize + 1) * dim];
                let score = query.chunks_exact(dim).map(|q| dot(q, v)).fold(f32::NEG_INFINITY, f32::max);
                Hit { item, score }
            })
            .collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.vectors.len() / self.dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_l2_matches_the_serial_distance_for_every_length() {
        for len in [0usize, 1, 7, 8, 9, 33, 64] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let serial = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
            let got = LanesL2.eval(&a, &b);
            assert!((got - serial).abs() <= 1e-5 * serial.max(1.0), "len {len}: {got} vs {serial}");
        }
    }
}
