//! A closed-loop simulation of Online Matching on a real rating log (MovieLens-1M).
//!
//! The environment: an *oracle* logistic MF fitted on every rating (label = rating ≥ 4) gives
//! the true click probability of any (user, item). The system: an *offline* MF fitted on the
//! first part of the log (by time) without the held-out fresh items, clustered into the
//! bipartite graph. Users then arrive in the order of the rest of the log; fresh items arrive
//! evenly over the run (in order of their first rating) and stay in the fresh pool for a
//! window. Every policy sees the same users and candidates and picks one item; rewards are
//! Bernoulli draws from the oracle with common random numbers, and the regret of a round is
//! the best candidate's probability minus the chosen one's. Update time is measured per call.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use recforge_data::{Phase, Progress, Unit};
use serde::Serialize;

use crate::ClusterContext;
use crate::data::{Rating, Ratings};
use crate::online_matching::{Mf, MfConfig, OfflineConfig, OnlineMatching};
use crate::policy::{PolicyConfig, make_policy};

/// Settings of [`simulate`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SimConfig {
    /// Rounds (user arrivals) to simulate.
    pub rounds: usize,
    /// Share of the log (by time) the offline model is trained on.
    pub offline_fraction: f64,
    /// Share of items held out of the offline model and released during the run.
    pub fresh_fraction: f64,
    /// Rounds a fresh item stays in the fresh pool after it arrives.
    pub fresh_window: usize,
    /// Rating at or above which a rating counts as a click.
    pub positive_rating: f32,
    pub mf: MfConfig,
    pub offline: OfflineConfig,
    pub policy: PolicyConfig,
    /// Points on each regret curve.
    pub curve_points: usize,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rounds: 50_000,
            offline_fraction: 0.5,
            fresh_fraction: 0.1,
            fresh_window: 20_000,
            positive_rating: 4.0,
            mf: MfConfig::default(),
            offline: OfflineConfig::default(),
            policy: PolicyConfig::default(),
            curve_points: 100,
            seed: 42,
        }
    }
}

/// Why a simulation cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown policy \"{0}\"; known: {known}", known = crate::POLICY_NAMES.join(", "))]
    UnknownPolicy(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Data(#[from] recforge_data::error::DataError),
}

/// One policy's run.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRun {
    pub policy: String,
    /// (round, cumulative regret) at evenly spaced rounds, the last one included.
    pub regret_curve: Vec<(usize, f64)>,
    pub cumulative_regret: f64,
    /// Mean expected reward (oracle click probability) of the chosen items.
    pub mean_reward: f64,
    /// Share of rounds whose pick came from exploration.
    pub exploration_rate: f64,
    /// Share of rounds that showed a fresh item.
    pub fresh_share: f64,
    /// Mean wall time of one `update` call, in nanoseconds.
    pub update_ns: f64,
    /// Mean wall time of choosing among the round's candidates, in microseconds.
    pub choose_us: f64,
}

/// What [`simulate`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub config: SimConfig,
    pub ratings: usize,
    pub users: usize,
    pub items: usize,
    pub fresh_items: usize,
    pub clusters: usize,
    pub graph_edges: usize,
    pub mean_candidates: f64,
    pub oracle_logloss: f64,
    pub offline_logloss: f64,
    /// Mean oracle probability of the best candidate (the reward regret is measured against).
    pub mean_best_reward: f64,
    pub runs: Vec<PolicyRun>,
}

/// Everything the policies share: the artifact, the oracle and the round schedule.
struct World {
    matching: OnlineMatching,
    oracle: Mf,
    /// (round, item) arrivals of fresh items, sorted by round.
    arrivals: Vec<(usize, u32)>,
    /// User of each round.
    stream: Vec<u32>,
    /// Each user's context from the offline model (the system never sees the oracle's).
    contexts: Vec<ClusterContext>,
}

fn labelled(events: &[Rating], threshold: f32) -> Vec<(u32, u32, f32)> {
    events.iter().map(|e| (e.user, e.item, f32::from(e.rating >= threshold))).collect()
}

fn build_world(ratings: &Ratings, config: &SimConfig, report: &mut SimReport) -> Result<World, SimError> {
    let (n_users, n_items) = (ratings.users.len(), ratings.items.len());
    let all = labelled(&ratings.events, config.positive_rating);
    let oracle = Mf::train(&all, n_users, n_items, config.mf, config.seed);
    report.oracle_logloss = oracle.logloss(&all);

    let mut rng = SmallRng::seed_from_u64(config.seed ^ 0x5eed);
    let mut items: Vec<u32> = (0..n_items as u32).collect();
    items.shuffle(&mut rng);
    let fresh: HashSet<u32> = items[..((n_items as f64 * config.fresh_fraction) as usize)].iter().copied().collect();
    let cut = ((ratings.events.len() as f64) * config.offline_fraction.clamp(0.0, 1.0)) as usize;
    let (offline_events, online_events) = ratings.events.split_at(cut);
    let offline: Vec<(u32, u32, f32)> = labelled(offline_events, config.positive_rating).into_iter().filter(|e| !fresh.contains(&e.1)).collect();
    if offline.is_empty() || online_events.is_empty() {
        return Err(SimError::Invalid(format!("{}: offline_fraction {} leaves no offline or no online ratings", ratings.path.display(), config.offline_fraction)));
    }
    let model = Mf::train(&offline, n_users, n_items, config.mf, config.seed + 1);
    report.offline_logloss = model.logloss(&offline);

    let known_users: HashSet<u32> = offline.iter().map(|e| e.0).collect();
    let catalog: Vec<u32> = {
        let seen: HashSet<u32> = offline.iter().map(|e| e.1).collect();
        let mut c: Vec<u32> = seen.into_iter().collect();
        c.sort_unstable();
        c
    };
    let matching = OnlineMatching::build(&model, &ratings.users, &ratings.items, &catalog, &[], &config.offline, config.seed);

    // Fresh items arrive in the order of their first rating, evenly over the run.
    let mut first_seen: HashMap<u32, usize> = HashMap::new();
    for (i, e) in ratings.events.iter().enumerate() {
        first_seen.entry(e.item).or_insert(i);
    }
    let mut fresh_order: Vec<u32> = fresh.iter().copied().collect();
    fresh_order.sort_by_key(|j| (first_seen.get(j).copied().unwrap_or(usize::MAX), *j));
    let spacing = config.rounds as f64 / fresh_order.len().max(1) as f64;
    let arrivals = fresh_order.iter().enumerate().map(|(k, &j)| ((k as f64 * spacing) as usize, j)).collect();

    let online_users: Vec<u32> = online_events.iter().map(|e| e.user).filter(|u| known_users.contains(u)).collect();
    if online_users.is_empty() {
        return Err(SimError::Invalid("no user of the online period appears in the offline period".into()));
    }
    let stream = (0..config.rounds).map(|t| online_users[t % online_users.len()]).collect();
    report.users = known_users.len();
    report.fresh_items = fresh.len();
    report.clusters = matching.centroids.len();
    let contexts = model.users.iter().map(|embedding| matching.context_of(embedding)).collect();
    Ok(World { matching, oracle, arrivals, stream, contexts })
}

/// What `recforge bandit simulate` produces: the report, the ratings file it ran on and, when
/// asked, the artifact trained on every rating.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub ratings_path: std::path::PathBuf,
    pub report: SimReport,
    pub artifact: Option<OnlineMatching>,
}

/// Reads the ratings `data` names ([`Ratings::locate`]: `ml-1m`, `ml-100k` or a `.inter`
/// path), simulates `policies`, and with `with_artifact` also trains the serving artifact.
pub fn run_simulation<S: AsRef<str>>(data: &str, policies: &[S], config: &SimConfig, with_artifact: bool, progress: &dyn Progress) -> Result<Simulation, SimError> {
    let ratings_path = Ratings::locate(data)?;
    let ratings = Ratings::read_recbole(&ratings_path)?;
    let report = simulate(&ratings, policies, config, progress)?;
    let artifact = with_artifact.then(|| train_artifact(&ratings, config));
    Ok(Simulation { ratings_path, report, artifact })
}

/// The Online Matching artifact the server loads (`recforge serve`): the offline model
/// trained on every rating of `ratings`, clustered, with the whole catalogue in the graph.
pub fn train_artifact(ratings: &Ratings, config: &SimConfig) -> OnlineMatching {
    let examples = labelled(&ratings.events, config.positive_rating);
    let model = Mf::train(&examples, ratings.users.len(), ratings.items.len(), config.mf, config.seed);
    let catalog: Vec<u32> = (0..ratings.items.len() as u32).collect();
    OnlineMatching::build(&model, &ratings.users, &ratings.items, &catalog, &[], &config.offline, config.seed)
}

/// Runs every policy in `policies` through the same simulated traffic, reporting the rounds
/// done (over all policies) to `progress`.
pub fn simulate<S: AsRef<str>>(ratings: &Ratings, policies: &[S], config: &SimConfig, progress: &dyn Progress) -> Result<SimReport, SimError> {
    let policies: Vec<&str> = policies.iter().map(AsRef::as_ref).collect();
    for name in &policies {
        if make_policy(name, &config.policy, 1).is_none() {
            return Err(SimError::UnknownPolicy(name.to_string()));
        }
    }
    let mut report = SimReport {
        config: *config,
        ratings: ratings.events.len(),
        users: 0,
        items: ratings.items.len(),
        fresh_items: 0,
        clusters: 0,
        graph_edges: 0,
        mean_candidates: 0.0,
        oracle_logloss: 0.0,
        offline_logloss: 0.0,
        mean_best_reward: 0.0,
        runs: Vec::new(),
    };
    let world = build_world(ratings, config, &mut report)?;
    let dim = world.matching.centroids.len();
    let curve_every = (config.rounds / config.curve_points.max(1)).max(1);
    let mut done = 0u64;
    let phase = Phase::begin(progress, "simulating", Some((config.rounds * policies.len()) as u64), Unit::Steps);
    for name in &policies {
        let Some(mut policy) = make_policy(name, &config.policy, dim) else {
            return Err(SimError::UnknownPolicy(name.to_string()));
        };
        let mut graph = world.matching.graph.clone();
        let mut next_arrival = 0;
        let mut arrived_at: HashMap<u32, usize> = HashMap::new();
        let mut policy_rng = SmallRng::seed_from_u64(config.seed ^ 0xb0b);
        let mut reward_rng = SmallRng::seed_from_u64(config.seed ^ 0xc1c);
        let (mut regret, mut reward_sum, mut best_sum, mut explored, mut fresh_shown) = (0.0, 0.0, 0.0, 0usize, 0usize);
        let (mut update_time, mut choose_time, mut candidates_sum) = (0.0f64, 0.0f64, 0usize);
        let mut curve = Vec::with_capacity(config.curve_points + 1);
        for (t, &user) in world.stream.iter().enumerate() {
            while next_arrival < world.arrivals.len() && world.arrivals[next_arrival].0 <= t {
                let item = world.arrivals[next_arrival].1;
                graph.inject_fresh([item]);
                arrived_at.insert(item, t);
                next_arrival += 1;
            }
            if t % 1000 == 0 {
                graph.retire_fresh(|j| arrived_at.get(&j).is_some_and(|&a| t < a + config.fresh_window));
            }
            let context = &world.contexts[user as usize];
            let candidates = graph.candidates(&context.clusters);
            if candidates.is_empty() {
                continue;
            }
            candidates_sum += candidates.len();
            let truth: Vec<f64> = candidates.iter().map(|&j| f64::from(world.oracle.probability(user as usize, j as usize))).collect();
            let best = truth.iter().copied().fold(f64::MIN, f64::max);
            let started = Instant::now();
            let choice = policy.choose(context, &candidates, 1, &mut policy_rng);
            choose_time += started.elapsed().as_secs_f64();
            let Some(choice) = choice.first() else { continue };
            let index = candidates.iter().position(|&j| j == choice.item).unwrap_or(0);
            let p = truth[index];
            // Common random numbers: every policy sees the same draw in round t.
            let reward = f64::from(reward_rng.random::<f64>() < p);
            let started = Instant::now();
            policy.update(context, choice.item, reward);
            update_time += started.elapsed().as_secs_f64();
            regret += best - p;
            reward_sum += p;
            best_sum += best;
            explored += usize::from(choice.explored);
            fresh_shown += usize::from(arrived_at.contains_key(&choice.item));
            if (t + 1) % curve_every == 0 || t + 1 == world.stream.len() {
                curve.push((t + 1, regret));
            }
            if (t + 1) % 1000 == 0 {
                done += 1000;
                phase.update(done, name);
            }
        }
        let n = world.stream.len().max(1) as f64;
        report.mean_candidates = candidates_sum as f64 / n;
        report.mean_best_reward = best_sum / n;
        report.graph_edges = graph.num_edges();
        report.runs.push(PolicyRun {
            policy: policy.name(),
            regret_curve: curve,
            cumulative_regret: regret,
            mean_reward: reward_sum / n,
            exploration_rate: explored as f64 / n,
            fresh_share: fresh_shown as f64 / n,
            update_ns: update_time * 1e9 / n,
            choose_us: choose_time * 1e6 / n,
        });
    }
    Ok(report)
}

impl SimReport {
    /// The setup line and the per-policy table in Markdown (what `recforge bandit simulate` prints).
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "{} ratings, {} users, {} items ({} fresh), {} clusters, {} graph edges, {:.0} candidates per round; {} rounds\n\n",
            self.ratings, self.users, self.items, self.fresh_items, self.clusters, self.graph_edges, self.mean_candidates, self.config.rounds
        );
        out += "| policy | cumulative regret | mean reward | exploration | fresh shown | update (ns) | choose (µs) |\n|---|---|---|---|---|---|---|\n";
        for r in &self.runs {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.4} | {:.3} | {:.3} | {:.0} | {:.1} |",
                r.policy, r.cumulative_regret, r.mean_reward, r.exploration_rate, r.fresh_share, r.update_ns, r.choose_us
            );
        }
        let _ = write!(out, "\nbest candidate's mean reward: {:.4}", self.mean_best_reward);
        out
    }
}
