//! Exact top-K maximum inner product search. Items are scanned in blocks of
//! [`BLOCK`] rows in parallel (rayon); within a block the dot products run over eight
//! independent accumulators so the compiler vectorises them, and a bounded min-heap keeps
//! each block's best K; the blocks' heaps are merged at the end.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::{Hit, MipsIndex, sort_hits};

/// Items per parallel block.
pub const BLOCK: usize = 2048;

/// All item vectors, row-major `[len, dim]`.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    dim: usize,
    vectors: Vec<f32>,
}

impl ExactIndex {
    /// Panics if `vectors.len()` is not a multiple of `dim` (a programming error).
    pub fn new(vectors: Vec<f32>, dim: usize) -> Self {
        assert!(dim > 0 && vectors.len() % dim == 0, "vectors must be [len, dim]");
        ExactIndex { dim, vectors }
    }

    pub fn vectors(&self) -> &[f32] {
        &self.vectors
    }
}

/// Dot product over eight lanes (vectorises to SIMD adds and multiplies).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a[chunks..].iter().zip(&b[chunks..]).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

/// Heap entry ordered so the heap's top is the worst kept hit.
#[derive(PartialEq)]
struct Worst(Hit);

impl Eq for Worst {}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        // Larger = worse: lower score, or equal score and larger id.
        other.0.score.total_cmp(&self.0.score).then(self.0.item.cmp(&other.0.item))
    }
}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn push_bounded(heap: &mut BinaryHeap<Worst>, hit: Hit, k: usize) {
    if heap.len() < k {
        heap.push(Worst(hit));
    } else if let Some(top) = heap.peek()
        && Worst(hit).cmp(top) == Ordering::Less
    {
        heap.pop();
        heap.push(Worst(hit));
    }
}

impl ExactIndex {
    /// Best `k` of the items in `block` (starting at item `first`).
    fn block_top_k(&self, block: &[f32], first: usize, query: &[f32], k: usize) -> BinaryHeap<Worst> {
        let dim = self.dim;
        let mut heap = BinaryHeap::with_capacity(k + 1);
        for (offset, item) in block.chunks_exact(dim).enumerate() {
            let score = query.chunks_exact(dim).map(|q| dot(q, item)).fold(f32::NEG_INFINITY, f32::max);
            push_bounded(&mut heap, Hit { item: (first + offset) as u32, score }, k);
        }
        heap
    }
}

impl MipsIndex for ExactIndex {
    fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        if k == 0 || query.is_empty() || query.len() % self.dim != 0 {
            return Vec::new();
        }
        let rows = BLOCK * self.dim;
        let heaps: Vec<BinaryHeap<Worst>> = self
            .vectors
            .par_chunks(rows)
            .enumerate()
            .map(|(b, block)| self.block_top_k(block, b * BLOCK, query, k))
            .collect();
        let mut merged = BinaryHeap::with_capacity(k + 1);
        for heap in heaps {
            for Worst(hit) in heap {
                push_bounded(&mut merged, hit, k);
            }
        }
        let mut hits: Vec<Hit> = merged.into_iter().map(|w| w.0).collect();
        sort_hits(&mut hits);
        hits
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.vectors.len() / self.dim
    }
}
