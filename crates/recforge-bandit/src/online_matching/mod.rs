//! The offline half of Online Matching (arXiv 2307.15893): user embeddings from a trained
//! model → k-means++ into C clusters → a sparse bipartite graph cluster → top-W items (fresh
//! items injected) → each user's context `w_u` over the top-K nearest clusters.
//!
//! The online half is [`crate::DiagLinUcb`] over the graph's edges. [`OnlineMatching`] is the
//! artifact the server loads: centroids, graph, context settings and the user embeddings.

pub mod graph;
pub mod mf;

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use recforge_data::kmeans::kmeans;
use serde::{Deserialize, Serialize};

pub use graph::BipartiteGraph;
pub use mf::{Mf, MfConfig};

use crate::ClusterContext;

/// How the top-K similarities become weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalisation {
    /// softmax(s/τ) over the top K: weights sum to 1 (the paper's choice).
    #[default]
    Softmax,
    /// The softmax weights rescaled to unit L2 norm (so Σ w² = 1 per update).
    UnitNorm,
    /// All weight on the nearest cluster (K is ignored).
    OneHot,
}

/// Settings of the user context.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContextConfig {
    /// Clusters per user (K).
    pub top_k: usize,
    /// Softmax temperature τ over inner-product similarities.
    pub temperature: f64,
    #[serde(default)]
    pub normalisation: Normalisation,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig { top_k: 4, temperature: 0.1, normalisation: Normalisation::Softmax }
    }
}

/// `w_u` for a user embedding: the top-K clusters by inner product with their centroids,
/// weighted per `config.normalisation`.
pub fn user_context(embedding: &[f32], centroids: &[Vec<f32>], config: &ContextConfig) -> ClusterContext {
    let sims: Vec<f32> = centroids.iter().map(|c| mf::dot(embedding, c)).collect();
    let mut order: Vec<usize> = (0..sims.len()).collect();
    order.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]).then(a.cmp(&b)));
    let k = if config.normalisation == Normalisation::OneHot { 1 } else { config.top_k.max(1) };
    order.truncate(k);
    let Some(&best) = order.first() else {
        return ClusterContext::new([]);
    };
    let tau = config.temperature.max(1e-9);
    let exps: Vec<f64> = order.iter().map(|&c| ((f64::from(sims[c]) - f64::from(sims[best])) / tau).exp()).collect();
    let norm = match config.normalisation {
        Normalisation::Softmax | Normalisation::OneHot => exps.iter().sum::<f64>(),
        Normalisation::UnitNorm => exps.iter().map(|e| e * e).sum::<f64>().sqrt(),
    };
    ClusterContext::new(order.iter().zip(&exps).map(|(&c, e)| (c as u32, e / norm)))
}

/// Settings of [`OnlineMatching::build`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct OfflineConfig {
    pub clusters: usize,
    /// Items per cluster in the graph (W).
    pub width: usize,
    pub kmeans_iterations: usize,
    pub context: ContextConfig,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        OfflineConfig { clusters: 32, width: 50, kmeans_iterations: 30, context: ContextConfig::default() }
    }
}

/// The offline artifact: everything needed to turn a user into a context and candidates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnlineMatching {
    pub centroids: Vec<Vec<f32>>,
    pub graph: BipartiteGraph,
    pub context: ContextConfig,
    /// External user id → embedding.
    pub users: HashMap<String, Vec<f32>>,
    /// Item index → external item id (what the server returns).
    pub items: Vec<String>,
}

impl OnlineMatching {
    /// Clusters users, links clusters to items in `catalog`, injects `fresh`.
    pub fn build(model: &Mf, user_names: &[String], item_names: &[String], catalog: &[u32], fresh: &[u32], config: &OfflineConfig, seed: u64) -> Self {
        // SmallRng: the generator Online Matching's published simulation numbers were drawn with.
        let centroids = kmeans(&model.users, config.clusters, config.kmeans_iterations, &mut SmallRng::seed_from_u64(seed)).centroids;
        let mut graph = BipartiteGraph::build(&centroids, &model.items, catalog, config.width);
        graph.inject_fresh(fresh.iter().copied());
        let users = user_names.iter().cloned().zip(model.users.iter().cloned()).collect();
        OnlineMatching { centroids, graph, context: config.context, users, items: item_names.to_vec() }
    }

    /// The context of an embedding.
    pub fn context_of(&self, embedding: &[f32]) -> ClusterContext {
        user_context(embedding, &self.centroids, &self.context)
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.centroids.first().map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_context_weights_sum_to_one_over_the_nearest_clusters() {
        let centroids = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![-1.0, 0.0]];
        let config = ContextConfig { top_k: 2, temperature: 1.0, normalisation: Normalisation::Softmax };
        let ctx = user_context(&[1.0, 0.5], &centroids, &config);
        assert_eq!(ctx.clusters, vec![0, 1]);
        let e = (-0.5f64).exp();
        assert!((ctx.weights[0] - 1.0 / (1.0 + e)).abs() < 1e-6 && (ctx.weights[1] - e / (1.0 + e)).abs() < 1e-6);
        let unit = user_context(&[1.0, 0.5], &centroids, &ContextConfig { normalisation: Normalisation::UnitNorm, ..config });
        assert!((unit.weights.iter().map(|w| w * w).sum::<f64>() - 1.0).abs() < 1e-9);
        let hard = user_context(&[1.0, 0.5], &centroids, &ContextConfig { normalisation: Normalisation::OneHot, ..config });
        assert_eq!(hard, ClusterContext::one_hot(0));
    }
}
