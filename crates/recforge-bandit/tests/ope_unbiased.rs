//! Off-policy estimators on synthetic logs whose target-policy value is known exactly:
//! averaged over many independent logs, each unbiased estimator lands on the truth.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use recforge_bandit::ope::{DirectMethod, DoublyRobust, Estimator, Ips, OpeRound, Replay, Snips, validate};

const CONTEXTS: usize = 5;
const ACTIONS: usize = 4;

/// True click probability of action `a` in context `x`.
fn q(x: usize, a: usize) -> f64 {
    0.1 + 0.8 * (((x * 7 + a * 3) % 10) as f64 / 10.0)
}

/// A non-uniform logging policy with full support.
fn logging(x: usize) -> [f64; ACTIONS] {
    let raw: Vec<f64> = (0..ACTIONS).map(|a| 1.0 + ((x + 2 * a) % 3) as f64).collect();
    let total: f64 = raw.iter().sum();
    [raw[0] / total, raw[1] / total, raw[2] / total, raw[3] / total]
}

/// The target policy: concentrated on one action per context.
fn target(x: usize) -> [f64; ACTIONS] {
    let mut p = [0.1 / 3.0; ACTIONS];
    p[x % ACTIONS] = 0.9;
    p
}

fn true_value() -> f64 {
    (0..CONTEXTS).map(|x| (0..ACTIONS).map(|a| target(x)[a] * q(x, a)).sum::<f64>()).sum::<f64>() / CONTEXTS as f64
}

fn sample(dist: &[f64], rng: &mut SmallRng) -> usize {
    let mut u = rng.random::<f64>();
    for (a, p) in dist.iter().enumerate() {
        u -= p;
        if u <= 0.0 {
            return a;
        }
    }
    dist.len() - 1
}

/// A log of `n` rounds under `behaviour`; `model` is the reward model DM/DR use.
fn log(n: usize, behaviour: fn(usize) -> [f64; ACTIONS], model: fn(usize, usize) -> f64, rng: &mut SmallRng) -> Vec<OpeRound> {
    (0..n)
        .map(|_| {
            let x = rng.random_range(0..CONTEXTS);
            let pb = behaviour(x);
            let a = sample(&pb, rng);
            let reward = f64::from(rng.random::<f64>() < q(x, a));
            let pe = target(x);
            let draw = rng.random::<f64>();
            OpeRound { reward, pscore: pb[a], target: pe[a], model_value: (0..ACTIONS).map(|b| pe[b] * model(x, b)).sum(), model_logged: model(x, a), draw }
        })
        .collect()
}

fn mean_estimate(estimator: &dyn Estimator, behaviour: fn(usize) -> [f64; ACTIONS], model: fn(usize, usize) -> f64, seed: u64) -> f64 {
    let mut rng = SmallRng::seed_from_u64(seed);
    let reps = 400;
    (0..reps)
        .map(|_| {
            let rounds = log(500, behaviour, model, &mut rng);
            validate(&rounds).expect("valid synthetic log");
            estimator.estimate(&rounds)
        })
        .sum::<f64>()
        / reps as f64
}

/// A reward model that is wrong everywhere (DR must still be unbiased).
fn wrong_model(_x: usize, _a: usize) -> f64 {
    0.5
}

fn uniform(_x: usize) -> [f64; ACTIONS] {
    [1.0 / ACTIONS as f64; ACTIONS]
}

// Tolerance: the mean of 400 estimates of 500 rounds each; the per-log standard error of
// IPS here is below 0.04, so the mean's is below 0.002 — 0.01 is five standard errors.
const TOLERANCE: f64 = 0.01;

#[test]
fn ips_is_unbiased_under_a_non_uniform_logging_policy() {
    let v = true_value();
    let est = mean_estimate(&Ips, logging, wrong_model, 1);
    assert!((est - v).abs() < TOLERANCE, "IPS {est} vs true {v}");
}

#[test]
fn snips_is_consistent() {
    let v = true_value();
    let est = mean_estimate(&Snips, logging, wrong_model, 2);
    assert!((est - v).abs() < TOLERANCE, "SNIPS {est} vs true {v}");
}

#[test]
fn doubly_robust_is_unbiased_with_a_wrong_reward_model() {
    let v = true_value();
    let est = mean_estimate(&DoublyRobust, logging, wrong_model, 3);
    assert!((est - v).abs() < TOLERANCE, "DR {est} vs true {v}");
}

#[test]
fn direct_method_is_exact_with_the_true_reward_model_and_biased_with_a_wrong_one() {
    let v = true_value();
    let exact = mean_estimate(&DirectMethod, logging, q, 4);
    assert!((exact - v).abs() < TOLERANCE, "DM {exact} vs true {v}");
    let wrong = mean_estimate(&DirectMethod, logging, wrong_model, 5);
    assert!((wrong - 0.5).abs() < 1e-12, "DM with a constant model returns the constant");
}

#[test]
fn replay_is_unbiased_under_uniform_logging() {
    let v = true_value();
    let est = mean_estimate(&Replay, uniform, wrong_model, 6);
    assert!((est - v).abs() < TOLERANCE, "replay {est} vs true {v}");
}

/// OBP's replay keeps only matching rounds: under uniform logging it is not SNIPS (which
/// weights every round by π_e), so on the same log the two differ.
#[test]
fn replay_keeps_only_rounds_where_the_sampled_target_action_matches() {
    let mut rng = SmallRng::seed_from_u64(11);
    let rounds = log(2000, uniform, wrong_model, &mut rng);
    let kept = rounds.iter().filter(|r| r.draw < r.target).count();
    let by_hand = rounds.iter().filter(|r| r.draw < r.target).map(|r| r.reward).sum::<f64>() / kept as f64;
    assert!((Replay.estimate(&rounds) - by_hand).abs() < 1e-12);
    assert!((Replay.estimate(&rounds) - Snips.estimate(&rounds)).abs() > 1e-6);
    // About a quarter of the rounds match under 4 uniform actions.
    assert!((kept as f64 / 2000.0 - 0.25).abs() < 0.05, "{kept}");
}

#[test]
fn a_zero_propensity_is_rejected_with_the_round_named() {
    let rounds = [OpeRound { reward: 1.0, pscore: 0.0, target: 1.0, model_value: 0.0, model_logged: 0.0, draw: 0.0 }];
    let message = validate(&rounds).unwrap_err().to_string();
    assert!(message.contains("round 0") && message.contains("propensity"), "{message}");
}
