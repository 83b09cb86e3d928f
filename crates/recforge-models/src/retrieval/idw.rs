//! Iterative density weighting (IDW) of "Density Weighting for Multi-Interest Personalized
//! Recommendation" (arXiv 2308.01563): items crowded in embedding space get less training
//! weight. Start from w_j = freq_j/Σfreq (example weight w_j/count_j); each round embeds all
//! items, samples 10k targets ∝ w with N(0, 0.1²) noise, fits a Gaussian KDE (Scott's rule),
//! sets ρ_j = KDE(v_j) + 1e-4, d_j = (1/ρ_j)/Σ(1/ρ), w ← 0.8·w + 0.2·d, and stops once
//! ‖Δw‖_∞ < 2e-4 (at most 5 rounds); the trainer retrains between rounds.

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_distr::Normal;

use crate::retrieval::kde::{GaussianKde, KdeError};

/// The loop's constants (the paper's values by default).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdwConfig {
    pub momentum: f64,
    pub tolerance: f64,
    pub max_rounds: usize,
    pub kde_samples: usize,
    pub noise_std: f64,
    pub density_floor: f64,
}

impl Default for IdwConfig {
    fn default() -> Self {
        IdwConfig { momentum: 0.8, tolerance: 2e-4, max_rounds: 5, kde_samples: 10_000, noise_std: 0.1, density_floor: 1e-4 }
    }
}

/// The starting item weights: training frequency over total (0 for unseen items).
pub fn initial_weights(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts.iter().map(|&c| if total == 0 { 0.0 } else { c as f64 / total as f64 }).collect()
}

/// Uniform item weights over seen items: example weights become inverse frequency.
pub fn uniform_weights(counts: &[u64]) -> Vec<f64> {
    let seen = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts.iter().map(|&c| if c > 0 { 1.0 / seen as f64 } else { 0.0 }).collect()
}

/// Per item, the weight of each of its training examples: w_j / count_j, rescaled so the
/// mean over all training examples is 1 (the loss keeps its scale across rounds).
pub fn example_weights(weights: &[f64], counts: &[u64]) -> Vec<f32> {
    let examples: u64 = counts.iter().sum();
    let mass: f64 = weights.iter().zip(counts).filter(|(_, c)| **c > 0).map(|(w, _)| w).sum();
    weights
        .iter()
        .zip(counts)
        .map(|(&w, &c)| if c == 0 || mass <= 0.0 { 0.0 } else { (w / c as f64 * examples as f64 / mass) as f32 })
        .collect()
}

/// The outcome of one density round.
#[derive(Debug, Clone, PartialEq)]
pub struct IdwUpdate {
    /// The new item weights (sum 1 over seen items).
    pub weights: Vec<f64>,
    /// ‖w_new − w_old‖_∞.
    pub delta_inf: f64,
    /// Whether the stopping rule holds (delta below the tolerance).
    pub converged: bool,
}

/// Blends `weights` towards the inverse density `inverse_density` and applies the stopping
/// rule: w ← m·w + (1 − m)·d, converged when ‖Δw‖_∞ < tolerance.
pub fn blend(weights: &[f64], inverse_density: &[f64], config: &IdwConfig) -> IdwUpdate {
    let new: Vec<f64> = weights.iter().zip(inverse_density).map(|(w, d)| config.momentum * w + (1.0 - config.momentum) * d).collect();
    let delta_inf = new.iter().zip(weights).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    IdwUpdate { weights: new, delta_inf, converged: delta_inf < config.tolerance }
}

/// Normalised inverse densities d_j = (1/ρ_j)/Σ(1/ρ) with ρ_j = density_j + floor, over the
/// items where `active` holds (0 elsewhere).
pub fn inverse_density(density: &[f64], active: &[bool], floor: f64) -> Vec<f64> {
    let inv: Vec<f64> = density.iter().zip(active).map(|(&r, &a)| if a { 1.0 / (r + floor) } else { 0.0 }).collect();
    let total: f64 = inv.iter().sum();
    inv.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect()
}

/// One density round: `item_vectors` row-major `[num_items, dim]`, `weights` per item (items
/// with weight 0, e.g. unseen ones, are left at 0).
pub fn density_round<R: Rng>(
    item_vectors: &[f32],
    dim: usize,
    weights: &[f64],
    config: &IdwConfig,
    rng: &mut R,
) -> Result<IdwUpdate, KdeError> {
    let active: Vec<bool> = weights.iter().map(|&w| w > 0.0).collect();
    let sampler = WeightedIndex::new(weights).map_err(|_| KdeError::TooFewSamples(0))?;
    let noise = Normal::new(0.0, config.noise_std).map_err(|_| KdeError::Singular)?;
    let mut samples = Vec::with_capacity(config.kde_samples * dim);
    for _ in 0..config.kde_samples {
        let item = sampler.sample(rng);
        samples.extend(item_vectors[item * dim..(item + 1) * dim].iter().map(|&x| x as f64 + noise.sample(rng)));
    }
    let kde = GaussianKde::fit(&samples, dim)?;
    let points: Vec<f64> = item_vectors.iter().map(|&x| x as f64).collect();
    let density = kde.evaluate(&points);
    Ok(blend(weights, &inverse_density(&density, &active, config.density_floor), config))
}
