//! The two Open Bandit Dataset experiments of `recforge bandit ope`.
//!
//! 1. OBP's validation protocol: estimate the Bernoulli-TS policy's CTR from the
//!    uniform-random log, and compare with its on-policy CTR in its own log. The BTS policy is
//!    context-free and updated in batches, so its action distribution per slot is taken as
//!    its time-averaged one — the frequency of each item per slot in the BTS log.
//! 2. Policies trained on the first half (time order) of the random log and evaluated
//!    off-policy on the second half.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::obd::{CtrTable, FeatureVocab, ObdLog, ObdRow, POSITIONS};
use super::{Estimator, Interval, OpeError, OpeRound, all_estimators, validate};
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
    /// NaN (JSON `null`) when the estimate is undefined; see `warning`.
    #[serde(flatten)]
    pub interval: Interval,
    /// For the model-based estimators (dm, dr): how the interval treats the reward model —
    /// `"refit per resample"` (the model is fit again on every bootstrap resample, so its own
    /// uncertainty is in the interval).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_model: Option<String>,
    /// Why the estimate is undefined, or why its interval is partial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// How DM/DR intervals treat the reward model.
pub const REWARD_MODEL_REFIT: &str = "refit per resample";

/// What the estimators evaluate: logged rows, the target policy's action distribution for each
/// (indexed by item), and the rows the reward model is fit on (`None`: the evaluated rows).
pub(crate) struct Evaluation<'a> {
    pub rows: &'a [ObdRow],
    pub targets: Vec<&'a [f64]>,
    pub model_rows: Option<&'a [ObdRow]>,
    pub n_items: u32,
    pub positions: usize,
}

impl Evaluation<'_> {
    /// Rounds of the rows `idx`, with the reward model fit on `model_rows` and the replay
    /// draws `draws` (one per row).
    fn rounds<'r>(&self, idx: &[usize], model_rows: impl Iterator<Item = &'r ObdRow>, draws: &[f64]) -> Vec<OpeRound> {
        let model = CtrTable::fit_rows(model_rows, self.n_items, self.positions);
        idx.iter().map(|&i| OpeRound { draw: draws[i], ..scored_round(&self.rows[i], self.targets[i], &model) }).collect()
    }

    /// Every estimator with a bootstrap interval: each resample draws the evaluated rows (and,
    /// when the model has its own rows, those too) with replacement and refits the reward model
    /// on the resample, so DM/DR intervals carry the model's uncertainty.
    pub(crate) fn estimate_all(&self, options: BootstrapOptions) -> Result<Vec<Estimate>, OpeError> {
        let mut rng = SmallRng::seed_from_u64(options.seed);
        let draws: Vec<f64> = (0..self.rows.len()).map(|_| rng.random::<f64>()).collect();
        let all: Vec<usize> = (0..self.rows.len()).collect();
        let rounds = self.rounds(&all, self.model_rows.unwrap_or(self.rows).iter(), &draws);
        validate(&rounds)?;
        let estimators = all_estimators();
        let resample = |rng: &mut SmallRng| {
            let idx: Vec<usize> = (0..self.rows.len()).map(|_| rng.random_range(0..self.rows.len())).collect();
            match self.model_rows {
                Some(rows) => {
                    let model_idx: Vec<usize> = (0..rows.len()).map(|_| rng.random_range(0..rows.len())).collect();
                    self.rounds(&idx, model_idx.iter().map(|&i| &rows[i]), &draws)
                }
                None => self.rounds(&idx, idx.iter().map(|&i| &self.rows[i]), &draws),
            }
        };
        Ok(bootstrap_estimates(&estimators, &rounds, options, &mut rng, resample, REWARD_MODEL_REFIT))
    }
}

/// Every estimator on `rounds` with a percentile interval over `options.resamples` resamples,
/// each drawn by `resample` from `rng` (which refits the reward model when the caller's model
/// is refit); `reward_model` says how DM/DR intervals treat the model.
pub(crate) fn bootstrap_estimates(
    estimators: &[Box<dyn Estimator>],
    rounds: &[OpeRound],
    options: BootstrapOptions,
    rng: &mut SmallRng,
    mut resample: impl FnMut(&mut SmallRng) -> Vec<OpeRound>,
    reward_model: &str,
) -> Vec<Estimate> {
    let points: Vec<f64> = estimators.iter().map(|e| e.estimate(rounds)).collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(options.resamples); estimators.len()];
    for _ in 0..options.resamples {
        let resampled = resample(rng);
        for (e, values) in estimators.iter().zip(samples.iter_mut()) {
            values.push(e.estimate(&resampled));
        }
    }
    estimators
        .iter()
        .zip(points)
        .zip(samples)
        .map(|((e, estimate), values)| {
            let (interval, warning) = percentile_interval(estimate, values, options.confidence);
            let model_based = matches!(e.name(), "dm" | "dr");
            let warning = warning.map(|w| format!("{}: {w}", e.name()));
            Estimate { estimator: e.name().to_string(), interval, reward_model: model_based.then(|| reward_model.to_string()), warning }
        })
        .collect()
}

/// The percentile interval of the finite bootstrap values around `estimate`, with a warning
/// when the estimate is undefined or some resamples were.
fn percentile_interval(estimate: f64, mut values: Vec<f64>, confidence: f64) -> (Interval, Option<String>) {
    if !estimate.is_finite() {
        return (
            Interval { estimate: f64::NAN, lower: f64::NAN, upper: f64::NAN },
            Some("undefined on this log (no round to average: e.g. no logged action the target policy would take)".into()),
        );
    }
    let total = values.len();
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return (Interval { estimate, lower: estimate, upper: estimate }, None);
    }
    let tail = (1.0 - confidence.clamp(0.0, 1.0)) / 2.0;
    let at = |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    let dropped = total - values.len();
    let warning = (dropped > 0).then(|| format!("undefined on {dropped} of {total} bootstrap resamples; the interval uses the others"));
    (Interval { estimate, lower: at(tail), upper: at(1.0 - tail) }, warning)
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
    let evaluation = Evaluation { rows: &random.rows, targets: random.rows.iter().map(|r| freq[r.position].as_slice()).collect(), model_rows: None, n_items: random.n_items, positions: POSITIONS };
    let clicks: Vec<f64> = bts.rows.iter().map(|r| r.click).collect();
    Ok(BtsValidation {
        on_policy_ctr: mean_interval(&clicks, options.resamples, options.confidence, options.seed),
        bts_rows: bts.rows.len(),
        random_rows: random.rows.len(),
        estimates: evaluation.estimate_all(options)?,
    })
}

/// One logged round seen by a target policy with action distribution `target` (indexed by
/// item), with the reward model's value of that distribution and of the logged item.
pub(crate) fn scored_round(row: &ObdRow, target: &[f64], model: &CtrTable) -> OpeRound {
    OpeRound {
        reward: row.click,
        pscore: row.pscore,
        target: target[row.item as usize],
        model_value: target.iter().enumerate().map(|(a, p)| p * model.rate(a as u32, row.position)).sum(),
        model_logged: model.rate(row.item, row.position),
        draw: 0.0,
    }
}

/// Experiment 2: train each policy on the first half of `random`, evaluate on the second.
pub fn evaluate_trained(random: &ObdLog, vocab: &FeatureVocab, policies: Vec<Box<dyn Policy>>, options: BootstrapOptions) -> Result<Vec<PolicyEstimates>, OpeError> {
    let half = random.rows.len() / 2;
    let (train, eval) = random.rows.split_at(half);
    if train.is_empty() || eval.is_empty() {
        return Err(OpeError::Invalid(format!("{}: too few rows to split into training and evaluation halves", random.path.display())));
    }
    let items: Vec<u32> = (0..random.n_items).collect();
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let mut results = Vec::new();
    for mut policy in policies {
        for r in train {
            policy.update(&vocab.context(r), r.item, r.click);
        }
        // The policy is trained once; the bootstrap refits the reward model on resamples of
        // the training half.
        let targets: Vec<Vec<f64>> = eval.iter().map(|r| policy.probabilities(&vocab.context(r), &items, &mut rng)).collect();
        let evaluation = Evaluation { rows: eval, targets: targets.iter().map(Vec::as_slice).collect(), model_rows: Some(train), n_items: random.n_items, positions: vocab.positions() };
        let mut estimates = evaluation.estimate_all(options)?;
        for e in &mut estimates {
            e.warning = e.warning.take().map(|w| format!("{}, {w}", policy.name()));
        }
        results.push(PolicyEstimates { policy: policy.name(), train_rows: train.len(), eval_rows: eval.len(), estimates });
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
        out += "\nReplay is OBP's: only rounds where the target policy's (sampled) action equals the logged one. dm and dr intervals refit the reward model on every bootstrap resample.\n";
        let (train, eval) = self.policies.first().map_or((0, 0), |p| (p.train_rows, p.eval_rows));
        let _ = writeln!(out, "\n2. Policies trained on the first {train} rows of the random log, evaluated on the last {eval}\n");
        let estimators: Vec<&str> = self.policies.first().map(|p| p.estimates.iter().map(|e| e.estimator.as_str()).collect()).unwrap_or_default();
        let _ = writeln!(out, "| policy | {} |\n|---|{}", estimators.join(" | "), "---|".repeat(estimators.len()));
        for p in &self.policies {
            let _ = writeln!(out, "| {} | {} |", p.policy, p.estimates.iter().map(interval_cell).collect::<Vec<_>>().join(" | "));
        }
        let warnings: Vec<&str> = v.estimates.iter().chain(self.policies.iter().flat_map(|p| &p.estimates)).filter_map(|e| e.warning.as_deref()).collect();
        for w in warnings {
            let _ = writeln!(out, "\nwarning: {w}");
        }
        out
    }
}
