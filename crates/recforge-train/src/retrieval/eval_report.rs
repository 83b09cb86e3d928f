//! What `recforge eval RUN` reports for a sequential run: HR, Recall and NDCG at 10, 50 and
//! 200, under full-corpus ranking and among 99 sampled negatives, overall and for head and tail
//! targets — a typed [`SeqEvalReport`] (the `--json` output) and its text table.

use serde::{Deserialize, Serialize};

use super::evaluate::{HitRates, RetrievalMetrics};

/// The cut-offs K reported.
pub const REPORT_KS: [usize; 3] = [10, 50, 200];

/// One group's metrics at each of [`REPORT_KS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    /// Held-out targets in the group.
    pub users: usize,
    pub hr: [f64; 3],
    /// Equal to `hr`: leave-one-out holds out one item per user.
    pub recall: [f64; 3],
    pub ndcg: [f64; 3],
}

/// One protocol's metrics, overall and by head (top 20% of items by training frequency) or
/// tail target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolMetrics {
    pub overall: GroupMetrics,
    pub head: GroupMetrics,
    pub tail: GroupMetrics,
}

/// A sequential run's evaluation on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqEvalReport {
    /// The `[model] kind` (or the retrieval-zoo row).
    pub model: String,
    pub dataset: String,
    /// `valid` or `test`.
    pub split: String,
    /// The cut-offs of every array below.
    pub ks: [usize; 3],
    /// Ranked against every item the user had not interacted with before the target.
    pub full: ProtocolMetrics,
    /// Ranked against 99 negatives drawn by training popularity (fixed across models).
    pub sampled: ProtocolMetrics,
}

fn group(rates: &HitRates, name: &str, users: usize) -> GroupMetrics {
    let hr = REPORT_KS.map(|k| rates.get(name, k));
    GroupMetrics { users, hr, recall: hr, ndcg: REPORT_KS.map(|k| rates.ndcg_of(name, k)) }
}

fn protocol(rates: &HitRates) -> ProtocolMetrics {
    ProtocolMetrics {
        overall: group(rates, "overall", rates.users),
        head: group(rates, "head", rates.head_users),
        tail: group(rates, "tail", rates.tail_users),
    }
}

impl SeqEvalReport {
    pub fn new(model: &str, dataset: &str, split: &str, metrics: &RetrievalMetrics) -> Self {
        SeqEvalReport {
            model: model.into(),
            dataset: dataset.into(),
            split: split.into(),
            ks: REPORT_KS,
            full: protocol(&metrics.full),
            sampled: protocol(&metrics.sampled),
        }
    }

    /// A text table: one row per protocol and group, HR/Recall and NDCG at each K.
    pub fn table(&self) -> String {
        let mut out = format!("{} on {} ({} split)\n", self.model, self.dataset, self.split);
        out.push_str(&format!("{:<8} {:<8} {:>6}", "protocol", "group", "users"));
        for k in self.ks {
            out.push_str(&format!(" {:>8}", format!("HR@{k}")));
        }
        for k in self.ks {
            out.push_str(&format!(" {:>9}", format!("NDCG@{k}")));
        }
        out.push('\n');
        for (name, p) in [("full", &self.full), ("sampled", &self.sampled)] {
            for (group, m) in [("overall", &p.overall), ("head", &p.head), ("tail", &p.tail)] {
                out.push_str(&format!("{name:<8} {group:<8} {:>6}", m.users));
                m.hr.iter().for_each(|v| out.push_str(&format!(" {v:>8.4}")));
                m.ndcg.iter().for_each(|v| out.push_str(&format!(" {v:>9.4}")));
                out.push('\n');
            }
        }
        out.push_str("Recall@K = HR@K (one held-out item per user); sampled: the target among 99 popularity-drawn negatives.\n");
        out
    }
}
