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

/// Both experiments of `recforge bandit ope` on one campaign, as one typed report (its JSON
/// is what `--json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct ObdReport {
    pub campaign: String,
    pub confidence: f64,
    pub resamples: usize,
    pub bts_validation: BtsValidation,
    /// Experiment 2, one entry per policy, in the order asked.
    pub policies: Vec<PolicyEstimates>,
    pub policy_config: crate::PolicyConfig,
}

/// Reads the uniform-random and Bernoulli-TS logs of `campaign` (`all`, `men`, `women`) under
/// `obd_dir`, validates the estimators against BTS's on-policy CTR, and evaluates the policies
/// `names` (see [`crate::POLICY_NAMES`]) trained on the first half of the random log.
pub fn run_obd(obd_dir: &std::path::Path, campaign: &str, names: &[String], config: &crate::PolicyConfig, options: BootstrapOptions) -> Result<ObdReport, OpeError> {
    let mut vocab = FeatureVocab::default();
    let random = ObdLog::read(obd_dir, "random", campaign, &mut vocab)?;
    let bts = ObdLog::read(obd_dir, "bts", campaign, &mut vocab)?;
    let bts_validation = bts_validation(&random, &bts, options)?;
    let mut policies: Vec<Box<dyn Policy>> = Vec::with_capacity(names.len());
    for name in names {
        let policy = crate::make_policy(name, config, vocab.dim())
            .ok_or_else(|| OpeError::Invalid(format!("unknown policy \"{name}\"; known: {}", crate::POLICY_NAMES.join(", "))))?;
        policies.push(policy);
    }
    let policies = evaluate_trained(&random, &vocab, policies, options)?;
    Ok(ObdReport {
        campaign: campaign.to_string(),
        confidence: options.confidence,
        resamples: options.resamples,
        bts_validation,
        policies,
        policy_config: *config,
    })
}

fn interval_cell(e: &Estimate) -> String {
    format!("{:.5} [{:.5}, {:.5}]", e.interval.estimate, e.interval.lower, e.interval.upper)
}

impl ObdReport {
    /// Both experiments as Markdown tables (what `recforge bandit ope` prints).
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write as _;
        let v = &self.bts_validation;
        let pct = (self.confidence * 100.0).round();
        let mut out = format!(
            "Open Bandit Dataset, campaign \"{}\": {} random-log rows, {} BTS-log rows; {pct}% bootstrap intervals ({} resamples)\n\n",
            self.campaign, v.random_rows, v.bts_rows, self.resamples
        );
        out += "1. Bernoulli-TS policy's CTR estimated from the uniform-random log vs on-policy\n\n";
        out += "| estimator | CTR [interval] | relative error vs on-policy |\n|---|---|---|\n";
        let truth = v.on_policy_ctr.estimate;
        let _ = writeln!(out, "| on-policy (BTS log) | {:.5} [{:.5}, {:.5}] | – |", truth, v.on_policy_ctr.lower, v.on_policy_ctr.upper);
        for e in &v.estimates {
            let _ = writeln!(out, "| {} | {} | {:+.1}% |", e.estimator, interval_cell(e), 100.0 * (e.interval.estimate - truth) / truth.max(f64::MIN_POSITIVE));
        }
        let (train, eval) = self.policies.first().map_or((0, 0), |p| (p.train_rows, p.eval_rows));
        let _ = writeln!(out, "\n2. Policies trained on the first {train} rows of the random log, evaluated on the last {eval}\n");
        let estimators: Vec<&str> = self.policies.first().map(|p| p.estimates.iter().map(|e| e.estimator.as_str()).collect()).unwrap_or_default();
        let _ = writeln!(out, "| policy | {} |\n|---|{}", estimators.join(" | "), "---|".repeat(estimators.len()));
        for p in &self.policies {
            let _ = writeln!(out, "| {} | {} |", p.policy, p.estimates.iter().map(interval_cell).collect::<Vec<_>>().join(" | "));
        }
        out
    }
}
