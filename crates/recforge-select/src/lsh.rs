//! The LSH count sketch behind the Density sampler: R rows of K concatenated p-stable L2 hashes
//! h(x) = ⌊(w·x + b)/width⌋ per point, one counter per (row, bucket).
//!
//! Hashing is batched: a block of points `X [m][dim]` is projected with one GEMM,
//! `D [R·K][m] = W [R·K][dim] · Xᵀ`, and the floors and bucket hashes then run over each row of
//! `D`, so the multiply-adds go through the `gemm` crate's SIMD kernels rather than per-point dot
//! products. Pass 1 counts row by row (each thread owns whole sketch rows, so no atomics and a
//! 256 KiB working set per row); pass 2 sums the counts of each point's buckets. [`LshSketch::buckets`]
//! is the per-point scalar reference the batched path is tested against.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SelectError};

/// Points projected per GEMM: large enough to amortise packing the projections, small enough
/// that a block's projections (`R·K × BLOCK` f32) stay in L2.
const BLOCK: usize = 512;

/// Points hashed before their counts are added in pass 1 (bounds the cell buffer to
/// `rows × COUNT_CHUNK` u32, 4 MiB with the default 64 rows).
const COUNT_CHUNK: usize = 16 * 1024;

/// FNV-1a offset basis and prime, the mixing of concatenated hash cells into one bucket.
const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// Sketch settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LshConfig {
    /// Independent sketch rows R (the estimate averages them).
    pub rows: usize,
    /// p-stable hashes concatenated per row K (sharper kernel with more).
    pub hashes_per_row: usize,
    /// Bucket width of each hash, in embedding distance units.
    pub width: f32,
    /// Buckets per row B.
    pub buckets: usize,
    pub seed: u64,
}

impl Default for LshConfig {
    /// Sized for L2-normalised sentence embeddings (distances in [0, 2]).
    fn default() -> Self {
        LshConfig { rows: 64, hashes_per_row: 4, width: 1.0, buckets: 1 << 16, seed: 0 }
    }
}

/// The LSH functions and the count sketch of one pass.
pub struct LshSketch {
    config: LshConfig,
    dim: usize,
    /// `[rows·hashes_per_row][dim]` Gaussian projections.
    projections: Vec<f32>,
    /// `[rows·hashes_per_row]` offsets in [0, width).
    offsets: Vec<f32>,
    /// `[rows][buckets]` counts.
    counts: Vec<u32>,
    points: u64,
}

/// `⌊x⌋ as i64` without a libm call (x86-64 without SSE4.1 has no floor instruction); equal
/// to `x.floor() as i64` for every f32, NaN and infinities included.
#[inline(always)]
fn floor_i64(x: f32) -> i64 {
    let t = x as i64;
    t.saturating_sub(((t as f32) > x) as i64)
}

/// One concatenated-hash mixing step.
#[inline(always)]
fn mix(h: u64, cell: i64) -> u64 {
    let h = (h ^ cell as u64).wrapping_mul(FNV_PRIME);
    h ^ (h >> 29)
}

/// `h[i] ← mix(h[i], ⌊(dots[i] + offset) / width⌋)` over one row of projections: with AVX-512
/// (checked once at run time) the floor, the f32 → i64 conversion and the 64-bit multiply all
/// vectorise; otherwise a portable loop.
fn mix_row(hs: &mut [u64], dots: &[f32], offset: f32, width: f32) {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *AVX512.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq")) {
            // SAFETY: the CPU supports the enabled features (checked just above).
            unsafe { mix_row_avx512(hs, dots, offset, width) };
            return;
        }
    }
    for (h, &dot) in hs.iter_mut().zip(dots) {
        *h = mix(*h, floor_i64((dot + offset) / width));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn mix_row_avx512(hs: &mut [u64], dots: &[f32], offset: f32, width: f32) {
    for (h, &dot) in hs.iter_mut().zip(dots) {
        *h = mix(*h, ((dot + offset) / width).floor() as i64);
    }
}

/// Where the points of one call live: a flat `[n][dim]` buffer or one `Vec` per point.
#[derive(Clone, Copy)]
enum Points<'a> {
    Flat(&'a [f32]),
    Rows(&'a [Vec<f32>]),
}

impl<'a> Points<'a> {
    fn len(&self, dim: usize) -> usize {
        match self {
            Points::Flat(x) => x.len() / dim,
            Points::Rows(x) => x.len(),
        }
    }

    /// Points `start..start + m` as one contiguous `[m][dim]` slice (copied into `buf` for `Rows`).
    fn block<'b>(&self, start: usize, m: usize, dim: usize, buf: &'b mut Vec<f32>) -> &'b [f32]
    where
        'a: 'b,
    {
        match self {
            Points::Flat(x) => &x[start * dim..(start + m) * dim],
            Points::Rows(x) => {
                buf.clear();
                x[start..start + m].iter().for_each(|p| buf.extend_from_slice(p));
                buf
            }
        }
    }
}

/// Per-thread buffers of the batched hashing.
#[derive(Default)]
struct Scratch {
    /// A `Rows` block copied contiguously.
    gathered: Vec<f32>,
    /// `[rows·K][m]` projections of the block.
    dots: Vec<f32>,
    /// `[m]` running hash of the current row.
    hashes: Vec<u64>,
    /// `[rows][m]` bucket of each point within each row.
    cells: Vec<u32>,
}

impl LshSketch {
    pub fn new(config: &LshConfig, dim: usize) -> Result<Self> {
        if config.rows == 0 || config.hashes_per_row == 0 || config.buckets == 0 || dim == 0 {
            return Err(SelectError::Config(format!("LSH sketch needs rows, hashes, buckets and dim > 0: {config:?}, dim {dim}")));
        }
        if config.buckets > u32::MAX as usize {
            return Err(SelectError::Config(format!("LSH buckets must be at most {}, got {}", u32::MAX, config.buckets)));
        }
        if !(config.width > 0.0 && config.width.is_finite()) {
            return Err(SelectError::Config(format!("LSH width must be positive, got {}", config.width)));
        }
        let mut rng = StdRng::seed_from_u64(config.seed);
        let hashes = config.rows * config.hashes_per_row;
        let projections = (0..hashes * dim).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
        let offsets = (0..hashes).map(|_| rng.random::<f32>() * config.width).collect();
        Ok(LshSketch {
            config: config.clone(),
            dim,
            projections,
            offsets,
            counts: vec![0; config.rows * config.buckets],
            points: 0,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn config(&self) -> &LshConfig {
        &self.config
    }

    /// The bucket of `x` in each row: `out[r]`, an index into the flat `[rows][buckets]` sketch.
    /// The per-point scalar reference of the batched hashing ([`LshSketch::block_buckets`]).
    pub fn buckets(&self, x: &[f32], out: &mut [usize]) {
        let k = self.config.hashes_per_row;
        for (r, slot) in out.iter_mut().enumerate().take(self.config.rows) {
            let mut h: u64 = FNV_OFFSET ^ r as u64;
            for j in 0..k {
                let id = r * k + j;
                let w = &self.projections[id * self.dim..(id + 1) * self.dim];
                let dot: f32 = w.iter().zip(x).map(|(a, b)| a * b).sum();
                h = mix(h, ((dot + self.offsets[id]) / self.config.width).floor() as i64);
            }
            *slot = r * self.config.buckets + (h % self.config.buckets as u64) as usize;
        }
    }

    /// Batched hashing of the `m = points.len() / dim` points of a flat `[m][dim]` block:
    /// `cells[r·m + i]` is point i's bucket within row r (add `r · buckets` for the flat sketch
    /// index). Agrees with [`LshSketch::buckets`] up to rounding at bucket borders.
    pub fn block_buckets(&self, points: &[f32], cells: &mut [u32]) {
        let m = points.len() / self.dim;
        assert_eq!(points.len(), m * self.dim, "points must be a whole number of {}-d rows", self.dim);
        assert_eq!(cells.len(), m * self.config.rows, "cells must hold rows × points");
        let mut scratch = Scratch::default();
        for (b, start) in (0..m).step_by(BLOCK).enumerate() {
            let len = BLOCK.min(m - start);
            let block = &points[start * self.dim..(start + len) * self.dim];
            self.hash_block(block, len, &mut scratch);
            for r in 0..self.config.rows {
                let src = scratch_cells(&scratch, r, len);
                cells[r * m + b * BLOCK..r * m + b * BLOCK + len].copy_from_slice(src);
            }
        }
    }

    /// Hashes one block of `m ≤ BLOCK` contiguous points into `scratch.cells`.
    fn hash_block(&self, x: &[f32], m: usize, scratch: &mut Scratch) {
        let (rows, k, dim) = (self.config.rows, self.config.hashes_per_row, self.dim);
        let hashes = rows * k;
        scratch.dots.resize(hashes * m, 0.0);
        // SAFETY: dims and strides describe the three buffers exactly: dst [hashes][m] row-major,
        // lhs = projections [hashes][dim] row-major, rhs = xᵀ (element (d, i) at x[i·dim + d]).
        unsafe {
            gemm::gemm(
                hashes,
                m,
                dim,
                scratch.dots.as_mut_ptr(),
                1,
                m as isize,
                false,
                self.projections.as_ptr(),
                1,
                dim as isize,
                x.as_ptr(),
                dim as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        scratch.hashes.resize(m, 0);
        scratch.cells.resize(rows * m, 0);
        let width = self.config.width;
        let buckets = self.config.buckets as u64;
        for r in 0..rows {
            let hs = &mut scratch.hashes[..];
            hs.fill(FNV_OFFSET ^ r as u64);
            for j in 0..k {
                let id = r * k + j;
                mix_row(hs, &scratch.dots[id * m..(id + 1) * m], self.offsets[id], width);
            }
            let cells = &mut scratch.cells[r * m..(r + 1) * m];
            // `h & (B − 1)` is `h % B` for a power of two, without a 64-bit division per point.
            if buckets.is_power_of_two() {
                cells.iter_mut().zip(hs.iter()).for_each(|(c, &h)| *c = (h & (buckets - 1)) as u32);
            } else {
                cells.iter_mut().zip(hs.iter()).for_each(|(c, &h)| *c = (h % buckets) as u32);
            }
        }
    }

    /// Pass 1 for a batch of points, one `Vec` each.
    pub fn add_batch(&mut self, batch: &[Vec<f32>]) {
        self.add(Points::Rows(batch));
    }

    /// Pass 1 for a flat `[n][dim]` buffer of points.
    pub fn add_flat(&mut self, points: &[f32]) {
        assert_eq!(points.len() % self.dim, 0, "points must be a whole number of {}-d rows", self.dim);
        self.add(Points::Flat(points));
    }

    fn add(&mut self, points: Points) {
        let (rows, buckets, dim) = (self.config.rows, self.config.buckets, self.dim);
        let n = points.len(dim);
        let mut cells: Vec<u32> = Vec::new();
        for chunk_start in (0..n).step_by(COUNT_CHUNK) {
            let chunk = COUNT_CHUNK.min(n - chunk_start);
            let blocks = chunk.div_ceil(BLOCK);
            // [block][rows][BLOCK]: each block's cells, row-major within the block.
            cells.resize(blocks * rows * BLOCK, 0);
            cells.par_chunks_mut(rows * BLOCK).enumerate().for_each_init(Scratch::default, |scratch, (b, out)| {
                let start = chunk_start + b * BLOCK;
                let m = BLOCK.min(n - start);
                let mut gathered = std::mem::take(&mut scratch.gathered);
                let block = points.block(start, m, dim, &mut gathered);
                self.hash_block(block, m, scratch);
                for r in 0..rows {
                    out[r * BLOCK..r * BLOCK + m].copy_from_slice(scratch_cells(scratch, r, m));
                }
                scratch.gathered = gathered;
            });
            // Each task owns one sketch row: no atomics, and the row (B u32) stays in cache.
            let cells = &cells;
            self.counts.par_chunks_mut(buckets).enumerate().for_each(|(r, row)| {
                for b in 0..blocks {
                    let m = BLOCK.min(chunk - b * BLOCK);
                    let base = (b * rows + r) * BLOCK;
                    for &c in &cells[base..base + m] {
                        let slot = &mut row[c as usize];
                        *slot = slot.saturating_add(1);
                    }
                }
            });
        }
        self.points += n as u64;
    }

    /// Pass 2: the density estimate of each point of `batch`, in parallel.
    pub fn density_batch(&self, batch: &[Vec<f32>]) -> Vec<f32> {
        self.density(Points::Rows(batch))
    }

    /// Pass 2 for a flat `[n][dim]` buffer of points.
    pub fn density_flat(&self, points: &[f32]) -> Vec<f32> {
        assert_eq!(points.len() % self.dim, 0, "points must be a whole number of {}-d rows", self.dim);
        self.density(Points::Flat(points))
    }

    fn density(&self, points: Points) -> Vec<f32> {
        let (rows, buckets, dim) = (self.config.rows, self.config.buckets, self.dim);
        let n = points.len(dim);
        let mut out = vec![0f32; n];
        out.par_chunks_mut(BLOCK).enumerate().for_each_init(
            || (Scratch::default(), Vec::<u64>::new()),
            |(scratch, sums), (b, out)| {
                let (start, m) = (b * BLOCK, out.len());
                let mut gathered = std::mem::take(&mut scratch.gathered);
                let block = points.block(start, m, dim, &mut gathered);
                self.hash_block(block, m, scratch);
                scratch.gathered = gathered;
                sums.clear();
                sums.resize(m, 0);
                for r in 0..rows {
                    let row = &self.counts[r * buckets..(r + 1) * buckets];
                    for (s, &c) in sums.iter_mut().zip(scratch_cells(scratch, r, m)) {
                        *s += u64::from(row[c as usize]);
                    }
                }
                // Integer sums are exact, so this equals the f64 sum of the counts.
                for (o, &s) in out.iter_mut().zip(sums.iter()) {
                    *o = s as f64 as f32 / rows as f32;
                }
            },
        );
        out
    }

    /// Points counted in pass 1.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Bytes held by the projections and the sketch.
    pub fn memory_bytes(&self) -> usize {
        4 * (self.projections.len() + self.offsets.len() + self.counts.len())
    }
}

/// Row `r`'s cells of the last hashed block of `m` points.
fn scratch_cells(scratch: &Scratch, r: usize, m: usize) -> &[u32] {
    &scratch.cells[r * m..(r + 1) * m]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Share of (point, row) buckets on which the batched hashing must agree with the scalar
    /// reference: they differ only where the two summation orders round a projection across a
    /// bucket border.
    const AGREEMENT_FLOOR: f64 = 0.999;

    fn random_points(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| (0..dim).map(|_| rng.sample::<f32, _>(StandardNormal) * 0.3).collect()).collect()
    }

    fn agreement(config: &LshConfig, n: usize, dim: usize) {
        let sketch = LshSketch::new(config, dim).unwrap();
        let points = random_points(n, dim, 7);
        let flat: Vec<f32> = points.concat();
        let mut cells = vec![0u32; n * config.rows];
        sketch.block_buckets(&flat, &mut cells);
        let mut reference = vec![0usize; config.rows];
        let mut same = 0;
        for (i, p) in points.iter().enumerate() {
            sketch.buckets(p, &mut reference);
            for (r, &want) in reference.iter().enumerate() {
                same += usize::from(r * config.buckets + cells[r * n + i] as usize == want);
            }
        }
        let share = same as f64 / (n * config.rows) as f64;
        assert!(share >= AGREEMENT_FLOOR, "{share} of buckets agree, config {config:?}, dim {dim}");
    }

    #[test]
    fn batched_hashing_agrees_with_the_scalar_reference() {
        // More than one GEMM block, a partial last block, a power-of-two and another bucket count.
        agreement(&LshConfig::default(), 2 * BLOCK + 37, 384);
        agreement(&LshConfig { rows: 7, hashes_per_row: 3, width: 0.5, buckets: 1000, seed: 4 }, 300, 33);
    }

    #[test]
    fn flat_and_per_point_passes_agree() {
        let config = LshConfig { rows: 16, hashes_per_row: 2, width: 1.0, buckets: 1 << 10, seed: 1 };
        let points = random_points(1500, 24, 3);
        let flat: Vec<f32> = points.concat();
        let mut a = LshSketch::new(&config, 24).unwrap();
        let mut b = LshSketch::new(&config, 24).unwrap();
        a.add_batch(&points);
        b.add_flat(&flat);
        assert_eq!(a.counts, b.counts);
        assert_eq!(a.points(), 1500);
        assert_eq!(a.density_batch(&points), b.density_flat(&flat));
        // Every point was counted once in every row.
        assert!(a.counts.chunks(config.buckets).all(|row| row.iter().map(|&c| c as usize).sum::<usize>() == 1500));
    }

    #[test]
    fn density_is_the_mean_count_of_the_reference_buckets() {
        // Hand check of pass 2 against the scalar buckets on points far from every border risk:
        // duplicates of three points, so each point's density is its multiplicity in every row
        // (plus any collisions, which the reference buckets account for as well).
        let config = LshConfig { rows: 8, hashes_per_row: 2, width: 1.0, buckets: 64, seed: 9 };
        let base = random_points(3, 5, 11);
        let points: Vec<Vec<f32>> = [0, 0, 0, 1, 2, 2].iter().map(|&i| base[i].clone()).collect();
        let mut sketch = LshSketch::new(&config, 5).unwrap();
        sketch.add_batch(&points);
        let dens = sketch.density_batch(&points);
        let mut cells = vec![0usize; config.rows];
        for (p, d) in points.iter().zip(&dens) {
            sketch.buckets(p, &mut cells);
            let want = cells.iter().map(|&c| sketch.counts[c] as f64).sum::<f64>() as f32 / config.rows as f32;
            assert_eq!(*d, want);
        }
        assert!(dens[0] >= 3.0 && dens[3] >= 1.0 && dens[4] >= 2.0, "{dens:?}");
    }

    #[test]
    fn floor_matches_std_floor() {
        for x in [0.0f32, -0.0, 0.5, -0.5, 1.0, -1.0, -1e-9, 2.5e9, -2.5e9, 1e30, -1e30, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 8388607.5, -8388607.5] {
            assert_eq!(floor_i64(x), x.floor() as i64, "{x}");
        }
    }
}
