//! The sparse bipartite graph of Online Matching: each cluster links to its top-W items by
//! inner product between the cluster centroid and the item embeddings, plus the fresh items
//! injected into every cluster (they have no trained embedding yet; the bandit learns where
//! they belong). Diag-LinUCB keeps statistics on these edges only.

use serde::{Deserialize, Serialize};

use super::mf::dot;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BipartiteGraph {
    /// `clusters[c]`: the items cluster `c` links to, best first.
    pub clusters: Vec<Vec<u32>>,
    /// Fresh items linked to every cluster.
    pub fresh: Vec<u32>,
}

impl BipartiteGraph {
    /// Links every centroid to its `width` items with the largest inner product among
    /// `catalog` (`item_embeddings[j]` is item j's vector).
    pub fn build(centroids: &[Vec<f32>], item_embeddings: &[Vec<f32>], catalog: &[u32], width: usize) -> Self {
        let clusters = centroids
            .iter()
            .map(|centre| {
                let mut scored: Vec<(u32, f32)> = catalog.iter().filter_map(|&j| item_embeddings.get(j as usize).map(|v| (j, dot(centre, v)))).collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                scored.into_iter().take(width).map(|p| p.0).collect()
            })
            .collect();
        BipartiteGraph { clusters, fresh: Vec::new() }
    }

    /// Adds fresh items to every cluster (ignoring ones already injected).
    pub fn inject_fresh(&mut self, items: impl IntoIterator<Item = u32>) {
        for item in items {
            if !self.fresh.contains(&item) {
                self.fresh.push(item);
            }
        }
    }

    /// Removes fresh items (e.g. when they leave the fresh pool).
    pub fn retire_fresh(&mut self, keep: impl Fn(u32) -> bool) {
        self.fresh.retain(|&item| keep(item));
    }

    /// The candidates of a user in `clusters`: the union of their links and the fresh items,
    /// without duplicates, in first-seen order.
    pub fn candidates(&self, clusters: &[u32]) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &c in clusters {
            for &item in self.clusters.get(c as usize).map(Vec::as_slice).unwrap_or(&[]) {
                if seen.insert(item) {
                    out.push(item);
                }
            }
        }
        for &item in &self.fresh {
            if seen.insert(item) {
                out.push(item);
            }
        }
        out
    }

    /// Number of cluster–item edges, fresh ones included.
    pub fn num_edges(&self) -> usize {
        self.clusters.iter().map(Vec::len).sum::<usize>() + self.fresh.len() * self.clusters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_top_items_by_inner_product_and_injects_fresh() {
        let centroids = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let items = vec![vec![0.9, 0.1], vec![0.1, 0.9], vec![0.5, 0.5], vec![-1.0, 0.0]];
        let mut g = BipartiteGraph::build(&centroids, &items, &[0, 1, 2, 3], 2);
        assert_eq!(g.clusters, vec![vec![0, 2], vec![1, 2]]);
        g.inject_fresh([9, 9, 8]);
        assert_eq!(g.candidates(&[1, 0]), vec![1, 2, 0, 9, 8]);
        assert_eq!(g.num_edges(), 8);
        g.retire_fresh(|i| i != 9);
        assert_eq!(g.fresh, vec![8]);
    }
}
