//! Everything retrieval training and evaluation read: histories, item features, head/tail
//! membership, the logQ table and the fixed sampled negatives for evaluation.

use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use recforge_data::{Dataset, Example, ItemSideFeatures, Sequences};
use recforge_models::retrieval::ItemFeatureTable;

use super::RetrievalError;
use super::config::RetrievalTrainConfig;

/// Negatives per evaluated user in the sampled protocol.
pub const SAMPLED_NEGATIVES: usize = 99;
/// Seed of the evaluation negatives: fixed, so every model and seed is scored on the same sets.
const NEGATIVES_SEED: u64 = 20230803;

/// Prepared retrieval data.
#[derive(Debug, Clone)]
pub struct RetrievalData {
    pub sequences: Sequences,
    pub items: ItemFeatureTable,
    /// `true` for head items (top `head_fraction` by training frequency).
    pub head: Vec<bool>,
    /// log q_j: log of item j's share of training targets (0 for unseen items).
    pub log_q: Vec<f32>,
    pub valid: Vec<Example>,
    pub test: Vec<Example>,
    /// Per validation / test example, 99 negatives drawn ∝ training popularity among items
    /// the user never interacted with.
    pub valid_negatives: Vec<Vec<u32>>,
    pub test_negatives: Vec<Vec<u32>>,
}

impl RetrievalData {
    /// From a prepared dataset with user, item and timestamp declared (item-side features
    /// are gathered from the schema's `side = "item"` features).
    pub fn from_dataset(ds: &Dataset, config: &RetrievalTrainConfig) -> Result<Self, RetrievalError> {
        let sequences = Sequences::from_dataset(ds, config.min_interactions)?;
        let side = ItemSideFeatures::from_dataset(ds, sequences.num_items)?;
        let items = ItemFeatureTable::new(&side, sequences.num_items);
        Self::new(sequences, items, config)
    }

    pub fn new(sequences: Sequences, items: ItemFeatureTable, config: &RetrievalTrainConfig) -> Result<Self, RetrievalError> {
        if sequences.train_examples().is_empty() {
            return Err(RetrievalError::NoExamples);
        }
        let head = sequences.head_mask(config.head_fraction);
        let total: u64 = sequences.train_counts.iter().sum();
        let log_q = sequences
            .train_counts
            .iter()
            .map(|&c| if c == 0 { 0.0 } else { (c as f64 / total as f64).ln() as f32 })
            .collect();
        let valid = sequences.valid_examples();
        let test = sequences.test_examples();
        let valid_negatives = sample_negatives(&sequences, &valid, NEGATIVES_SEED);
        let test_negatives = sample_negatives(&sequences, &test, NEGATIVES_SEED + 1);
        Ok(RetrievalData { sequences, items, head, log_q, valid, test, valid_negatives, test_negatives })
    }
}

/// For each example, [`SAMPLED_NEGATIVES`] distinct items drawn ∝ training popularity,
/// none of them in the user's whole history.
fn sample_negatives(seq: &Sequences, examples: &[Example], seed: u64) -> Vec<Vec<u32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let weights: Vec<f64> = seq.train_counts.iter().map(|&c| c as f64).collect();
    let Ok(sampler) = WeightedIndex::new(&weights) else {
        return vec![Vec::new(); examples.len()];
    };
    let candidates = weights.iter().filter(|&&w| w > 0.0).count();
    examples
        .iter()
        .map(|e| {
            let history = &seq.histories[e.user as usize];
            let available = candidates.saturating_sub(history.len());
            let want = SAMPLED_NEGATIVES.min(available);
            let mut out: Vec<u32> = Vec::with_capacity(want);
            let mut attempts = 0;
            while out.len() < want && attempts < 100 * SAMPLED_NEGATIVES {
                attempts += 1;
                let item = sampler.sample(&mut rng) as u32;
                if !history.contains(&item) && !out.contains(&item) {
                    out.push(item);
                }
            }
            out
        })
        .collect()
}
