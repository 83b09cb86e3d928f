//! recforge-bandit: exploration for fresh and long-tail items.
//!
//! The core of Online Matching (arXiv 2307.15893): users are described by sparse weights over
//! clusters of user embeddings, and [`DiagLinUcb`] keeps two additive sums per cluster–item
//! edge, so many serving workers can update it without locks and merge by addition.
//! [`LinUcb`] is the exact (full-covariance) baseline it approximates. Both are [`Scorer`]s;
//! exploration strategies are [`Policy`]s that wrap a scorer, Vowpal-Wabbit style
//! ([`policy`]: UCB, ε-greedy, Gaussian and Beta–Bernoulli Thompson sampling, uniform random).
//!
//! Around the core: the offline half of Online Matching ([`online_matching`]: matrix
//! factorisation, k-means++, the cluster→item bipartite graph, user contexts), off-policy
//! evaluation on logged data ([`ope`]) and the ML-1M simulator ([`simulate`]).

pub mod context;
pub mod data;
pub mod diag_linucb;
pub mod linucb;
pub mod online_matching;
pub mod ope;
pub mod policy;
pub mod simulate;

pub use context::ClusterContext;
pub use diag_linucb::{DiagLinUcb, EdgeMap, EdgeStats};
pub use linucb::LinUcb;
pub use policy::{
    BetaThompson, Choice, EpsilonGreedy, GaussianThompson, POLICY_NAMES, Policy, PolicyConfig, SHARED_STATE_POLICIES, Ucb, UniformRandom, Valuation,
    make_policy, make_policy_over, parse_policy_names,
};

/// An item's estimated reward for one context and the uncertainty of that estimate. How much
/// the uncertainty counts (α of UCB, the posterior scale of Thompson sampling) belongs to the
/// exploration [`Policy`], not to the scorer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Estimated expected reward.
    pub mean: f64,
    /// Standard deviation of the estimate, `sqrt(xᵀA⁻¹x)` for the linear scorers.
    pub sd: f64,
}

impl Score {
    /// The upper confidence bound `mean + α·sd`.
    pub fn ucb(&self, alpha: f64) -> f64 {
        self.mean + alpha * self.sd
    }
}

/// Anything that estimates items' rewards for a context and learns from observed rewards —
/// the base learner exploration [`Policy`]s wrap. Scorers only score: they hold no
/// exploration parameter.
pub trait Scorer {
    /// Estimate and its standard deviation for `item` in `context`.
    fn score(&self, context: &ClusterContext, item: u32) -> Score;

    /// Record `reward` for showing `item` in `context`.
    fn update(&mut self, context: &ClusterContext, item: u32, reward: f64);
}
