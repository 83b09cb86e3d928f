//! Diag-LinUCB (Online Matching, arXiv 2307.15893): a diagonal LinUCB over cluster–item edges.
//!
//! Per edge (item j, cluster c): `d_jc = λ + Σ w_uc²`, `b_jc = Σ w_uc·r_uj`. Score:
//! mean `Σ_c w_uc·b_jc/d_jc`, standard deviation `sqrt(Σ_c w_uc²/d_jc)` — no matrix inverse
//! (the UCB policy ranks by mean + α·sd). The sums are
//! kept without λ ([`EdgeStats`]), so updates are additive and commutative: partial sums
//! from many workers merge by plain addition ([`DiagLinUcb::merge`]), in any order.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use crate::{ClusterContext, Score, Scorer};

/// The two additive sums of one cluster–item edge (λ is added at scoring time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EdgeStats {
    /// Σ w_uc² over the updates that touched the edge.
    pub sum_w2: f64,
    /// Σ w_uc · r_uj over the same updates.
    pub sum_wr: f64,
}

impl EdgeStats {
    fn add(&mut self, other: EdgeStats) {
        self.sum_w2 += other.sum_w2;
        self.sum_wr += other.sum_wr;
    }
}

/// Edge sums keyed by (cluster, item), with a fast integer hasher (the keys are bounded by
/// the configured clusters and items, never free-form input).
pub type EdgeMap = HashMap<(u32, u32), EdgeStats, FxBuildHasher>;

/// Diag-LinUCB state: one [`EdgeStats`] per (cluster, item) edge seen so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagLinUcb {
    /// Ridge prior: every edge starts at `d = λ`, `b = 0`.
    pub lambda: f64,
    edges: EdgeMap,
}

impl DiagLinUcb {
    pub fn new(lambda: f64) -> Self {
        DiagLinUcb { lambda, edges: EdgeMap::default() }
    }

    /// The scorer over sums read back from a store, taken as they are (no copy).
    pub fn from_edges(lambda: f64, edges: EdgeMap) -> Self {
        DiagLinUcb { lambda, edges }
    }

    /// The sums of edge (cluster, item), zero when never updated.
    pub fn edge(&self, cluster: u32, item: u32) -> EdgeStats {
        self.edges.get(&(cluster, item)).copied().unwrap_or_default()
    }

    /// Number of edges with statistics.
    pub fn num_edges(&self) -> usize {
        self.edges.len()
    }

    /// The increments one feedback event adds, per edge: what a worker ships to the store.
    pub fn deltas(context: &ClusterContext, item: u32, reward: f64) -> impl Iterator<Item = ((u32, u32), EdgeStats)> + '_ {
        context.iter().map(move |(cluster, w)| ((cluster, item), EdgeStats { sum_w2: w * w, sum_wr: w * reward }))
    }

    /// Add another worker's partial sums (same λ assumed).
    pub fn merge(&mut self, other: &DiagLinUcb) {
        for (&edge, &stats) in &other.edges {
            self.edges.entry(edge).or_default().add(stats);
        }
    }

    /// Add a batch of edge increments (e.g. read back from a shared store).
    pub fn apply_deltas(&mut self, deltas: impl IntoIterator<Item = ((u32, u32), EdgeStats)>) {
        for (edge, stats) in deltas {
            self.edges.entry(edge).or_default().add(stats);
        }
    }
}

impl Scorer for DiagLinUcb {
    fn score(&self, context: &ClusterContext, item: u32) -> Score {
        let (mut mean, mut variance) = (0.0, 0.0);
        for (cluster, w) in context.iter() {
            let stats = self.edge(cluster, item);
            let d = self.lambda + stats.sum_w2;
            mean += w * stats.sum_wr / d;
            variance += w * w / d;
        }
        Score { mean, sd: variance.sqrt() }
    }

    fn update(&mut self, context: &ClusterContext, item: u32, reward: f64) {
        self.apply_deltas(Self::deltas(context, item, reward).collect::<Vec<_>>());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_matches_the_formula_by_hand() {
        let mut policy = DiagLinUcb::new(1.0);
        let ctx = ClusterContext::new([(0, 0.6), (1, 0.4)]);
        policy.update(&ctx, 7, 1.0);
        policy.update(&ClusterContext::one_hot(0), 7, 0.0);
        // Edge (0,7): d = 1 + 0.36 + 1 = 2.36, b = 0.6; edge (1,7): d = 1.16, b = 0.4.
        let s = policy.score(&ctx, 7);
        let mean = 0.6 * 0.6 / 2.36 + 0.4 * 0.4 / 1.16;
        let sd = (0.36 / 2.36 + 0.16 / 1.16f64).sqrt();
        assert!((s.mean - mean).abs() < 1e-12 && (s.sd - sd).abs() < 1e-12, "{s:?}");
        assert!((s.ucb(0.5) - (mean + 0.5 * sd)).abs() < 1e-12);
        // An unseen item: mean 0, sd sqrt(Σ w² / λ).
        let fresh = policy.score(&ctx, 8);
        assert_eq!(fresh.mean, 0.0);
        assert!((fresh.sd - (0.52f64).sqrt()).abs() < 1e-12);
    }
}
