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
pub use diag_linucb::{DiagLinUcb, EdgeStats};
pub use linucb::LinUcb;
pub use policy::{BetaThompson, Choice, EpsilonGreedy, GaussianThompson, POLICY_NAMES, Policy, PolicyConfig, Ucb, UniformRandom, make_policy};

/// An item's estimated reward and its exploration bonus for one context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Estimated expected reward.
    pub mean: f64,
    /// Upper-confidence bonus (already scaled by the scorer's α).
    pub bonus: f64,
}

impl Score {
    /// What an upper-confidence policy ranks by.
    pub fn ucb(&self) -> f64 {
        self.mean + self.bonus
    }
}

/// Anything that estimates items' rewards for a context and learns from observed rewards —
/// the base learner exploration [`Policy`]s wrap.
pub trait Scorer {
    /// Estimate and exploration bonus of `item` for `context`.
    fn score(&self, context: &ClusterContext, item: u32) -> Score;

    /// Record `reward` for showing `item` in `context`.
    fn update(&mut self, context: &ClusterContext, item: u32, reward: f64);

    /// The `k` best candidates by upper confidence bound, best first (ties by item id).
    fn top_k(&self, context: &ClusterContext, candidates: &[u32], k: usize) -> Vec<(u32, Score)> {
        let mut scored: Vec<(u32, Score)> = candidates.iter().map(|&item| (item, self.score(context, item))).collect();
        scored.sort_by(|a, b| b.1.ucb().total_cmp(&a.1.ucb()).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
    }
}
