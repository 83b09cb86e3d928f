//! Evaluation metrics shared by every recforge model.
//!
//! Ranking (pointwise CTR): [`auc`] (ties get half credit, like the Mann–Whitney U statistic),
//! [`logloss`] and [`accuracy`]. Retrieval (one held-out relevant item per query, or a set):
//! [`hit_rate_at_k`], [`recall_at_k`], [`ndcg_at_k`] and [`mrr`], all taking the rank list
//! the model produced; and, where the model produced scores, [`TiedRank`]: the target's place
//! among the candidates' scores with ties counted as the expectation under random
//! tie-breaking (the target tied with t others is equally likely at each of t + 1 positions).

/// Probabilities are clipped to `[EPS, 1 - EPS]` before taking logs, as scikit-learn does.
const LOGLOSS_EPS: f64 = 1e-7;

/// Area under the ROC curve of `scores` against binary `labels` (label > 0.5 is positive).
///
/// Computed from average ranks, so tied scores count half a correct pair. Returns `None`
/// when one class is absent (the AUC is undefined then).
pub fn auc(scores: &[f32], labels: &[f32]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "auc: scores and labels differ in length");
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = labels.iter().filter(|&&y| y > 0.5).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut positive_rank_sum = 0.0f64;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| labels[i] > 0.5).count();
        positive_rank_sum += average_rank * tied_positives as f64;
        start = end;
    }
    let p = positives as f64;
    let n = negatives as f64;
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean binary cross-entropy of predicted probabilities against labels in `[0, 1]`.
pub fn logloss(probabilities: &[f32], labels: &[f32]) -> f64 {
    assert_eq!(probabilities.len(), labels.len(), "logloss: lengths differ");
    if probabilities.is_empty() {
        return f64::NAN;
    }
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = (p as f64).clamp(LOGLOSS_EPS, 1.0 - LOGLOSS_EPS);
            let y = y as f64;
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    total / probabilities.len() as f64
}

/// Fraction of examples whose thresholded probability (≥ 0.5) equals the thresholded label.
pub fn accuracy(probabilities: &[f32], labels: &[f32]) -> f64 {
    assert_eq!(probabilities.len(), labels.len(), "accuracy: lengths differ");
    if probabilities.is_empty() {
        return f64::NAN;
    }
    let correct = probabilities
        .iter()
        .zip(labels)
        .filter(|&(&p, &y)| (p >= 0.5) == (y > 0.5))
        .count();
    correct as f64 / probabilities.len() as f64
}

/// Numerically stable logistic function.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// 1 if `relevant` appears among the first `k` entries of `ranked`, else 0.
pub fn hit_rate_at_k<T: PartialEq>(ranked: &[T], relevant: &T, k: usize) -> f64 {
    if ranked.iter().take(k).any(|item| item == relevant) { 1.0 } else { 0.0 }
}

/// Fraction of the `relevant` set found among the first `k` entries of `ranked`.
pub fn recall_at_k<T: PartialEq>(ranked: &[T], relevant: &[T], k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let found = relevant.iter().filter(|r| ranked.iter().take(k).any(|item| item == *r)).count();
    found as f64 / relevant.len() as f64
}

/// Normalised discounted cumulative gain at `k` with binary relevance.
///
/// DCG = Σ 1/log2(rank + 1) over relevant items in the top k; IDCG places all relevant items
/// first. With one relevant item this is 1/log2(rank + 1).
pub fn ndcg_at_k<T: PartialEq>(ranked: &[T], relevant: &[T], k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, item)| relevant.contains(item))
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        // fold from +0.0: a float `sum()` of nothing is -0.0, which prints as "-0".
        .fold(0.0, |a, b| a + b);
    let ideal: f64 = (0..relevant.len().min(k)).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
    dcg / ideal
}

/// Reciprocal rank of the first relevant item (0 when none appears in `ranked`).
pub fn mrr<T: PartialEq>(ranked: &[T], relevant: &[T]) -> f64 {
    ranked
        .iter()
        .position(|item| relevant.contains(item))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Where a held-out target stands among scored candidates: `above` candidates score strictly
/// higher, `tied` others score the same. Under random tie-breaking the target's 0-based position
/// is uniform on `above ..= above + tied`, so every metric is the mean over those positions —
/// a constant scorer gets chance credit, neither all nor nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TiedRank {
    pub above: usize,
    pub tied: usize,
}

/// NaN scores rank as −∞ (below every real score, tied with each other).
fn comparable(score: f32) -> f32 {
    if score.is_nan() { f32::NEG_INFINITY } else { score }
}

impl TiedRank {
    /// The place of a target scoring `target` among `others` (the target itself not included).
    pub fn of(target: f32, others: impl IntoIterator<Item = f32>) -> Self {
        let target = comparable(target);
        let mut rank = TiedRank::default();
        for score in others {
            let score = comparable(score);
            if score > target {
                rank.above += 1;
            } else if score == target {
                rank.tied += 1;
            }
        }
        rank
    }

    /// The possible 0-based positions of the target.
    fn positions(self) -> std::ops::RangeInclusive<usize> {
        self.above..=self.above + self.tied
    }

    /// Expected HR@k: the fraction of the target's possible positions inside the top `k`.
    pub fn hit_at(self, k: usize) -> f64 {
        let inside = k.saturating_sub(self.above).min(self.tied + 1);
        inside as f64 / (self.tied + 1) as f64
    }

    /// Expected NDCG@k with one relevant item: the mean of 1/log2(position + 2) over the
    /// possible positions, 0 for those at or past `k`.
    pub fn ndcg_at(self, k: usize) -> f64 {
        let dcg: f64 = self.positions().take_while(|&p| p < k).map(|p| 1.0 / ((p + 2) as f64).log2()).fold(0.0, |a, b| a + b);
        dcg / (self.tied + 1) as f64
    }

    /// Expected reciprocal rank.
    pub fn reciprocal_rank(self) -> f64 {
        self.positions().map(|p| 1.0 / (p + 1) as f64).sum::<f64>() / (self.tied + 1) as f64
    }
}

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for fewer than two
/// values) — the "mean ± std over seeds" of every results table.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// The cut-offs K of [`TopKMetrics`].
pub const TOP_K_CUTOFFS: [usize; 2] = [5, 10];

/// Recall@5/10, NDCG@5/10 and MRR of ranked lists with one relevant item each, averaged over
/// users: the one top-K summary of the LLM and conventional recommendation experiments (with a
/// single relevant item Recall@K equals HR@K).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct TopKMetrics {
    #[serde(alias = "recall5")]
    pub recall_5: f64,
    #[serde(alias = "recall10")]
    pub recall_10: f64,
    #[serde(alias = "ndcg5")]
    pub ndcg_5: f64,
    #[serde(alias = "ndcg10")]
    pub ndcg_10: f64,
    /// Mean reciprocal rank of the relevant item within each list (0 when absent).
    #[serde(default)]
    pub mrr: f64,
    /// Users averaged over.
    #[serde(default)]
    pub users: usize,
}

impl TopKMetrics {
    /// Averages over `(ranked list, relevant item)` pairs (all zero for no pairs).
    pub fn from_rankings(rankings: &[(Vec<u32>, u32)]) -> TopKMetrics {
        let n = rankings.len().max(1) as f64;
        let mean = |f: &dyn Fn(&[u32], u32) -> f64| rankings.iter().map(|(r, t)| f(r, *t)).sum::<f64>() / n;
        TopKMetrics {
            recall_5: mean(&|r, t| recall_at_k(r, &[t], TOP_K_CUTOFFS[0])),
            recall_10: mean(&|r, t| recall_at_k(r, &[t], TOP_K_CUTOFFS[1])),
            ndcg_5: mean(&|r, t| ndcg_at_k(r, &[t], TOP_K_CUTOFFS[0])),
            ndcg_10: mean(&|r, t| ndcg_at_k(r, &[t], TOP_K_CUTOFFS[1])),
            mrr: mean(&|r, t| mrr(r, &[t])),
            users: rankings.len(),
        }
    }

    /// Averages over targets placed by their scores, ties counted by expectation
    /// ([`TiedRank`]); all zero for no ranks.
    pub fn from_tied_ranks(ranks: &[TiedRank]) -> TopKMetrics {
        let n = ranks.len().max(1) as f64;
        let mean = |f: &dyn Fn(TiedRank) -> f64| ranks.iter().map(|&r| f(r)).sum::<f64>() / n;
        TopKMetrics {
            recall_5: mean(&|r| r.hit_at(TOP_K_CUTOFFS[0])),
            recall_10: mean(&|r| r.hit_at(TOP_K_CUTOFFS[1])),
            ndcg_5: mean(&|r| r.ndcg_at(TOP_K_CUTOFFS[0])),
            ndcg_10: mean(&|r| r.ndcg_at(TOP_K_CUTOFFS[1])),
            mrr: mean(&|r| r.reciprocal_rank()),
            users: ranks.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn auc_perfect_inverted_and_random_orders() {
        let labels = [0.0, 0.0, 1.0, 1.0];
        assert!(close(auc(&[0.1, 0.2, 0.8, 0.9], &labels).unwrap(), 1.0));
        assert!(close(auc(&[0.9, 0.8, 0.2, 0.1], &labels).unwrap(), 0.0));
        // Pairs (pos, neg): (0.35 vs 0.1 ✓), (0.35 vs 0.4 ✗), (0.8 vs 0.1 ✓), (0.8 vs 0.4 ✓) → 3/4.
        assert!(close(auc(&[0.1, 0.4, 0.35, 0.8], &labels).unwrap(), 0.75));
    }

    #[test]
    fn auc_gives_ties_half_credit() {
        // All scores tied: every pair is a tie → 0.5.
        assert!(close(auc(&[0.5; 4], &[0.0, 1.0, 0.0, 1.0]).unwrap(), 0.5));
        // pos {0.7, 0.5}, neg {0.5, 0.2}: pairs ✓, ✓, tie(½), ✓ → 3.5/4.
        let scores = [0.7, 0.5, 0.5, 0.2];
        let labels = [1.0, 1.0, 0.0, 0.0];
        assert!(close(auc(&scores, &labels).unwrap(), 0.875));
    }

    #[test]
    fn auc_is_undefined_with_one_class() {
        assert_eq!(auc(&[0.1, 0.2], &[1.0, 1.0]), None);
        assert_eq!(auc(&[], &[]), None);
    }

    #[test]
    fn logloss_matches_hand_computation() {
        // -(ln 0.8 + ln(1 - 0.3)) / 2
        let expected = -((0.8f64).ln() + (0.7f64).ln()) / 2.0;
        assert!((logloss(&[0.8, 0.3], &[1.0, 0.0]) - expected).abs() < 1e-6);
        // Clipping keeps a confident mistake finite.
        assert!(logloss(&[0.0], &[1.0]).is_finite());
    }

    #[test]
    fn accuracy_thresholds_at_one_half() {
        assert!(close(accuracy(&[0.9, 0.5, 0.49, 0.1], &[1.0, 0.0, 0.0, 1.0]), 0.5));
    }

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn retrieval_metrics_on_a_hand_ranked_list() {
        let ranked = [7, 3, 9, 1, 4];
        assert!(close(hit_rate_at_k(&ranked, &9, 3), 1.0));
        assert!(close(hit_rate_at_k(&ranked, &9, 2), 0.0));
        assert!(close(recall_at_k(&ranked, &[3, 4, 8], 5), 2.0 / 3.0));
        // Relevant 9 at rank 3 → 1/log2(4) = 0.5.
        assert!(close(ndcg_at_k(&ranked, &[9], 5), 0.5));
        // Relevant {7, 9}: DCG = 1 + 0.5; IDCG = 1 + 1/log2(3).
        let ideal = 1.0 + 1.0 / 3f64.log2();
        assert!(close(ndcg_at_k(&ranked, &[7, 9], 5), 1.5 / ideal));
        assert!(close(mrr(&ranked, &[1]), 0.25));
        assert!(close(mrr(&ranked, &[42]), 0.0));
        // A miss is +0, not -0 (which reports print as "-0").
        assert!(ndcg_at_k(&ranked, &[42], 5).is_sign_positive());
    }

    #[test]
    fn a_tie_straddling_the_cut_off_earns_the_fraction_of_positions_inside_it() {
        // Scores: 2 above the target (0.5), 3 tied with it, 1 below → positions 2, 3, 4, 5.
        let rank = TiedRank::of(0.5, [0.9, 0.7, 0.5, 0.5, 0.5, 0.1]);
        assert_eq!(rank, TiedRank { above: 2, tied: 3 });
        assert!(close(rank.hit_at(2), 0.0));
        assert!(close(rank.hit_at(3), 0.25)); // only position 2 is inside the top 3
        assert!(close(rank.hit_at(4), 0.5));
        assert!(close(rank.hit_at(6), 1.0));
        // NDCG@4: positions 2 and 3 count 1/log2(4) = 0.5 and 1/log2(5); divided by 4 positions.
        assert!(close(rank.ndcg_at(4), (0.5 + 1.0 / 5f64.log2()) / 4.0));
        assert!(close(rank.ndcg_at(2), 0.0));
        // MRR: (1/3 + 1/4 + 1/5 + 1/6) / 4.
        assert!(close(rank.reciprocal_rank(), (1.0 / 3.0 + 0.25 + 0.2 + 1.0 / 6.0) / 4.0));
    }

    #[test]
    fn without_ties_the_expected_metrics_are_the_plain_ones() {
        let rank = TiedRank::of(0.5, [0.9, 0.1, 0.2]);
        assert_eq!(rank, TiedRank { above: 1, tied: 0 });
        assert!(close(rank.hit_at(1), 0.0) && close(rank.hit_at(2), 1.0));
        assert!(close(rank.ndcg_at(10), 1.0 / 3f64.log2()));
        assert!(close(rank.reciprocal_rank(), 0.5));
    }

    #[test]
    fn a_constant_scorer_gets_chance_credit_and_nan_ranks_last() {
        // Target tied with 9 others: HR@1 = 1/10, NDCG@1 = 1/10, HR@10 = 1.
        let flat = TiedRank::of(1.0, [1.0; 9]);
        assert!(close(flat.hit_at(1), 0.1) && close(flat.ndcg_at(1), 0.1) && close(flat.hit_at(10), 1.0));
        let nan = TiedRank::of(f32::NAN, [0.1, f32::NAN, -3.0]);
        assert_eq!(nan, TiedRank { above: 2, tied: 1 });
        let m = TopKMetrics::from_tied_ranks(&[flat, TiedRank::default()]);
        assert!(close(m.recall_5, (0.5 + 1.0) / 2.0) && close(m.mrr, (flat.reciprocal_rank() + 1.0) / 2.0) && m.users == 2);
    }

    #[test]
    fn top_k_metrics_add_mrr_and_read_the_old_baseline_keys() {
        // Relevant item at rank 2, then absent: MRR = (1/2 + 0) / 2. (Recall and NDCG are
        // checked by hand in recforge-llmrec's tests/decoding.rs.)
        let m = TopKMetrics::from_rankings(&[(vec![3, 1, 2], 1), (vec![4, 5], 9)]);
        assert!(close(m.mrr, 0.25) && m.users == 2);
        let old: TopKMetrics = serde_json::from_str(r#"{"recall5":0.1,"recall10":0.2,"ndcg5":0.3,"ndcg10":0.4}"#).unwrap();
        assert!(close(old.recall_5, 0.1) && close(old.ndcg_10, 0.4) && old.users == 0);
    }
}
