//! The five classic estimators (OBP's `obp/ope/estimators.py`), each a few lines:
//! replay (Li et al., arXiv 1003.5956), inverse propensity scoring, self-normalised IPS,
//! the direct method and doubly robust (Dudík et al., arXiv 1103.4601).

use super::{Estimator, OpeRound};

/// The mean, NaN (undefined) over no values.
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Replay / rejection sampling, as OBP's `ReplayMethod` defines it: keep only the rounds where
/// the target policy's action equals the logged one and average their rewards. A stochastic
/// target's action is drawn per round: the round is kept when its uniform draw
/// ([`OpeRound::draw`]) falls below π_e(a_i|x_i), which happens exactly with the probability
/// that a sampled action matches; a deterministic target (π_e ∈ {0, 1}) keeps exactly the
/// matching rounds. Unbiased when the logging policy is uniform; undefined (NaN) when no round
/// matches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replay;

impl Estimator for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }
    fn estimate(&self, rounds: &[OpeRound]) -> f64 {
        mean(rounds.iter().filter(|r| r.draw < r.target).map(|r| r.reward))
    }
}

/// Inverse propensity scoring: mean of (π_e/π_b)·r. Unbiased under full support.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ips;

impl Estimator for Ips {
    fn name(&self) -> &'static str {
        "ips"
    }
    fn estimate(&self, rounds: &[OpeRound]) -> f64 {
        mean(rounds.iter().map(|r| r.weight() * r.reward))
    }
}

/// Self-normalised IPS: Σ w·r / Σ w — biased for small logs, consistent, lower variance;
/// undefined (NaN) when every weight is 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snips;

impl Estimator for Snips {
    fn name(&self) -> &'static str {
        "snips"
    }
    fn estimate(&self, rounds: &[OpeRound]) -> f64 {
        let total: f64 = rounds.iter().map(OpeRound::weight).sum();
        if total <= 0.0 { f64::NAN } else { rounds.iter().map(|r| r.weight() * r.reward).sum::<f64>() / total }
    }
}

/// Direct method: the reward model's value of the target policy, mean of Σ_a π_e q̂.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectMethod;

impl Estimator for DirectMethod {
    fn name(&self) -> &'static str {
        "dm"
    }
    fn estimate(&self, rounds: &[OpeRound]) -> f64 {
        mean(rounds.iter().map(|r| r.model_value))
    }
}

/// Doubly robust: the direct method plus an importance-weighted correction of its residual;
/// unbiased when either the propensities or the reward model are right.
#[derive(Debug, Clone, Copy, Default)]
pub struct DoublyRobust;

impl Estimator for DoublyRobust {
    fn name(&self) -> &'static str {
        "dr"
    }
    fn estimate(&self, rounds: &[OpeRound]) -> f64 {
        mean(rounds.iter().map(|r| r.model_value + r.weight() * (r.reward - r.model_logged)))
    }
}

/// Every estimator, in table order.
pub fn all_estimators() -> Vec<Box<dyn Estimator>> {
    vec![Box::new(Replay), Box::new(Ips), Box::new(Snips), Box::new(DirectMethod), Box::new(DoublyRobust)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(reward: f64, pscore: f64, target: f64, model_value: f64, model_logged: f64) -> OpeRound {
        OpeRound { reward, pscore, target, model_value, model_logged, draw: 0.5 }
    }

    #[test]
    fn hand_computed_values() {
        let rounds = [round(1.0, 0.5, 1.0, 0.3, 0.4), round(0.0, 0.25, 0.5, 0.2, 0.1)];
        // Weights 2 and 2.
        assert!((Ips.estimate(&rounds) - 1.0).abs() < 1e-12);
        assert!((Snips.estimate(&rounds) - 0.5).abs() < 1e-12);
        assert!((DirectMethod.estimate(&rounds) - 0.25).abs() < 1e-12);
        // DR: (0.3 + 2·0.6 + 0.2 + 2·(−0.1)) / 2 = 0.75.
        assert!((DoublyRobust.estimate(&rounds) - 0.75).abs() < 1e-12);
        // Replay keeps the rounds whose draw (0.5) is below the target probability: the first
        // (1.0) but not the second (0.5).
        assert_eq!(Replay.estimate(&rounds), 1.0);
    }

    #[test]
    fn estimates_with_nothing_to_average_are_nan_not_zero() {
        let unmatched = [round(1.0, 0.5, 0.0, 0.3, 0.4), round(0.0, 0.25, 0.2, 0.2, 0.1)];
        assert!(Replay.estimate(&unmatched).is_nan());
        assert!(Snips.estimate(&unmatched[..1]).is_nan());
        for e in all_estimators() {
            assert!(e.estimate(&[]).is_nan(), "{}", e.name());
        }
    }
}
