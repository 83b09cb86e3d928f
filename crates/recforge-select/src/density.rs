//! Density sampling (Sachdeva et al., "How to Train Data-Efficient LLMs", arXiv 2402.09668).
//! The score of a point is its kernel density among all points, Σ_x k(x, y), estimated with
//! LSH count sketches: pass 1 hashes every embedding with R rows of K concatenated p-stable
//! L2 hashes h(x) = ⌊(w·x + b)/width⌋ into a count sketch S[R×B]; pass 2 scores
//! y as (1/R) Σ_r S[r, h_r(y)]. Sampling ∝ 1/score keeps rare regions (inverse propensity).
//! The sketch itself (batched GEMM hashing) lives in [`crate::lsh`].
//!
//! The sketch estimates the kernel k(x, y) = p(‖x − y‖)^K, where p is the collision
//! probability of one Gaussian p-stable hash; [`exact_kde`] evaluates that same kernel over
//! all pairs, which is how the sketch is validated on small inputs. Written by hand: no crate
//! implements a KDE count sketch.

use rayon::prelude::*;

use crate::error::{Result, SelectError};
pub use crate::lsh::{LshConfig, LshSketch};
use recforge_llm::TextEmbedder;

use crate::sampler::{Sampler, Scoring};
use crate::selection::Selection;
use crate::stats::normal_cdf;

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
