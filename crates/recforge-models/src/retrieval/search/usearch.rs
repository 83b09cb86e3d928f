//! Approximate top-K inner product search with USearch (`usearch` crate: a single-header C++
//! HNSW with SIMD distance kernels picked at run time), built on the inner-product metric
//! (`1 − ⟨a, b⟩`; USearch needs no non-negative distances, so no query scaling). Vectors are
//! added from rayon's threads. A multi-vector query searches each head, pools the candidates and
//! rescores them exactly with the max over heads, as [`super::HnswIndex`] does.

use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::hnsw::HnswParams;
use super::{Hit, MipsIndex, rescore_candidates};

/// A USearch inner-product graph over the item vectors, plus the vectors for exact rescoring.
pub struct UsearchIndex {
    dim: usize,
    vectors: Vec<f32>,
    index: Index,
    params: HnswParams,
}

/// A USearch call failed (out of memory, most likely).
#[derive(Debug, thiserror::Error)]
#[error("usearch: {0}")]
pub struct UsearchError(String);

fn error(e: impl std::fmt::Display) -> UsearchError {
    UsearchError(e.to_string())
}

impl UsearchIndex {
    /// Builds the graph with `params.connections` neighbours per node and the build and search
    /// candidate list sizes of `params`; insertion runs on rayon's threads.
    pub fn build(vectors: Vec<f32>, dim: usize, params: HnswParams) -> Result<Self, UsearchError> {
        assert!(dim > 0 && vectors.len() % dim == 0, "vectors must be [len, dim]");
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::IP,
            quantization: ScalarKind::F32,
            connectivity: params.connections,
            expansion_add: params.ef_construction,
            expansion_search: params.ef_search,
            multi: false,
        };
        let index = Index::new(&options).map_err(error)?;
        let len = vectors.len() / dim;
        index.reserve_capacity_and_threads(len, rayon::current_num_threads().max(1)).map_err(error)?;
        vectors.par_chunks_exact(dim).enumerate().try_for_each(|(item, v)| index.add(item as u64, v)).map_err(error)?;
        Ok(UsearchIndex { dim, vectors, index, params })
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the search-time candidate list size.
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef;
        self.index.change_expansion_search(ef);
    }

    /// Bytes the graph and its vector copy take inside USearch.
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }
}

impl MipsIndex for UsearchIndex {
    fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        let dim = self.dim;
        if k == 0 || query.is_empty() || query.len() % dim != 0 {
            return Vec::new();
        }
        let mut candidates: Vec<u32> = Vec::new();
        for head in query.chunks_exact(dim) {
            // A failed search (only on allocation failure) contributes no candidates.
            if let Ok(found) = self.index.search(head, k) {
                candidates.extend(found.keys.iter().map(|&key| key as u32));
            }
        }
        rescore_candidates(query, &self.vectors, dim, candidates, k)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.vectors.len() / self.dim
    }
}

/// What [`calibrated`] settled on for a catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// The smallest candidate list size that reached the target recall (`None`: none did).
    pub ef: Option<usize>,
    /// Recall@[`CALIBRATION_K`] of the probes at that ef (at the largest ef tried when none did).
    pub recall: f64,
}

/// Recall is measured at this K.
pub const CALIBRATION_K: usize = 10;
/// Item vectors used as probe queries.
const CALIBRATION_PROBES: usize = 200;
/// Candidate list sizes tried, smallest first.
const CALIBRATION_EFS: [usize; 5] = [32, 64, 128, 256, 512];

/// Builds the USearch graph over `vectors` and picks the smallest ef in 32…512 whose
/// recall@10 against exact search reaches `target` on probe queries — 200 of the catalogue's
/// own item vectors, evenly spaced, each excluded from its own answer. Item vectors stand in
/// for the user vectors the service will send (those are unknown at load time). Returns the
/// index (at the chosen ef, or the largest tried) and what was measured; the caller falls back
/// to exact search when `ef` is `None`.
pub fn calibrated(vectors: Vec<f32>, dim: usize, params: HnswParams, target: f64) -> Result<(UsearchIndex, Calibration), UsearchError> {
    let n = vectors.len() / dim.max(1);
    let step = (n / CALIBRATION_PROBES).max(1);
    let probes: Vec<usize> = (0..n).step_by(step).take(CALIBRATION_PROBES).collect();
    let queries: Vec<&[f32]> = probes.iter().map(|&i| &vectors[i * dim..(i + 1) * dim]).collect();
    let without_self = |hits: Vec<Hit>, probe: usize| -> Vec<u32> {
        hits.into_iter().map(|h| h.item).filter(|&item| item as usize != probe).take(CALIBRATION_K).collect()
    };
    let exact = super::ExactIndex::new(vectors.clone(), dim);
    let truth: Vec<Vec<u32>> = exact.search_batch(&queries, CALIBRATION_K + 1).into_iter().zip(&probes).map(|(h, &p)| without_self(h, p)).collect();
    drop(exact);
    let mut index = UsearchIndex::build(vectors.clone(), dim, params)?;
    let mut calibration = Calibration { ef: None, recall: 0.0 };
    for ef in CALIBRATION_EFS {
        index.set_ef_search(ef);
        let found: usize = queries
            .iter()
            .zip(&probes)
            .zip(&truth)
            .map(|((q, &p), t)| without_self(index.search(q, CALIBRATION_K + 1), p).iter().filter(|item| t.contains(item)).count())
            .sum();
        let recall = found as f64 / truth.iter().map(Vec::len).sum::<usize>().max(1) as f64;
        calibration.recall = recall;
        if recall >= target {
            calibration.ef = Some(ef);
            break;
        }
    }
    Ok((index, calibration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::search::ExactIndex;
    use crate::retrieval::search::bench::random_vectors; // (the `usearch` feature implies `hnsw`)

    #[test]
    fn usearch_finds_nearly_what_exact_search_finds() {
        let (n, dim, k) = (2000, 16, 10);
        let vectors = random_vectors(n, dim, 5);
        let exact = ExactIndex::new(vectors.clone(), dim);
        let index = UsearchIndex::build(vectors, dim, HnswParams { connections: 16, ef_construction: 100, ef_search: 64 }).expect("builds");
        assert_eq!((index.len(), index.dim()), (n, dim));
        let queries = random_vectors(50, 2 * dim, 9);
        let mut found = 0;
        for q in queries.chunks_exact(2 * dim) {
            let truth: Vec<u32> = exact.search(q, k).iter().map(|h| h.item).collect();
            let hits = index.search(q, k);
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "best first");
            found += hits.iter().filter(|h| truth.contains(&h.item)).count();
        }
        let recall = found as f64 / (50 * k) as f64;
        assert!(recall > 0.9, "recall@{k} {recall}");
    }

    #[test]
    fn calibration_picks_the_smallest_ef_that_reaches_the_target() {
        let (n, dim) = (3000, 8);
        let params = HnswParams { connections: 16, ef_construction: 100, ef_search: 64 };
        let (index, easy) = calibrated(random_vectors(n, dim, 7), dim, params, 0.5).expect("builds");
        assert_eq!((easy.ef, index.params().ef_search), (Some(32), 32), "8-d data: ef 32 finds half of the top 10");
        assert!(easy.recall >= 0.5);
        let (_, impossible) = calibrated(random_vectors(n, dim, 7), dim, params, 1.01).expect("builds");
        assert_eq!(impossible.ef, None, "no ef reaches a recall above 1");
        assert!(impossible.recall > 0.9, "the largest ef was measured: {}", impossible.recall);
    }
}
