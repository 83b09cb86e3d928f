//! Hit rates for retrieval: HR@{10, 50, 100, 200}, overall and split by whether the held-out
//! target is a head item (top 20% by training frequency) or a tail item, under two
//! protocols: ranking the full corpus (items the user interacted with before the target
//! excluded) and ranking the target among 99 popularity-sampled negatives (as the paper).
//! Ties count by expectation under random tie-breaking ([`TiedRank`]): a target tied with t
//! items straddling the cut-off earns the fraction of its t + 1 possible positions inside it,
//! so constant scorers get chance credit, no free hits. NDCG@K (overall) is reported beside.

use burn::prelude::*;
use recforge_data::Example;
use recforge_models::retrieval::{HistoryBatch, RetrievalModel};
use serde::{Deserialize, Serialize};

use super::data::RetrievalData;
use crate::metrics::TiedRank;

/// The cut-offs K of HR@K.
pub const KS: [usize; 4] = [10, 50, 100, 200];
/// Users scored per forward pass.
const EVAL_BATCH: usize = 512;

/// HR@K for each K in [`KS`], overall and by head/tail target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HitRates {
    pub overall: [f64; 4],
    pub head: [f64; 4],
    pub tail: [f64; 4],
    pub users: usize,
    pub head_users: usize,
    pub tail_users: usize,
    /// NDCG@K for each K in [`KS`], overall (absent from results written before it existed).
    #[serde(default)]
    pub ndcg: [f64; 4],
    /// NDCG@K of the head and of the tail targets (absent from results written before them).
    #[serde(default)]
    pub ndcg_head: [f64; 4],
    #[serde(default)]
    pub ndcg_tail: [f64; 4],
}

impl HitRates {
    /// HR@K (and overall NDCG@K) from each example's rank and head flag.
    pub fn from_ranks(ranks: &[(TiedRank, bool)]) -> Self {
        let mut out = HitRates { users: ranks.len(), ..Default::default() };
        // Rows: HR overall, head, tail; NDCG overall, head, tail.
        let mut sums = [[0f64; 4]; 6];
        for &(rank, head) in ranks {
            if head { out.head_users += 1 } else { out.tail_users += 1 }
            let group = if head { 1 } else { 2 };
            for (i, &k) in KS.iter().enumerate() {
                let (hit, ndcg) = (rank.hit_at(k), rank.ndcg_at(k));
                sums[0][i] += hit;
                sums[group][i] += hit;
                sums[3][i] += ndcg;
                sums[3 + group][i] += ndcg;
            }
        }
        let mean = |s: [f64; 4], n: usize| s.map(|v| if n == 0 { 0.0 } else { v / n as f64 });
        out.overall = mean(sums[0], out.users);
        out.head = mean(sums[1], out.head_users);
        out.tail = mean(sums[2], out.tail_users);
        out.ndcg = mean(sums[3], out.users);
        out.ndcg_head = mean(sums[4], out.head_users);
        out.ndcg_tail = mean(sums[5], out.tail_users);
        out
    }

    /// Overall NDCG@`k`; NaN for a k not in [`KS`].
    pub fn ndcg_at(&self, k: usize) -> f64 {
        KS.iter().position(|&x| x == k).map_or(f64::NAN, |i| self.ndcg[i])
    }

    /// NDCG@`k` of `group` ("overall", "head" or "tail"); NaN for an unknown k or group.
    pub fn ndcg_of(&self, group: &str, k: usize) -> f64 {
        let Some(i) = KS.iter().position(|&x| x == k) else { return f64::NAN };
        match group {
            "overall" => self.ndcg[i],
            "head" => self.ndcg_head[i],
            "tail" => self.ndcg_tail[i],
            _ => f64::NAN,
        }
    }

    /// HR@`k` of `group` ("overall", "head" or "tail"); NaN for an unknown k or group.
    pub fn get(&self, group: &str, k: usize) -> f64 {
        let Some(i) = KS.iter().position(|&x| x == k) else { return f64::NAN };
        match group {
            "overall" => self.overall[i],
            "head" => self.head[i],
            "tail" => self.tail[i],
            _ => f64::NAN,
        }
    }
}

/// Both protocols' hit rates on one split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    /// Target ranked against the whole corpus.
    pub full: HitRates,
    /// Target ranked against 99 popularity-sampled negatives.
    pub sampled: HitRates,
}

/// Which held-out targets to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalSplit {
    Valid,
    Test,
}

fn split_of(data: &RetrievalData, split: EvalSplit) -> (&[Example], &[Vec<u32>]) {
    match split {
        EvalSplit::Valid => (&data.valid, &data.valid_negatives),
        EvalSplit::Test => (&data.test, &data.test_negatives),
    }
}

/// Scores every example of `split` with `score_batch` (`[batch × num_items]` row-major, given
/// the examples of a chunk of at most 512): how any scorer — a two-tower model, popularity,
/// SASRec — is put on the same protocols.
pub fn evaluate_with(data: &RetrievalData, split: EvalSplit, mut score_batch: impl FnMut(&[Example]) -> Vec<f32>) -> RetrievalMetrics {
    let (examples, negatives) = split_of(data, split);
    let n = data.sequences.num_items;
    let mut excluded = vec![false; n];
    let (mut full, mut sampled) = (Vec::with_capacity(examples.len()), Vec::with_capacity(examples.len()));
    for (chunk_index, chunk) in examples.chunks(EVAL_BATCH).enumerate() {
        let scores = score_batch(chunk);
        for (row, &example) in chunk.iter().enumerate() {
            let s = &scores[row * n..(row + 1) * n];
            let target = data.sequences.target(example);
            let t = s[target as usize];
            let head = data.head[target as usize];
            let before = data.sequences.context(example, usize::MAX);
            excluded[0] = true;
            for &i in before {
                excluded[i as usize] = true;
            }
            let others = (0..n).filter(|&j| j != target as usize && !excluded[j]).map(|j| s[j]);
            full.push((TiedRank::of(t, others), head));
            let negs = &negatives[chunk_index * EVAL_BATCH + row];
            sampled.push((TiedRank::of(t, negs.iter().map(|&j| s[j as usize])), head));
            excluded[0] = false;
            for &i in before {
                excluded[i as usize] = false;
            }
        }
    }
    RetrievalMetrics { full: HitRates::from_ranks(&full), sampled: HitRates::from_ranks(&sampled) }
}

/// Hit rates of a trained model (on a plain, non-autodiff device).
pub fn evaluate_model(model: &RetrievalModel, data: &RetrievalData, split: EvalSplit, seq_len: usize, device: &Device) -> RetrievalMetrics {
    let items = model.all_item_vectors(&data.items, device);
    evaluate_with(data, split, |chunk| {
        let contexts: Vec<&[u32]> = chunk.iter().map(|&e| data.sequences.context(e, seq_len)).collect();
        let batch = HistoryBatch::new(&contexts, seq_len, device);
        model.score_all(&batch, items.clone()).into_data().try_to_vec::<f32>().unwrap_or_default()
    })
}

/// Hit rates of the popularity baseline: every user gets items by training frequency.
pub fn evaluate_popularity(data: &RetrievalData, split: EvalSplit) -> RetrievalMetrics {
    let popularity: Vec<f32> = data.sequences.train_counts.iter().map(|&c| c as f32).collect();
    evaluate_with(data, split, |chunk| popularity.repeat(chunk.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rates_average_the_expected_hits_of_tied_targets() {
        // A head target tied with 59 items right under the top 10 (positions 10..=69): HR@10 0,
        // HR@50 40/60, HR@100 and HR@200 1. A tail target at position 3 without ties.
        let ranks = [(TiedRank { above: 10, tied: 59 }, true), (TiedRank { above: 3, tied: 0 }, false)];
        let rates = HitRates::from_ranks(&ranks);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(rates.head[0], 0.0) && close(rates.head[1], 40.0 / 60.0) && close(rates.head[2], 1.0));
        assert!(rates.tail.iter().all(|&hr| close(hr, 1.0)));
        assert!(close(rates.overall[1], (40.0 / 60.0 + 1.0) / 2.0));
        // NDCG@10 comes from the tail target alone: 1/log2(5) over 2 users.
        assert!(close(rates.ndcg_at(10), 1.0 / 5f64.log2() / 2.0));
        assert!(close(rates.ndcg_of("tail", 10), 1.0 / 5f64.log2()) && close(rates.ndcg_of("head", 10), 0.0));
        assert_eq!((rates.users, rates.head_users, rates.tail_users), (2, 1, 1));
    }
}
