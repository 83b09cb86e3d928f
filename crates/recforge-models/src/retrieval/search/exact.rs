//! Exact top-K maximum inner product search.
//!
//! Items are stored in tiles of [`LANES`] items laid out dimension-major (`tile[d][lane]`),
//! so scoring a tile is `dim` broadcast-multiply-adds of one query value against 16 item
//! values — one AVX-512 (or two AVX2) fused multiply-add per step and no horizontal sums —
//! for each of the query's heads, then a max over heads. The kernel is compiled for
//! AVX-512, AVX2+FMA and plain x86-64/other targets and picked at run time. Tiles are
//! scanned in parallel chunks (rayon); each chunk keeps a bounded heap of its best K and only
//! touches it when a score beats the current K-th best; the chunks' heaps are merged.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::{Hit, MipsIndex, sort_hits};

/// Items per tile (one AVX-512 register of f32).
pub const LANES: usize = 16;
/// Tiles per parallel task.
const TILES_PER_TASK: usize = 256;

/// All item vectors in tiles of [`LANES`] items, dimension-major within a tile; the last
/// tile is padded with zero vectors that are never returned.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    dim: usize,
    len: usize,
    tiles: Vec<f32>,
}

impl ExactIndex {
    /// `vectors` row-major `[len, dim]`. Panics if `vectors.len()` is not a multiple of `dim`
    /// (a programming error).
    pub fn new(vectors: Vec<f32>, dim: usize) -> Self {
        assert!(dim > 0 && vectors.len() % dim == 0, "vectors must be [len, dim]");
        let len = vectors.len() / dim;
        let mut tiles = vec![0f32; len.div_ceil(LANES) * LANES * dim];
        for (item, row) in vectors.chunks_exact(dim).enumerate() {
            let (tile, lane) = (item / LANES, item % LANES);
            let base = tile * LANES * dim;
            for (d, &v) in row.iter().enumerate() {
                tiles[base + d * LANES + lane] = v;
            }
        }
        ExactIndex { dim, len, tiles }
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

/// Scores of one tile's 16 items: max over the query heads of the inner product.
#[inline(always)]
fn tile_scores_generic(tile: &[f32], query: &[f32], dim: usize) -> [f32; LANES] {
    let mut best = [f32::NEG_INFINITY; LANES];
    for head in query.chunks_exact(dim) {
        let mut acc = [0f32; LANES];
        for (q, column) in head.iter().zip(tile.chunks_exact(LANES)) {
            for lane in 0..LANES {
                acc[lane] = q.mul_add(column[lane], acc[lane]);
            }
        }
        for lane in 0..LANES {
            best[lane] = best[lane].max(acc[lane]);
        }
    }
    best
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn tile_scores_avx512(tile: &[f32], query: &[f32], dim: usize) -> [f32; LANES] {
    tile_scores_generic(tile, query, dim)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_scores_avx2(tile: &[f32], query: &[f32], dim: usize) -> [f32; LANES] {
    tile_scores_generic(tile, query, dim)
}

/// Scores one tile with the widest kernel this CPU runs.
type TileKernel = fn(&[f32], &[f32], usize) -> [f32; LANES];

fn pick_kernel() -> TileKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return |t, q, d| unsafe { tile_scores_avx512(t, q, d) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return |t, q, d| unsafe { tile_scores_avx2(t, q, d) };
        }
    }
    // Other targets (aarch64 has FMA natively); x86-64 without AVX2 pays a libm fmaf.
    tile_scores_generic
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
    /// Best `k` of the items in `tiles` (starting at tile `first_tile`).
    fn chunk_top_k(&self, tiles: &[f32], first_tile: usize, query: &[f32], k: usize, kernel: TileKernel) -> BinaryHeap<Worst> {
        let tile_len = LANES * self.dim;
        let mut heap = BinaryHeap::with_capacity(k + 1);
        // Scores at or below the kept K-th best cannot enter (ties resolved in push_bounded).
        let mut floor = f32::NEG_INFINITY;
        for (t, tile) in tiles.chunks_exact(tile_len).enumerate() {
            let scores = kernel(tile, query, self.dim);
            let first_item = (first_tile + t) * LANES;
            for (lane, &score) in scores.iter().enumerate() {
                let item = first_item + lane;
                if score < floor || item >= self.len {
                    continue;
                }
                push_bounded(&mut heap, Hit { item: item as u32, score }, k);
                if heap.len() == k {
                    floor = heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score);
                }
            }
        }
        heap
    }
}

impl MipsIndex for ExactIndex {
    fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        if k == 0 || query.is_empty() || query.len() % self.dim != 0 || self.len == 0 {
            return Vec::new();
        }
        let kernel = pick_kernel();
        let task = TILES_PER_TASK * LANES * self.dim;
        let heaps: Vec<BinaryHeap<Worst>> = self
            .tiles
            .par_chunks(task)
            .enumerate()
            .map(|(c, tiles)| self.chunk_top_k(tiles, c * TILES_PER_TASK, query, k, kernel))
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
        self.len
    }
}
