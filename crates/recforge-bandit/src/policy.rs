//! Exploration policies that wrap a [`Scorer`] (Vowpal Wabbit's reductions): the scorer
//! estimates rewards, the policy decides what to show and which slots are exploration.
//!
//! Scorers only score (a mean and its standard deviation); each policy owns its exploration
//! parameter. [`Ucb`] ranks by mean + α·sd; [`EpsilonGreedy`] exploits the mean and explores
//! uniformly with probability ε; [`GaussianThompson`] samples `mean + scale·sd·z` (over
//! Diag-LinUCB or LinUCB the sd is the posterior sd of `x·θ`, so this is linear Thompson
//! sampling, Agrawal & Goyal arXiv 1209.3352); [`BetaThompson`] is the context-free
//! Beta–Bernoulli sampler per item (the Open Bandit Dataset's logging policy); [`UniformRandom`]
//! the uniform baseline. All are used through [`Policy`], so callers hold `Box<dyn Policy>`,
//! built by name with [`make_policy`] from one [`PolicyConfig`] whose defaults are declared once.

use std::collections::HashMap;

use rand::RngCore;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Beta, Distribution, StandardNormal};

use crate::{ClusterContext, Score, Scorer};

/// One recommended item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub item: u32,
    /// The value the policy ranked by (UCB, sampled reward, mean, …).
    pub score: f64,
    /// True when the item is there because of exploration: it would not be in the top k by
    /// the estimated mean alone.
    pub explored: bool,
}

/// How a policy values one item: the scorer's mean and the exploration bonus the policy adds
/// to it (α·sd for UCB, 0 for ε-greedy, the posterior scale × sd for Thompson sampling).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Valuation {
    pub mean: f64,
    pub bonus: f64,
}

/// A contextual bandit policy: ranks candidates for a context and learns from rewards.
pub trait Policy {
    /// Short name for tables (`diag_linucb`, `egreedy`, …).
    fn name(&self) -> String;

    /// The `k` items to show, best first.
    fn choose(&self, context: &ClusterContext, candidates: &[u32], k: usize, rng: &mut dyn RngCore) -> Vec<Choice>;

    /// Probability of each candidate being shown first: the action distribution off-policy
    /// estimators need. Stochastic policies without a closed form estimate it by sampling.
    fn probabilities(&self, context: &ClusterContext, candidates: &[u32], rng: &mut dyn RngCore) -> Vec<f64>;

    /// Record `reward` for showing `item` in `context`.
    fn update(&mut self, context: &ClusterContext, item: u32, reward: f64);

    /// The mean and exploration bonus behind this policy's choice of `item` (what a server
    /// returns to explain a recommendation); None for policies without a scorer.
    fn valuation(&self, _context: &ClusterContext, _item: u32) -> Option<Valuation> {
        None
    }
}

/// Samples used to estimate a sampling policy's action probabilities.
pub const PROBABILITY_SAMPLES: usize = 256;

/// Indices of the `k` largest values, best first (ties by lower index).
/// A partial selection (O(n)) then a sort of the k chosen, not a sort of all n.
fn top_indices(values: &[f64], k: usize) -> Vec<usize> {
    let better = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    let mut order: Vec<usize> = (0..values.len()).collect();
    if k == 0 {
        return Vec::new();
    }
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, better);
        order.truncate(k);
    }
    order.sort_unstable_by(better);
    order
}

/// Choices for the top `k` of `ranked_by`, marking those outside the top `k` by `means`.
fn choices(candidates: &[u32], ranked_by: &[f64], means: &[f64], k: usize) -> Vec<Choice> {
    let exploit = top_indices(means, k);
    top_indices(ranked_by, k)
        .into_iter()
        .map(|i| Choice { item: candidates[i], score: ranked_by[i], explored: !exploit.contains(&i) })
        .collect()
}

/// Monte-Carlo estimate of how often each candidate ranks first under `sample`.
fn sampled_first(n: usize, rng: &mut dyn RngCore, mut sample: impl FnMut(&mut dyn RngCore) -> Vec<f64>) -> Vec<f64> {
    let mut counts = vec![0.0; n];
    if n == 0 {
        return counts;
    }
    for _ in 0..PROBABILITY_SAMPLES {
        let values = sample(rng);
        counts[top_indices(&values, 1)[0]] += 1.0;
    }
    counts.iter().map(|c| c / PROBABILITY_SAMPLES as f64).collect()
}

fn one_hot(n: usize, index: Option<usize>) -> Vec<f64> {
    let mut p = vec![0.0; n];
    if let Some(i) = index {
        p[i] = 1.0;
    }
    p
}

fn scores<S: Scorer>(scorer: &S, context: &ClusterContext, candidates: &[u32]) -> Vec<Score> {
    candidates.iter().map(|&item| scorer.score(context, item)).collect()
}

/// Upper confidence bound: rank by mean + α·sd.
#[derive(Debug, Clone)]
pub struct Ucb<S> {
    pub scorer: S,
    /// Exploration strength α.
    pub alpha: f64,
    pub name: String,
}

impl<S: Scorer> Ucb<S> {
    pub fn new(name: &str, scorer: S, alpha: f64) -> Self {
        Ucb { scorer, alpha, name: name.to_string() }
    }
}

impl<S: Scorer> Policy for Ucb<S> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn choose(&self, context: &ClusterContext, candidates: &[u32], k: usize, _rng: &mut dyn RngCore) -> Vec<Choice> {
        let s = scores(&self.scorer, context, candidates);
        let ucb: Vec<f64> = s.iter().map(|s| s.ucb(self.alpha)).collect();
        let means: Vec<f64> = s.iter().map(|s| s.mean).collect();
        choices(candidates, &ucb, &means, k)
    }

    fn probabilities(&self, context: &ClusterContext, candidates: &[u32], _rng: &mut dyn RngCore) -> Vec<f64> {
        let ucb: Vec<f64> = scores(&self.scorer, context, candidates).iter().map(|s| s.ucb(self.alpha)).collect();
        one_hot(candidates.len(), top_indices(&ucb, 1).first().copied())
    }

    fn update(&mut self, context: &ClusterContext, item: u32, reward: f64) {
        self.scorer.update(context, item, reward);
    }

    fn valuation(&self, context: &ClusterContext, item: u32) -> Option<Valuation> {
        let s = self.scorer.score(context, item);
        Some(Valuation { mean: s.mean, bonus: self.alpha * s.sd })
    }
}

/// ε-greedy: each slot shows the best remaining item by estimated mean, or with probability
/// ε a uniformly drawn remaining item.
#[derive(Debug, Clone)]
pub struct EpsilonGreedy<S> {
    pub scorer: S,
    pub epsilon: f64,
}

impl<S: Scorer> EpsilonGreedy<S> {
    pub fn new(scorer: S, epsilon: f64) -> Self {
        EpsilonGreedy { scorer, epsilon: epsilon.clamp(0.0, 1.0) }
    }
}

impl<S: Scorer> Policy for EpsilonGreedy<S> {
    fn name(&self) -> String {
        "egreedy".to_string()
    }

    fn choose(&self, context: &ClusterContext, candidates: &[u32], k: usize, rng: &mut dyn RngCore) -> Vec<Choice> {
        let means: Vec<f64> = scores(&self.scorer, context, candidates).iter().map(|s| s.mean).collect();
        let mut remaining = top_indices(&means, candidates.len());
        let mut shown = Vec::with_capacity(k.min(candidates.len()));
        while shown.len() < k && !remaining.is_empty() {
            let (slot, explored) = if rng.random::<f64>() < self.epsilon {
                (rng.random_range(0..remaining.len()), true)
            } else {
                (0, false)
            };
            let i = remaining.remove(slot);
            // A random draw that lands on the greedy item is not exploration.
            let explored = explored && slot != 0;
            shown.push(Choice { item: candidates[i], score: means[i], explored });
        }
        shown
    }

    fn probabilities(&self, context: &ClusterContext, candidates: &[u32], _rng: &mut dyn RngCore) -> Vec<f64> {
        let n = candidates.len();
        if n == 0 {
            return Vec::new();
        }
        let means: Vec<f64> = scores(&self.scorer, context, candidates).iter().map(|s| s.mean).collect();
        let mut p = vec![self.epsilon / n as f64; n];
        p[top_indices(&means, 1)[0]] += 1.0 - self.epsilon;
        p
    }

    fn update(&mut self, context: &ClusterContext, item: u32, reward: f64) {
        self.scorer.update(context, item, reward);
    }

    fn valuation(&self, context: &ClusterContext, item: u32) -> Option<Valuation> {
        Some(Valuation { mean: self.scorer.score(context, item).mean, bonus: 0.0 })
    }
}

/// Gaussian Thompson sampling over any scorer: each candidate's reward is drawn from
/// `N(mean, (scale·sd)²)`.
#[derive(Debug, Clone)]
pub struct GaussianThompson<S> {
    pub scorer: S,
    /// Posterior scale: how wide the sampled rewards are, in scorer standard deviations.
    pub scale: f64,
}

impl<S: Scorer> GaussianThompson<S> {
    pub fn new(scorer: S, scale: f64) -> Self {
        GaussianThompson { scorer, scale }
    }

    fn sample(&self, s: &[Score], rng: &mut dyn RngCore) -> Vec<f64> {
        s.iter()
            .map(|s| {
                let z: f64 = StandardNormal.sample(rng);
                s.mean + self.scale * s.sd * z
            })
            .collect()
    }
}

impl<S: Scorer> Policy for GaussianThompson<S> {
    fn name(&self) -> String {
        "thompson".to_string()
    }

    fn choose(&self, context: &ClusterContext, candidates: &[u32], k: usize, rng: &mut dyn RngCore) -> Vec<Choice> {
        let s = scores(&self.scorer, context, candidates);
        let sampled = self.sample(&s, rng);
        let means: Vec<f64> = s.iter().map(|s| s.mean).collect();
        choices(candidates, &sampled, &means, k)
    }

    fn probabilities(&self, context: &ClusterContext, candidates: &[u32], rng: &mut dyn RngCore) -> Vec<f64> {
        let s = scores(&self.scorer, context, candidates);
        sampled_first(candidates.len(), rng, |rng| self.sample(&s, rng))
    }

    fn update(&mut self, context: &ClusterContext, item: u32, reward: f64) {
        self.scorer.update(context, item, reward);
    }

    fn valuation(&self, context: &ClusterContext, item: u32) -> Option<Valuation> {
        let s = self.scorer.score(context, item);
        Some(Valuation { mean: s.mean, bonus: self.scale * s.sd })
    }
}

/// Context-free Beta–Bernoulli Thompson sampling: item j's click rate has the posterior
/// `Beta(α₀ + Σr, β₀ + Σ(1 − r))`; rewards are clamped to [0, 1].
#[derive(Debug, Clone)]
pub struct BetaThompson {
    pub prior_alpha: f64,
    pub prior_beta: f64,
    counts: HashMap<u32, (f64, f64)>,
}

impl BetaThompson {
    pub fn new(prior_alpha: f64, prior_beta: f64) -> Self {
        BetaThompson { prior_alpha: prior_alpha.max(f64::MIN_POSITIVE), prior_beta: prior_beta.max(f64::MIN_POSITIVE), counts: HashMap::new() }
    }

    /// Posterior (α, β) of `item`.
    pub fn posterior(&self, item: u32) -> (f64, f64) {
        let (s, f) = self.counts.get(&item).copied().unwrap_or_default();
        (self.prior_alpha + s, self.prior_beta + f)
    }

    fn mean(&self, item: u32) -> f64 {
        let (a, b) = self.posterior(item);
        a / (a + b)
    }

    fn sample(&self, candidates: &[u32], rng: &mut dyn RngCore) -> Vec<f64> {
        candidates
            .iter()
            .map(|&item| {
                let (a, b) = self.posterior(item);
                // Both parameters are positive by construction, so Beta::new cannot fail;
                // fall back to the mean rather than panic.
                Beta::new(a, b).map_or(a / (a + b), |d| d.sample(rng))
            })
            .collect()
    }
}

impl Policy for BetaThompson {
    fn name(&self) -> String {
        "beta_thompson".to_string()
    }

    fn choose(&self, _context: &ClusterContext, candidates: &[u32], k: usize, rng: &mut dyn RngCore) -> Vec<Choice> {
        let sampled = self.sample(candidates, rng);
        let means: Vec<f64> = candidates.iter().map(|&i| self.mean(i)).collect();
        choices(candidates, &sampled, &means, k)
    }

    fn probabilities(&self, _context: &ClusterContext, candidates: &[u32], rng: &mut dyn RngCore) -> Vec<f64> {
        sampled_first(candidates.len(), rng, |rng| self.sample(candidates, rng))
    }

    fn update(&mut self, _context: &ClusterContext, item: u32, reward: f64) {
        let r = reward.clamp(0.0, 1.0);
        let entry = self.counts.entry(item).or_default();
        entry.0 += r;
        entry.1 += 1.0 - r;
    }
}

/// Shows a uniformly random subset; every slot is exploration.
#[derive(Debug, Clone, Default)]
pub struct UniformRandom;

impl Policy for UniformRandom {
    fn name(&self) -> String {
        "random".to_string()
    }

    fn choose(&self, _context: &ClusterContext, candidates: &[u32], k: usize, rng: &mut dyn RngCore) -> Vec<Choice> {
        let mut shuffled = candidates.to_vec();
        shuffled.shuffle(rng);
        shuffled.truncate(k);
        shuffled.into_iter().map(|item| Choice { item, score: 0.0, explored: true }).collect()
    }

    fn probabilities(&self, _context: &ClusterContext, candidates: &[u32], _rng: &mut dyn RngCore) -> Vec<f64> {
        vec![1.0 / candidates.len().max(1) as f64; candidates.len()]
    }

    fn update(&mut self, _context: &ClusterContext, _item: u32, _reward: f64) {}
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;
    use crate::DiagLinUcb;

    #[test]
    fn top_indices_equals_a_full_sort_with_ties_by_index() {
        let mut rng = SmallRng::seed_from_u64(3);
        for n in [0usize, 1, 2, 7, 100] {
            // Few distinct values, so ties are common.
            let values: Vec<f64> = (0..n).map(|_| rng.random_range(0..5) as f64).collect();
            let mut full: Vec<usize> = (0..n).collect();
            full.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
            for k in [0, 1, 3, n, n + 2] {
                assert_eq!(top_indices(&values, k), full[..k.min(n)].to_vec(), "n {n} k {k}");
            }
        }
    }

    fn trained() -> DiagLinUcb {
        let mut scorer = DiagLinUcb::new(1.0);
        let ctx = ClusterContext::one_hot(0);
        for _ in 0..50 {
            scorer.update(&ctx, 1, 1.0);
            scorer.update(&ctx, 2, 0.0);
        }
        scorer
    }

    #[test]
    fn ucb_prefers_the_unseen_item_and_marks_it_explored() {
        let policy = Ucb::new("diag_linucb", trained(), 1.0);
        let mut rng = SmallRng::seed_from_u64(1);
        // Item 3 is unseen: mean 0, sd 1; at α = 1 that is below item 1's 50/51 + 1/sqrt(51).
        let shown = policy.choose(&ClusterContext::one_hot(0), &[1, 2, 3], 1, &mut rng);
        assert_eq!(shown[0].item, 1);
        let policy = Ucb::new("diag_linucb", trained(), 5.0);
        let v = policy.valuation(&ClusterContext::one_hot(0), 3).unwrap();
        assert_eq!((v.mean, v.bonus), (0.0, 5.0));
        let shown = policy.choose(&ClusterContext::one_hot(0), &[1, 2, 3], 1, &mut rng);
        assert_eq!(shown[0].item, 3);
        assert!(shown[0].explored);
        assert_eq!(policy.probabilities(&ClusterContext::one_hot(0), &[1, 2, 3], &mut rng), vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn epsilon_greedy_probabilities_are_closed_form_and_match_its_choices() {
        let policy = EpsilonGreedy::new(trained(), 0.3);
        let mut rng = SmallRng::seed_from_u64(2);
        let p = policy.probabilities(&ClusterContext::one_hot(0), &[2, 1, 3], &mut rng);
        assert!((p[1] - (0.7 + 0.1)).abs() < 1e-12 && (p[0] - 0.1).abs() < 1e-12);
        let draws = 20_000;
        let firsts = (0..draws).filter(|_| policy.choose(&ClusterContext::one_hot(0), &[2, 1, 3], 1, &mut rng)[0].item == 1).count();
        assert!((firsts as f64 / draws as f64 - 0.8).abs() < 0.02);
    }

    #[test]
    fn beta_thompson_concentrates_on_the_better_arm() {
        let mut policy = BetaThompson::new(1.0, 1.0);
        let ctx = ClusterContext::one_hot(0);
        for _ in 0..200 {
            policy.update(&ctx, 1, 1.0);
            policy.update(&ctx, 2, 0.0);
        }
        assert_eq!(policy.posterior(1), (201.0, 1.0));
        let mut rng = SmallRng::seed_from_u64(3);
        let p = policy.probabilities(&ctx, &[1, 2], &mut rng);
        assert_eq!(p, vec![1.0, 0.0]);
    }

    #[test]
    fn uniform_random_shows_distinct_items_all_explored() {
        let mut rng = SmallRng::seed_from_u64(4);
        let shown = UniformRandom.choose(&ClusterContext::one_hot(0), &[5, 6, 7, 8], 3, &mut rng);
        let mut items: Vec<u32> = shown.iter().map(|c| c.item).collect();
        items.sort();
        items.dedup();
        assert_eq!(items.len(), 3);
        assert!(shown.iter().all(|c| c.explored));
    }

    #[test]
    fn gaussian_thompson_with_zero_scale_is_greedy() {
        let policy = GaussianThompson::new(trained(), 0.0);
        let mut rng = SmallRng::seed_from_u64(5);
        assert_eq!(policy.probabilities(&ClusterContext::one_hot(0), &[2, 3, 1], &mut rng), vec![0.0, 0.0, 1.0]);
    }
}

/// Hyper-parameters of the named policies of [`make_policy`]: the scorer's ridge prior and
/// each exploration wrapper's own parameter. [`PolicyConfig::DEFAULT`] is the one place the
/// defaults are declared (the CLI and the server read it).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PolicyConfig {
    /// Ridge prior λ of the Diag-LinUCB and LinUCB scorers.
    pub lambda: f64,
    /// Exploration strength α of [`Ucb`].
    pub alpha: f64,
    /// ε of [`EpsilonGreedy`].
    pub epsilon: f64,
    /// Posterior scale of [`GaussianThompson`].
    pub ts_scale: f64,
}

impl PolicyConfig {
    pub const DEFAULT: PolicyConfig = PolicyConfig { lambda: 1.0, alpha: 0.5, epsilon: 0.05, ts_scale: 0.5 };
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig::DEFAULT
    }
}

/// Policy names [`make_policy`] knows.
pub const POLICY_NAMES: [&str; 6] = ["diag_linucb", "linucb", "egreedy", "thompson", "beta_thompson", "random"];

/// A comma-separated list of policy names, checked against [`POLICY_NAMES`].
pub fn parse_policy_names(list: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if let Some(bad) = names.iter().find(|n| !POLICY_NAMES.contains(&n.as_str())) {
        return Err(format!("unknown policy \"{bad}\"; known: {}", POLICY_NAMES.join(", ")));
    }
    if names.is_empty() {
        return Err(format!("the policy list is empty; name at least one of {}", POLICY_NAMES.join(", ")));
    }
    Ok(names)
}

/// Policies [`make_policy_over`] builds over an existing Diag-LinUCB state (what a server
/// that keeps its statistics in a shared store can run).
pub const SHARED_STATE_POLICIES: [&str; 3] = ["diag_linucb", "egreedy", "thompson"];

/// A fresh policy by name over contexts of `dim` clusters; `None` for an unknown name.
pub fn make_policy(name: &str, config: &PolicyConfig, dim: usize) -> Option<Box<dyn Policy + Send>> {
    match name {
        "linucb" => Some(Box::new(Ucb::new(name, crate::LinUcb::new(dim, config.lambda), config.alpha))),
        "beta_thompson" => Some(Box::new(BetaThompson::new(1.0, 1.0))),
        "random" => Some(Box::new(UniformRandom)),
        _ => make_policy_over(name, config, crate::DiagLinUcb::new(config.lambda)),
    }
}

/// The exploration policy `name` (one of [`SHARED_STATE_POLICIES`]) wrapped around `scorer`,
/// e.g. a Diag-LinUCB filled from a store; `None` for another name.
pub fn make_policy_over<S: Scorer + Send + 'static>(name: &str, config: &PolicyConfig, scorer: S) -> Option<Box<dyn Policy + Send>> {
    Some(match name {
        "diag_linucb" => Box::new(Ucb::new(name, scorer, config.alpha)),
        "egreedy" => Box::new(EpsilonGreedy::new(scorer, config.epsilon)),
        "thompson" => Box::new(GaussianThompson::new(scorer, config.ts_scale)),
        _ => return None,
    })
}
