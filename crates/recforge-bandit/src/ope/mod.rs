//! Off-policy evaluation: the value of a target policy estimated from a log another policy
//! collected, as the Open Bandit Pipeline does (Saito et al., arXiv 2008.07146).
//!
//! Every estimator implements [`Estimator`] over the same per-round summary ([`OpeRound`]):
//! the logged reward and propensity, the target policy's probability of the logged action,
//! and (for the model-based ones) a reward model's predictions. [`bootstrap`] turns any of
//! them into a confidence interval; [`obd`] reads the Open Bandit Dataset and runs its
//! validation protocol.

pub mod arrays;
pub mod bootstrap;
pub mod estimators;
pub mod logged;
pub mod obd;
pub mod protocol;

pub use bootstrap::{Interval, bootstrap_interval};
pub use estimators::{DirectMethod, DoublyRobust, Ips, Replay, Snips, all_estimators};

/// Why a log cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum OpeError {
    #[error("round {round}: propensity {pscore} is not in (0, 1]; off-policy estimates need the logging probability of every logged action")]
    Propensity { round: usize, pscore: f64 },
    #[error("round {round}: {field} is {value}, expected a finite number")]
    NotFinite { round: usize, field: &'static str, value: f64 },
    #[error("the log holds no rounds")]
    Empty,
    #[error(transparent)]
    Data(#[from] recforge_data::error::DataError),
    #[error("{0}")]
    Invalid(String),
}

/// One logged round as the estimators see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpeRound {
    /// Observed reward r_i of the logged action.
    pub reward: f64,
    /// Logging policy's probability π_b(a_i | x_i) of the logged action.
    pub pscore: f64,
    /// Target policy's probability π_e(a_i | x_i) of the logged action.
    pub target: f64,
    /// Reward model's value of the target policy on this context: Σ_a π_e(a|x_i) q̂(x_i, a).
    pub model_value: f64,
    /// Reward model's prediction for the logged action, q̂(x_i, a_i).
    pub model_logged: f64,
    /// A uniform draw in [0, 1) fixed per round: [`Replay`] keeps the round when it falls
    /// below `target` (the target policy's sampled action equals the logged one).
    pub draw: f64,
}

impl OpeRound {
    /// Importance weight π_e / π_b.
    pub fn weight(&self) -> f64 {
        self.target / self.pscore
    }
}

/// Checks that every round can be evaluated: propensities in (0, 1], finite numbers.
pub fn validate(rounds: &[OpeRound]) -> Result<(), OpeError> {
    if rounds.is_empty() {
        return Err(OpeError::Empty);
    }
    for (round, r) in rounds.iter().enumerate() {
        if !(r.pscore > 0.0 && r.pscore <= 1.0) {
            return Err(OpeError::Propensity { round, pscore: r.pscore });
        }
        for (field, value) in [("reward", r.reward), ("target", r.target), ("model_value", r.model_value), ("model_logged", r.model_logged), ("draw", r.draw)] {
            if !value.is_finite() {
                return Err(OpeError::NotFinite { round, field, value });
            }
        }
    }
    Ok(())
}

/// An off-policy estimator of a target policy's expected reward per round.
pub trait Estimator: Send + Sync {
    /// Short name for tables (`ips`, `snips`, …).
    fn name(&self) -> &'static str;
    /// The estimate over `rounds` (validated by the caller; see [`validate`]).
    fn estimate(&self, rounds: &[OpeRound]) -> f64;
}
