//! Density sampling (Sachdeva et al., "How to Train Data-Efficient LLMs", arXiv 2402.09668).
//! The score of a point is its kernel density among all points, Σ_x k(x, y), estimated with
//! LSH count sketches: pass 1 hashes every embedding with R rows of K concatenated p-stable
//! L2 hashes h(x) = ⌊(w·x + b)/width⌋ into a count sketch S[R×B]; pass 2 scores
//! y as (1/R) Σ_r S[r, h_r(y)]. Sampling ∝ 1/score keeps rare regions (inverse propensity).
//!
//! The sketch estimates the kernel k(x, y) = p(‖x − y‖)^K, where p is the collision
//! probability of one Gaussian p-stable hash; [`exact_kde`] evaluates that same kernel over
//! all pairs, which is how the sketch is validated on small inputs. Written by hand: no crate
//! implements a KDE count sketch.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SelectError};
use recforge_llm::TextEmbedder;

use crate::sampler::{Sampler, Scoring};
use crate::selection::Selection;
use crate::stats::normal_cdf;

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

impl LshSketch {
    pub fn new(config: &LshConfig, dim: usize) -> Result<Self> {
        if config.rows == 0 || config.hashes_per_row == 0 || config.buckets == 0 || dim == 0 {
            return Err(SelectError::Config(format!("LSH sketch needs rows, hashes, buckets and dim > 0: {config:?}, dim {dim}")));
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

    /// The bucket of `x` in each row: `out[r]`, an index into the flat `[rows][buckets]` sketch.
    pub fn buckets(&self, x: &[f32], out: &mut [usize]) {
        let k = self.config.hashes_per_row;
        for (r, slot) in out.iter_mut().enumerate().take(self.config.rows) {
            let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ r as u64;
            for j in 0..k {
                let id = r * k + j;
                let w = &self.projections[id * self.dim..(id + 1) * self.dim];
                let dot: f32 = w.iter().zip(x).map(|(a, b)| a * b).sum();
                let cell = ((dot + self.offsets[id]) / self.config.width).floor() as i64;
                h = (h ^ cell as u64).wrapping_mul(0x0000_0100_0000_01B3);
                h ^= h >> 29;
            }
            *slot = r * self.config.buckets + (h % self.config.buckets as u64) as usize;
        }
    }

    /// Pass 1 for a batch: hashes in parallel, then counts.
    pub fn add_batch(&mut self, batch: &[Vec<f32>]) {
        let rows = self.config.rows;
        let cells: Vec<usize> = batch
            .par_iter()
            .flat_map_iter(|x| {
                let mut out = vec![0; rows];
                self.buckets(x, &mut out);
                out
            })
            .collect();
        for c in cells {
            self.counts[c] = self.counts[c].saturating_add(1);
        }
        self.points += batch.len() as u64;
    }

    /// Pass 2: the density estimate of each point of `batch`, in parallel.
    pub fn density_batch(&self, batch: &[Vec<f32>]) -> Vec<f32> {
        batch
            .par_iter()
            .map_init(
                || vec![0; self.config.rows],
                |cells, x| {
                    self.buckets(x, cells);
                    cells.iter().map(|&c| self.counts[c] as f64).sum::<f64>() as f32 / self.config.rows as f32
                },
            )
            .collect()
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

/// The Density sampler: embeddings from an [`TextEmbedder`], scored by the sketch, sampled ∝ 1/score.
pub struct DensitySampler<E> {
    pub embedder: E,
    pub config: LshConfig,
}

impl<E: TextEmbedder> Sampler for DensitySampler<E> {
    fn name(&self) -> &str {
        "density"
    }
    fn cache_id(&self) -> String {
        format!("embed/{}", self.embedder.model_id())
    }
    fn features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(self.embedder.embed(texts)?)
    }
    fn scoring(&self) -> Scoring {
        Scoring::Density(self.config.clone())
    }
    fn default_selection(&self) -> Selection {
        Selection::InversePropensity
    }
}

/// Checks that every feature vector has the same, non-zero width.
pub(crate) fn common_dim(features: &[Vec<f32>]) -> Result<usize> {
    let dim = features.first().map(Vec::len).unwrap_or(0);
    if dim == 0 {
        return Err(SelectError::Config("no embeddings to score".into()));
    }
    if let Some(i) = features.iter().position(|f| f.len() != dim) {
        return Err(SelectError::Config(format!("embedding {i} has {} dimensions, expected {dim}", features[i].len())));
    }
    Ok(dim)
}

/// The two passes over embeddings held in memory: one density score per point.
pub fn density_scores(config: &LshConfig, features: &[Vec<f32>]) -> Result<Vec<f32>> {
    let mut sketch = LshSketch::new(config, common_dim(features)?)?;
    sketch.add_batch(features);
    Ok(sketch.density_batch(features))
}

/// Collision probability of one Gaussian p-stable hash of width `width` for two points at
/// distance `distance` (Datar et al. 2004): 1 − 2Φ(−w/c) − 2/(√(2π)·w/c)·(1 − e^{−(w/c)²/2}).
pub fn collision_probability(distance: f64, width: f64) -> f64 {
    if distance <= 0.0 {
        return 1.0;
    }
    let t = width / distance;
    1.0 - 2.0 * normal_cdf(-t) - 2.0 / ((2.0 * std::f64::consts::PI).sqrt() * t) * (1.0 - (-t * t / 2.0).exp())
}

/// The exact kernel density the sketch estimates, O(n²): Σ_x p(‖x − y‖)^K for each y.
pub fn exact_kde(config: &LshConfig, features: &[Vec<f32>]) -> Result<Vec<f64>> {
    common_dim(features)?;
    let k = config.hashes_per_row as i32;
    Ok(features
        .par_iter()
        .map(|y| {
            features
                .iter()
                .map(|x| {
                    let d2: f32 = x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
                    collision_probability(d2.sqrt() as f64, config.width as f64).powi(k)
                })
                .sum()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collision_probability_is_one_at_zero_and_decreasing() {
        assert_eq!(collision_probability(0.0, 1.0), 1.0);
        let mut last = 1.0;
        for i in 1..50 {
            let p = collision_probability(i as f64 * 0.1, 1.0);
            assert!(p < last && p > 0.0, "{p} at {i}");
            last = p;
        }
    }

    #[test]
    fn every_point_counts_itself() {
        let pts: Vec<Vec<f32>> = (0..20).map(|i| vec![i as f32 * 100.0, 0.0]).collect();
        let cfg = LshConfig { width: 1.0, ..LshConfig::default() };
        let s = density_scores(&cfg, &pts).unwrap();
        assert!(s.iter().all(|&v| v >= 1.0));
    }
}
