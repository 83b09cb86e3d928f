//! Turning scores into a kept set: top-k, threshold, or inverse-propensity sampling.
//!
//! Inverse-propensity sampling keeps `k` documents without replacement with probability
//! proportional to 1/score (Efraimidis–Spirakis keys `ln(u)·score`, largest kept), where `u`
//! is a uniform number derived from the seed and the document's global index, so the kept
//! set depends only on (scores, seed) — never on how the scoring was sharded.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SelectError};
use crate::stats::unit_uniform;

/// How scores become a kept set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The `k` highest scores (ties broken by index).
    TopK,
    /// Every document whose score is at least the threshold.
    Threshold(f32),
    /// `k` documents sampled with probability ∝ 1/score (scores must be positive).
    InversePropensity,
}

/// Number of documents `keep` (a fraction in (0, 1]) of `n` means; at least one.
pub fn keep_count(n: usize, keep: f64) -> Result<usize> {
    if !(keep > 0.0 && keep <= 1.0) {
        return Err(SelectError::Config(format!("--keep must be a fraction in (0, 1], got {keep}")));
    }
    Ok(((n as f64 * keep).round() as usize).clamp(1, n.max(1)))
}

/// Indices of the kept documents, ascending. `k` is ignored by [`Selection::Threshold`].
pub fn select(scores: &[f32], selection: Selection, k: usize, seed: u64) -> Result<Vec<usize>> {
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(SelectError::Config(format!("document {i} has a NaN score")));
    }
    let mut kept: Vec<usize> = match selection {
        Selection::Threshold(t) => (0..scores.len()).filter(|&i| scores[i] >= t).collect(),
        Selection::TopK => top_by(scores.len(), k, |i| scores[i] as f64),
        Selection::InversePropensity => {
            if let Some(i) = scores.iter().position(|&s| s <= 0.0) {
                return Err(SelectError::Config(format!(
                    "inverse-propensity sampling needs positive scores; document {i} has {}",
                    scores[i]
                )));
            }
            top_by(scores.len(), k, |i| unit_uniform(seed, i as u64).ln() * scores[i] as f64)
        }
    };
    kept.sort_unstable();
    Ok(kept)
}

/// The `k` indices with the largest `key` (ties: smaller index first).
fn top_by(n: usize, k: usize, key: impl Fn(usize) -> f64) -> Vec<usize> {
    let mut order: Vec<(f64, usize)> = (0..n).map(|i| (key(i), i)).collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    order.into_iter().take(k.min(n)).map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_threshold() {
        let s = [0.1, 0.9, 0.5, 0.9];
        assert_eq!(select(&s, Selection::TopK, 2, 0).unwrap(), vec![1, 3]);
        assert_eq!(select(&s, Selection::Threshold(0.5), 0, 0).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn keep_count_rounds_and_validates() {
        assert_eq!(keep_count(10, 0.25).unwrap(), 3);
        assert_eq!(keep_count(10, 0.01).unwrap(), 1);
        assert!(keep_count(10, 0.0).is_err());
        assert!(keep_count(10, 1.5).is_err());
    }

    #[test]
    fn inverse_propensity_rejects_non_positive() {
        assert!(select(&[1.0, 0.0], Selection::InversePropensity, 1, 0).is_err());
    }
}
