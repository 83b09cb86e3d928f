//! Off-policy evaluation on plain arrays with the Open Bandit Pipeline's conventions (what
//! `recforge.ope.evaluate` in Python calls): `reward[i]`, `action[i]`, `pscore[i]`,
//! `action_dist[i, a, k]` (the evaluated policy's probability of action `a` at position `k`),
//! an optional `position[i]` and an optional fixed reward model `estimated_rewards[i, a, k]`
//! (OBP's `estimated_rewards_by_reg_model`).
//!
//! With a given reward model DM/DR use it as is and their intervals say "reward model fixed"
//! (OBP's behaviour); without one, the model is the mean logged reward per (action, position)
//! and it is refit on every bootstrap resample.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::protocol::{BootstrapOptions, Estimate, REWARD_MODEL_REFIT, bootstrap_estimates};
use super::{Estimator, OpeError, OpeRound, all_estimators, validate};

/// How DM/DR intervals read when the caller's reward model is used unchanged.
pub const REWARD_MODEL_FIXED: &str = "fixed (given)";

/// A logged-bandit dataset as flat arrays (row-major `[n, n_actions, len_list]` for the 3-D ones).
#[derive(Debug, Clone, Copy)]
pub struct ArrayLog<'a> {
    pub reward: &'a [f64],
    pub action: &'a [i64],
    pub pscore: &'a [f64],
    pub action_dist: &'a [f64],
    pub n_actions: usize,
    pub len_list: usize,
    pub position: Option<&'a [i64]>,
    pub estimated_rewards: Option<&'a [f64]>,
}

impl ArrayLog<'_> {
    fn rounds(&self) -> usize {
        self.reward.len()
    }

    /// Index of `[i, a, k]` in the flat 3-D arrays.
    fn at(&self, i: usize, a: usize, k: usize) -> usize {
        (i * self.n_actions + a) * self.len_list + k
    }

    fn position_of(&self, i: usize) -> usize {
        self.position.map_or(0, |p| p[i] as usize)
    }

    /// Shapes, index ranges and action distributions summing to 1, each failure naming the
    /// array and the round.
    fn check(&self) -> Result<(), OpeError> {
        let n = self.rounds();
        let invalid = |m: String| Err(OpeError::Invalid(m));
        if n == 0 {
            return Err(OpeError::Empty);
        }
        if self.n_actions == 0 || self.len_list == 0 {
            return invalid("action_dist must have shape (n_rounds, n_actions, len_list) with n_actions, len_list ≥ 1".into());
        }
        for (name, len) in [("action", self.action.len()), ("pscore", self.pscore.len())].into_iter().chain(self.position.map(|p| ("position", p.len()))) {
            if len != n {
                return invalid(format!("{name} has {len} rounds but reward has {n}; every array needs one entry per round"));
            }
        }
        let cells = n * self.n_actions * self.len_list;
        for (name, len) in [("action_dist", self.action_dist.len())].into_iter().chain(self.estimated_rewards.map(|q| ("estimated_rewards_by_reg_model", q.len()))) {
            if len != cells {
                return invalid(format!("{name} has {len} values, expected n_rounds × n_actions × len_list = {n} × {} × {} = {cells}", self.n_actions, self.len_list));
            }
        }
        for i in 0..n {
            if !(0..self.n_actions as i64).contains(&self.action[i]) {
                return invalid(format!("action[{i}] = {} is outside 0..{} (n_actions from action_dist)", self.action[i], self.n_actions));
            }
            if let Some(p) = self.position
                && !(0..self.len_list as i64).contains(&p[i])
            {
                return invalid(format!("position[{i}] = {} is outside 0..{} (len_list from action_dist)", p[i], self.len_list));
            }
            for k in 0..self.len_list {
                let total: f64 = (0..self.n_actions).map(|a| self.action_dist[self.at(i, a, k)]).sum();
                if !((total - 1.0).abs() <= 1e-6) {
                    return invalid(format!("action_dist[{i}, :, {k}] sums to {total}, not 1; each round's action distribution must be a probability distribution"));
                }
            }
        }
        Ok(())
    }

    /// Round `i` scored with the reward model `q(i, a, k)`.
    fn round(&self, i: usize, draw: f64, q: impl Fn(usize, usize, usize) -> f64) -> OpeRound {
        let (a, k) = (self.action[i] as usize, self.position_of(i));
        let model_value = (0..self.n_actions).map(|b| self.action_dist[self.at(i, b, k)] * q(i, b, k)).sum();
        OpeRound { reward: self.reward[i], pscore: self.pscore[i], target: self.action_dist[self.at(i, a, k)], model_value, model_logged: q(i, a, k), draw }
    }
}

/// Mean logged reward per (action, position) over `rows`; the overall mean where a pair was
/// never logged.
struct MeanTable {
    means: Vec<f64>,
    len_list: usize,
}

impl MeanTable {
    fn fit(log: &ArrayLog, rows: &[usize]) -> MeanTable {
        let cells = log.n_actions * log.len_list;
        let (mut sum, mut count) = (vec![0.0; cells], vec![0usize; cells]);
        for &i in rows {
            let cell = log.action[i] as usize * log.len_list + log.position_of(i);
            sum[cell] += log.reward[i];
            count[cell] += 1;
        }
        let overall = sum.iter().sum::<f64>() / rows.len().max(1) as f64;
        let means = sum.iter().zip(&count).map(|(s, &c)| if c == 0 { overall } else { s / c as f64 }).collect();
        MeanTable { means, len_list: log.len_list }
    }

    fn get(&self, a: usize, k: usize) -> f64 {
        self.means[a * self.len_list + k]
    }
}

/// The estimators named in `names` (all five when empty) on `log`, each with a percentile
/// bootstrap interval; deterministic for `options.seed`.
pub fn evaluate_arrays(log: &ArrayLog, names: &[String], options: BootstrapOptions) -> Result<Vec<Estimate>, OpeError> {
    log.check()?;
    let estimators: Vec<Box<dyn Estimator>> = if names.is_empty() {
        all_estimators()
    } else {
        names
            .iter()
            .map(|name| {
                let wanted = name.to_ascii_lowercase();
                all_estimators().into_iter().find(|e| e.name() == wanted).ok_or_else(|| {
                    let known: Vec<&str> = all_estimators().iter().map(|e| e.name()).collect();
                    OpeError::Invalid(format!("unknown estimator \"{name}\"; choose from {}", known.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let n = log.rounds();
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let draws: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let rounds_of = |idx: &[usize], model: Option<&MeanTable>| -> Vec<OpeRound> {
        idx.iter()
            .map(|&i| match (log.estimated_rewards, model) {
                (Some(q), _) => log.round(i, draws[i], |i, a, k| q[log.at(i, a, k)]),
                (None, Some(m)) => log.round(i, draws[i], |_, a, k| m.get(a, k)),
                (None, None) => unreachable!("a reward model is always fitted when none is given"),
            })
            .collect()
    };
    let all: Vec<usize> = (0..n).collect();
    let fit = |idx: &[usize]| log.estimated_rewards.is_none().then(|| MeanTable::fit(log, idx));
    let rounds = rounds_of(&all, fit(&all).as_ref());
    validate(&rounds)?;
    let reward_model = if log.estimated_rewards.is_some() { REWARD_MODEL_FIXED } else { REWARD_MODEL_REFIT };
    let resample = |rng: &mut SmallRng| {
        let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
        rounds_of(&idx, fit(&idx).as_ref())
    };
    Ok(bootstrap_estimates(&estimators, &rounds, options, &mut rng, resample, reward_model))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> BootstrapOptions {
        BootstrapOptions { resamples: 200, confidence: 0.95, seed: 7 }
    }

    /// Two actions, one position, two rounds; hand-computed values.
    #[test]
    fn hand_computed_estimates_with_a_fixed_reward_model() {
        let reward = [1.0, 0.0];
        let action = [0, 1];
        let pscore = [0.5, 0.5];
        // π_e: round 0 plays action 0 surely; round 1 splits 0.25 / 0.75.
        let action_dist = [1.0, 0.0, 0.25, 0.75];
        let q = [0.6, 0.2, 0.4, 0.1];
        let log = ArrayLog { reward: &reward, action: &action, pscore: &pscore, action_dist: &action_dist, n_actions: 2, len_list: 1, position: None, estimated_rewards: Some(&q) };
        let got: Vec<(String, f64)> = evaluate_arrays(&log, &[], options()).unwrap().into_iter().map(|e| (e.estimator, e.interval.estimate)).collect();
        let value = |name: &str| got.iter().find(|(n, _)| n == name).unwrap().1;
        // Weights: 1/0.5 = 2 and 0.75/0.5 = 1.5. IPS = (2·1 + 1.5·0)/2 = 1.
        assert!((value("ips") - 1.0).abs() < 1e-12);
        // SNIPS = 2 / 3.5.
        assert!((value("snips") - 2.0 / 3.5).abs() < 1e-12);
        // DM: round 0 → 0.6; round 1 → 0.25·0.4 + 0.75·0.1 = 0.175; mean 0.3875.
        assert!((value("dm") - 0.3875).abs() < 1e-12);
        // DR: 0.6 + 2·(1 − 0.6) = 1.4; 0.175 + 1.5·(0 − 0.1) = 0.025; mean 0.7125.
        assert!((value("dr") - 0.7125).abs() < 1e-12);
    }

    #[test]
    fn bad_shapes_and_ranges_are_errors_naming_the_array() {
        let dist = [1.0, 0.0];
        let base = ArrayLog { reward: &[1.0], action: &[0], pscore: &[0.5], action_dist: &dist, n_actions: 2, len_list: 1, position: None, estimated_rewards: None };
        let message = |log: ArrayLog| evaluate_arrays(&log, &[], options()).unwrap_err().to_string();
        assert!(message(ArrayLog { action: &[2], ..base }).contains("action[0] = 2"));
        assert!(message(ArrayLog { pscore: &[0.5, 0.5], ..base }).contains("pscore has 2 rounds"));
        assert!(message(ArrayLog { action_dist: &[0.5, 0.0], ..base }).contains("action_dist[0, :, 0] sums to 0.5"));
        assert!(message(ArrayLog { pscore: &[0.0], ..base }).contains("propensity"));
        assert!(evaluate_arrays(&base, &["nope".into()], options()).unwrap_err().to_string().contains("unknown estimator \"nope\""));
    }

    #[test]
    fn without_a_model_dm_refits_the_mean_table_and_says_so() {
        let reward = [1.0, 0.0, 1.0, 1.0];
        let action = [0, 0, 1, 1];
        let dist = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let log = ArrayLog { reward: &reward, action: &action, pscore: &[0.5; 4], action_dist: &dist, n_actions: 2, len_list: 1, position: None, estimated_rewards: None };
        let estimates = evaluate_arrays(&log, &["dm".into(), "replay".into()], options()).unwrap();
        // The target always plays action 0, whose mean logged reward is 0.5.
        assert!((estimates[0].interval.estimate - 0.5).abs() < 1e-12);
        assert_eq!(estimates[0].reward_model.as_deref(), Some(REWARD_MODEL_REFIT));
        // Replay keeps the two rounds that logged action 0.
        assert!((estimates[1].interval.estimate - 0.5).abs() < 1e-12);
        assert!(estimates[1].reward_model.is_none());
    }
}
