//! The two Open Bandit Dataset experiments of `recforge bandit ope`.
//!
//! 1. OBP's validation protocol: estimate the Bernoulli-TS policy's CTR from the
//!    uniform-random log, and compare with its on-policy CTR in its own log. The BTS policy is
//!    context-free and updated in batches, so its action distribution per slot is taken as
//!    its time-averaged one — the frequency of each item per slot in the BTS log.
//! 2. Policies trained on the first half (time order) of the random log and evaluated
//!    off-policy on the second half.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::Serialize;

use super::obd::{CtrTable, FeatureVocab, ObdLog, ObdRow, POSITIONS};
use super::{Interval, OpeError, OpeRound, all_estimators, bootstrap_interval, validate};
use crate::ope::bootstrap::mean_interval;
use crate::Policy;

/// Bootstrap settings shared by the experiments.
#[derive(Debug, Clone, Copy)]
pub struct BootstrapOptions {
    pub resamples: usize,
    pub confidence: f64,
    pub seed: u64,
}

/// One estimator's result.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub estimator: String,
    #[serde(flatten)]
    pub interval: Interval,
}

/// Experiment 1's result.
#[derive(Debug, Clone, Serialize)]
pub struct BtsValidation {
    /// Mean click of the BTS log (ground truth), with its bootstrap interval.
    pub on_policy_ctr: Interval,
    pub bts_rows: usize,
    pub random_rows: usize,
    /// Off-policy estimates of the same value from the random log.
    pub estimates: Vec<Estimate>,
}

/// Experiment 2's result for one policy.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyEstimates {
    pub policy: String,
    pub train_rows: usize,
    pub eval_rows: usize,
    pub estimates: Vec<Estimate>,
}

fn estimate_all(rounds: &[OpeRound], options: BootstrapOptions) -> Result<Vec<Estimate>, OpeError> {
    validate(rounds)?;
    Ok(all_estimators()
        .iter()
        .map(|e| Estimate { estimator: e.name().to_string(), interval: bootstrap_interval(e.as_ref(), rounds, options.resamples, options.confidence, options.seed) })
        .collect())
}

/// Experiment 1 (see the module docs).
pub fn bts_validation(random: &ObdLog, bts: &ObdLog, options: BootstrapOptions) -> Result<BtsValidation, OpeError> {
    let n = random.n_items as usize;
    let mut freq = vec![vec![0.0; n]; POSITIONS];
    let mut per_slot = [0.0f64; POSITIONS];
    for r in &bts.rows {
        if let Some(cell) = freq[r.position].get_mut(r.item as usize) {
            *cell += 1.0;
            per_slot[r.position] += 1.0;
        }
    }
    for (slot, row) in freq.iter_mut().enumerate() {
        row.iter_mut().for_each(|p| *p /= per_slot[slot].max(1.0));
    }
    let model = CtrTable::fit(&random.rows, random.n_items);
    let rounds: Vec<OpeRound> = random
        .rows
        .iter()
        .map(|r| scored_round(r, &freq[r.position], &model))
        .collect();
    let clicks: Vec<f64> = bts.rows.iter().map(|r| r.click).collect();
    Ok(BtsValidation {
        on_policy_ctr: mean_interval(&clicks, options.resamples, options.confidence, options.seed),
        bts_rows: bts.rows.len(),
        random_rows: random.rows.len(),
        estimates: estimate_all(&rounds, options)?,
    })
}

/// One logged round seen by a target policy with action distribution `target` (indexed by
/// item), with the reward model's value of that distribution and of the logged item.
fn scored_round(row: &ObdRow, target: &[f64], model: &CtrTable) -> OpeRound {
    OpeRound {
        reward: row.click,
        pscore: row.pscore,
        target: target[row.item as usize],
        model_value: target.iter().enumerate().map(|(a, p)| p * model.rate(a as u32, row.position)).sum(),
        model_logged: model.rate(row.item, row.position),
    }
}

/// Experiment 2: train each policy on the first half of `random`, evaluate on the second.
pub fn evaluate_trained(random: &ObdLog, vocab: &FeatureVocab, policies: Vec<Box<dyn Policy>>, options: BootstrapOptions) -> Result<Vec<PolicyEstimates>, OpeError> {
    let half = random.rows.len() / 2;
    let (train, eval) = random.rows.split_at(half);
    if train.is_empty() || eval.is_empty() {
        return Err(OpeError::Invalid(format!("{}: too few rows to split into training and evaluation halves", random.path.display())));
    }
    let model = CtrTable::fit(train, random.n_items);
    let items: Vec<u32> = (0..random.n_items).collect();
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let mut results = Vec::new();
    for mut policy in policies {
        for r in train {
            policy.update(&vocab.context(r), r.item, r.click);
        }
        let rounds: Vec<OpeRound> = eval
            .iter()
            .map(|r| scored_round(r, &policy.probabilities(&vocab.context(r), &items, &mut rng), &model))
            .collect();
        results.push(PolicyEstimates { policy: policy.name(), train_rows: train.len(), eval_rows: eval.len(), estimates: estimate_all(&rounds, options)? });
    }
    Ok(results)
}
