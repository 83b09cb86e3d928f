//! Exact top-K maximum inner product search.
//!
//! Items are stored in tiles of [`LANES`] items laid out dimension-major (`tile[d][lane]`),
//! so scoring a tile is `dim` broadcast-multiply-adds of one query value against 16 item
//! values — one AVX-512 (or two AVX2) fused multiply-add per step and no horizontal sums —
//! for each of the query's heads, then a max over heads. The kernel is compiled for
//! AVX-512, AVX2+FMA and plain x86-64/other targets and picked at run time. Tiles are
//! scanned in parallel chunks (rayon); each chunk keeps a bounded heap of its best K and only
//! touches it when a score beats the current K-th best; the chunks' heaps are merged.
//! A batch of queries is one pass over the tiles: each tile, loaded once, is scored against
//! [`ROWS`] query vectors at a time (independent accumulators, so the multiply-adds pipeline),
//! which makes batched search compute-bound like a GEMM instead of memory-bound per query.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::{Hit, MipsIndex, sort_hits};

/// Items per tile (one AVX-512 register of f32).
pub const LANES: usize = 16;
/// Query vectors scored against a tile at once in batched search.
const ROWS: usize = 8;
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

    /// Bytes of the tiled item vectors.
    pub fn memory_bytes(&self) -> usize {
        self.tiles.len() * std::mem::size_of::<f32>()
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

/// Inner products of one tile's 16 items with [`ROWS`] query vectors (`rows`: `[ROWS, dim]`).
#[inline(always)]
fn tile_rows_generic(tile: &[f32], rows: &[f32], dim: usize) -> [[f32; LANES]; ROWS] {
    let mut acc = [[0f32; LANES]; ROWS];
    for (d, column) in tile.chunks_exact(LANES).enumerate() {
        for (r, acc) in acc.iter_mut().enumerate() {
            let q = rows[r * dim + d];
            for lane in 0..LANES {
                acc[lane] = q.mul_add(column[lane], acc[lane]);
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn tile_rows_avx512(tile: &[f32], rows: &[f32], dim: usize) -> [[f32; LANES]; ROWS] {
    tile_rows_generic(tile, rows, dim)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_rows_avx2(tile: &[f32], rows: &[f32], dim: usize) -> [[f32; LANES]; ROWS] {
    tile_rows_generic(tile, rows, dim)
}

type RowsKernel = fn(&[f32], &[f32], usize) -> [[f32; LANES]; ROWS];

fn pick_rows_kernel() -> RowsKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return |t, r, d| unsafe { tile_rows_avx512(t, r, d) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return |t, r, d| unsafe { tile_rows_avx2(t, r, d) };
        }
    }
    tile_rows_generic
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

/// A batch of queries as one matrix of query vectors (every head of every query, padded with
/// zero rows to a multiple of [`ROWS`]) and, per query, its range of rows.
struct QueryRows {
    rows: Vec<f32>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl QueryRows {
    fn new(queries: &[&[f32]], dim: usize) -> Self {
        let mut rows = Vec::new();
        let mut ranges = Vec::with_capacity(queries.len());
        for q in queries {
            let first = rows.len() / dim;
            // Queries that are not whole vectors get no rows (and no hits), as in `search`.
            if q.len() % dim == 0 {
                rows.extend_from_slice(q);
            }
            ranges.push(first..rows.len() / dim);
        }
        rows.resize((rows.len() / dim).next_multiple_of(ROWS) * dim, 0.0);
        QueryRows { rows, ranges }
    }
}

impl ExactIndex {
    /// Per query, the best `k` of the items in `tiles` (starting at tile `first_tile`).
    fn chunk_top_k_batch(&self, tiles: &[f32], first_tile: usize, queries: &QueryRows, k: usize, kernel: RowsKernel) -> Vec<BinaryHeap<Worst>> {
        let dim = self.dim;
        let mut heaps: Vec<BinaryHeap<Worst>> = queries.ranges.iter().map(|_| BinaryHeap::with_capacity(k + 1)).collect();
        let mut floors = vec![f32::NEG_INFINITY; queries.ranges.len()];
        let mut scores = vec![[0f32; LANES]; queries.rows.len() / dim];
        for (t, tile) in tiles.chunks_exact(LANES * dim).enumerate() {
            for (block, out) in queries.rows.chunks_exact(ROWS * dim).zip(scores.chunks_exact_mut(ROWS)) {
                out.copy_from_slice(&kernel(tile, block, dim));
            }
            let first_item = (first_tile + t) * LANES;
            let lanes = LANES.min(self.len.saturating_sub(first_item));
            for ((range, heap), floor) in queries.ranges.iter().zip(&mut heaps).zip(&mut floors) {
                let Some((first, rest)) = scores[range.clone()].split_first() else { continue };
                // The max over the query's heads, lane-wise (vectorised), then one comparison
                // against the kept K-th best before any lane is looked at on its own.
                let mut best = *first;
                for head in rest {
                    for (b, s) in best.iter_mut().zip(head) {
                        *b = b.max(*s);
                    }
                }
                if best.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s)) < *floor {
                    continue;
                }
                for (lane, &score) in best.iter().enumerate().take(lanes) {
                    if score < *floor {
                        continue;
                    }
                    push_bounded(heap, Hit { item: (first_item + lane) as u32, score }, k);
                    if heap.len() == k {
                        *floor = heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score);
                    }
                }
            }
        }
        heaps
    }
}

impl MipsIndex for ExactIndex {
    /// One pass over the items for the whole batch (see the module doc).
    fn search_batch(&self, queries: &[&[f32]], k: usize) -> Vec<Vec<Hit>> {
        if k == 0 || self.len == 0 {
            return vec![Vec::new(); queries.len()];
        }
        let rows = QueryRows::new(queries, self.dim);
        let kernel = pick_rows_kernel();
        let task = TILES_PER_TASK * LANES * self.dim;
        let chunks: Vec<Vec<BinaryHeap<Worst>>> =
            self.tiles.par_chunks(task).enumerate().map(|(c, tiles)| self.chunk_top_k_batch(tiles, c * TILES_PER_TASK, &rows, k, kernel)).collect();
        (0..queries.len())
            .map(|q| {
                let mut merged = BinaryHeap::with_capacity(k + 1);
                for heaps in &chunks {
                    for Worst(hit) in heaps[q].iter() {
                        push_bounded(&mut merged, *hit, k);
                    }
                }
                let mut hits: Vec<Hit> = merged.into_iter().map(|w| w.0).collect();
                sort_hits(&mut hits);
                hits
            })
            .collect()
    }

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
