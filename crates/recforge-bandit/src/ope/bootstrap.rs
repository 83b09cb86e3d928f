//! Percentile bootstrap confidence intervals for any [`Estimator`]: resample the rounds with
//! replacement, re-estimate, take the quantiles.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{Estimator, OpeRound};

/// A point estimate with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// `estimator` on `rounds` with a `confidence` (e.g. 0.95) percentile interval from
/// `resamples` bootstrap resamples; deterministic for a given `seed`.
pub fn bootstrap_interval(estimator: &dyn Estimator, rounds: &[OpeRound], resamples: usize, confidence: f64, seed: u64) -> Interval {
    let estimate = estimator.estimate(rounds);
    if rounds.is_empty() || resamples == 0 {
        return Interval { estimate, lower: estimate, upper: estimate };
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut sample = Vec::with_capacity(rounds.len());
    let mut values: Vec<f64> = (0..resamples)
        .map(|_| {
            sample.clear();
            sample.extend((0..rounds.len()).map(|_| rounds[rng.random_range(0..rounds.len())]));
            estimator.estimate(&sample)
        })
        .collect();
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence.clamp(0.0, 1.0)) / 2.0;
    let at = |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    Interval { estimate, lower: at(tail), upper: at(1.0 - tail) }
}

/// The mean of plain rewards with its bootstrap interval (an on-policy value).
pub fn mean_interval(rewards: &[f64], resamples: usize, confidence: f64, seed: u64) -> Interval {
    let rounds: Vec<OpeRound> = rewards.iter().map(|&reward| OpeRound { reward, pscore: 1.0, target: 1.0, model_value: 0.0, model_logged: 0.0, draw: 0.0 }).collect();
    bootstrap_interval(&super::Ips, &rounds, resamples, confidence, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_brackets_the_estimate_and_narrows_with_more_data() {
        let small: Vec<f64> = (0..100).map(|i| f64::from(i % 4 == 0)).collect();
        let large: Vec<f64> = (0..10_000).map(|i| f64::from(i % 4 == 0)).collect();
        let a = mean_interval(&small, 500, 0.95, 1);
        let b = mean_interval(&large, 500, 0.95, 1);
        assert!((a.estimate - 0.25).abs() < 1e-12 && a.lower < 0.25 && a.upper > 0.25);
        assert!(b.upper - b.lower < (a.upper - a.lower) / 5.0);
    }
}
