//! SemDeDup (Abbas et al., arXiv 2303.09540): cluster embeddings with k-means, then within
//! each cluster drop documents whose cosine similarity to an earlier document is above
//! 1 − ε. Score here = 1 − (largest cosine similarity to an earlier document of the same
//! cluster), so threshold selection at ε is SemDeDup and top-k keeps the most novel.

use serde::{Deserialize, Serialize};

use crate::density::common_dim;
use crate::error::Result;
use recforge_llm::TextEmbedder;

use crate::sampler::{Sampler, Scoring};
use crate::selection::Selection;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SemDedupConfig {
    /// Clusters; 0 picks √n.
    pub clusters: usize,
    pub iterations: usize,
    pub seed: u64,
}

impl Default for SemDedupConfig {
    fn default() -> Self {
        SemDedupConfig { clusters: 0, iterations: 20, seed: 0 }
    }
}

/// The SemDeDup sampler over an [`TextEmbedder`]'s embeddings.
pub struct SemDedup<E> {
    pub embedder: E,
    pub config: SemDedupConfig,
}

impl<E: TextEmbedder> Sampler for SemDedup<E> {
    fn name(&self) -> &str {
        "semdedup"
    }
    fn cache_id(&self) -> String {
        format!("embed/{}", self.embedder.model_id())
    }
    fn features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(self.embedder.embed(texts)?)
    }
    fn scoring(&self) -> Scoring {
        Scoring::SemDedup(self.config.clone())
    }
    fn default_selection(&self) -> Selection {
        Selection::TopK
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 { 0.0 } else { ab / (aa * bb).sqrt() }
}

/// One novelty score per embedding, in [0, 2]; the first document of a cluster scores 1.
pub fn semdedup_scores(config: &SemDedupConfig, features: &[Vec<f32>]) -> Result<Vec<f32>> {
    common_dim(features)?;
    let n = features.len();
    let k = if config.clusters == 0 { (n as f64).sqrt().ceil() as usize } else { config.clusters };
    // At least one Lloyd step, and StdRng: the seeds SemDeDup's scores were published with.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(config.seed);
    let assign = recforge_data::kmeans::kmeans(features, k.max(1), config.iterations.max(1), &mut rng).assignment;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k.min(n).max(1)];
    let mut scores = vec![1.0f32; n];
    for (i, &c) in assign.iter().enumerate() {
        let best = members[c].iter().map(|&j| cosine(&features[i], &features[j])).fold(f32::NEG_INFINITY, f32::max);
        if best.is_finite() {
            scores[i] = 1.0 - best;
        }
        members[c].push(i);
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_duplicates_score_zero() {
        let f = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]];
        let s = semdedup_scores(&SemDedupConfig { clusters: 1, ..Default::default() }, &f).unwrap();
        assert_eq!(s[0], 1.0);
        assert!((s[1] - 1.0).abs() < 1e-6);
        assert!(s[2].abs() < 1e-6);
    }
}
