//! The user context of Online Matching: sparse weights `w_u` over the user's nearest clusters.

use serde::{Deserialize, Serialize};

/// Sparse weights over clusters (`clusters[i]` carries `weights[i]`); clusters are distinct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterContext {
    pub clusters: Vec<u32>,
    pub weights: Vec<f64>,
}

impl ClusterContext {
    /// A context from (cluster, weight) pairs; a repeated cluster keeps the sum of its weights.
    pub fn new(pairs: impl IntoIterator<Item = (u32, f64)>) -> Self {
        let mut pairs: Vec<(u32, f64)> = pairs.into_iter().collect();
        pairs.sort_by_key(|p| p.0);
        let mut clusters: Vec<u32> = Vec::with_capacity(pairs.len());
        let mut weights: Vec<f64> = Vec::with_capacity(pairs.len());
        for (cluster, weight) in pairs {
            if clusters.last() == Some(&cluster) {
                if let Some(last) = weights.last_mut() {
                    *last += weight;
                }
            } else {
                clusters.push(cluster);
                weights.push(weight);
            }
        }
        ClusterContext { clusters, weights }
    }

    /// All weight on one cluster.
    pub fn one_hot(cluster: u32) -> Self {
        ClusterContext { clusters: vec![cluster], weights: vec![1.0] }
    }

    /// (cluster, weight) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.clusters.iter().copied().zip(self.weights.iter().copied())
    }

    /// The context as a dense vector over `num_clusters` clusters.
    pub fn dense(&self, num_clusters: usize) -> Vec<f64> {
        let mut x = vec![0.0; num_clusters];
        for (cluster, weight) in self.iter() {
            if let Some(slot) = x.get_mut(cluster as usize) {
                *slot += weight;
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_clusters_merge_and_dense_places_weights() {
        let ctx = ClusterContext::new([(3, 0.5), (1, 0.25), (3, 0.25)]);
        assert_eq!(ctx.clusters, vec![1, 3]);
        assert_eq!(ctx.weights, vec![0.25, 0.75]);
        assert_eq!(ctx.dense(4), vec![0.0, 0.25, 0.0, 0.75]);
    }
}
