//! Popularity-sampled negatives: items drawn ∝ their training count, outside a set of seen
//! items, distinct. Shared by the evaluation sample and the task data.

use std::collections::HashSet;

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

use crate::error::{LlmRecError, Result};

/// Attempts per wanted negative before giving up (a user who saw nearly everything).
const ATTEMPTS_PER_NEGATIVE: usize = 1000;

/// Draws items ∝ training counts.
#[derive(Debug, Clone)]
pub struct PopularitySampler {
    index: WeightedIndex<f64>,
    candidates: usize,
}

impl PopularitySampler {
    /// From per-item training counts (item id = index).
    pub fn new(train_counts: &[u64]) -> Result<Self> {
        let weights: Vec<f64> = train_counts.iter().map(|&c| c as f64).collect();
        let candidates = weights.iter().filter(|&&w| w > 0.0).count();
        let index = WeightedIndex::new(&weights).map_err(|e| LlmRecError::Invalid(format!("no training popularity to sample negatives from: {e}")))?;
        Ok(Self { index, candidates })
    }

    /// Up to `n` distinct items not in `seen`.
    pub fn sample<R: Rng>(&self, rng: &mut R, seen: &HashSet<u32>, n: usize) -> Vec<u32> {
        let want = n.min(self.candidates.saturating_sub(seen.len()));
        let mut out: Vec<u32> = Vec::with_capacity(want);
        let mut attempts = 0;
        while out.len() < want && attempts < ATTEMPTS_PER_NEGATIVE * n.max(1) {
            attempts += 1;
            let item = self.index.sample(rng) as u32;
            if !seen.contains(&item) && !out.contains(&item) {
                out.push(item);
            }
        }
        out
    }
}
