//! `recforge bandit ope | simulate`: off-policy evaluation on the Open Bandit Dataset and the
//! Online Matching simulation on MovieLens.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use recforge_bandit::data::Ratings;
use recforge_bandit::ope::obd::{FeatureVocab, ObdLog};
use recforge_bandit::ope::protocol::{BootstrapOptions, Estimate, bts_validation, evaluate_trained};
use recforge_bandit::online_matching::{Normalisation, OnlineMatching};
use recforge_bandit::simulate::{SimConfig, SimReport, simulate};
use recforge_bandit::{POLICY_NAMES, PolicyConfig, make_policy};
use serde_json::json;

use recforge_data::paths;
use crate::report;

#[derive(Subcommand)]
pub enum BanditCommand {
    /// Off-policy evaluation on the Open Bandit Dataset: the Bernoulli-TS policy's CTR
    /// estimated from the uniform-random log vs its on-policy CTR, then policies trained on
    /// one half of the random log and evaluated on the other.
    Ope(OpeArgs),
    /// Closed-loop simulation on MovieLens ratings with fresh items arriving: cumulative
    /// regret curves and per-update cost of each policy; writes report.html.
    Simulate(SimulateArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Campaign {
    All,
    Men,
    Women,
}

impl Campaign {
    fn name(self) -> &'static str {
        match self {
            Campaign::All => "all",
            Campaign::Men => "men",
            Campaign::Women => "women",
        }
    }
}

/// Exploration hyper-parameters shared by both commands.
#[derive(Args)]
pub struct PolicyArgs {
    /// Ridge prior λ of Diag-LinUCB and LinUCB.
    #[arg(long, default_value_t = 1.0)]
    lambda: f64,
    /// UCB exploration strength α.
    #[arg(long, default_value_t = 0.5)]
    alpha: f64,
    /// ε of ε-greedy.
    #[arg(long, default_value_t = 0.05)]
    epsilon: f64,
    /// Posterior scale of Gaussian Thompson sampling.
    #[arg(long, default_value_t = 0.5)]
    ts_scale: f64,
}

impl PolicyArgs {
    fn config(&self) -> PolicyConfig {
        PolicyConfig { lambda: self.lambda, alpha: self.alpha, epsilon: self.epsilon, ts_scale: self.ts_scale }
    }
}

fn parse_policies(list: &str) -> Result<Vec<String>> {
    let names: Vec<String> = list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    for name in &names {
        if !POLICY_NAMES.contains(&name.as_str()) {
            bail!("unknown policy \"{name}\"; known: {}", POLICY_NAMES.join(", "));
        }
    }
    if names.is_empty() {
        bail!("--policies needs at least one policy ({})", POLICY_NAMES.join(", "));
    }
    Ok(names)
}

#[derive(Args)]
pub struct OpeArgs {
    /// `obd` (the Open Bandit Dataset under $RECFORGE_DATA/obd) or a folder with the same
    /// layout (`random/CAMPAIGN/CAMPAIGN.csv`, `bts/...`, `item_context.csv`).
    #[arg(long, default_value = "obd")]
    data: String,
    #[arg(long, value_enum, default_value = "all")]
    campaign: Campaign,
    /// Policies trained on the first half of the random log.
    #[arg(long, default_value = "diag_linucb,linucb,egreedy,random")]
    policies: String,
    /// Bootstrap resamples per interval.
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

fn obd_dir(data: &str) -> Result<PathBuf> {
    let dir = if data == "obd" { paths::data_dir().join("obd") } else { PathBuf::from(data) };
    if !dir.is_dir() {
        bail!("{}: no Open Bandit Dataset folder here; run `recforge data fetch --only obd` or pass --data DIR", dir.display());
    }
    Ok(dir)
}

fn interval_cell(e: &Estimate) -> String {
    format!("{:.5} [{:.5}, {:.5}]", e.interval.estimate, e.interval.lower, e.interval.upper)
}

pub fn run_ope(args: OpeArgs) -> Result<()> {
    let dir = obd_dir(&args.data)?;
    let campaign = args.campaign.name();
    let mut vocab = FeatureVocab::default();
    let random = ObdLog::read(&dir, "random", campaign, &mut vocab).context("reading the uniform-random log")?;
    let bts = ObdLog::read(&dir, "bts", campaign, &mut vocab).context("reading the Bernoulli-TS log")?;
    let options = BootstrapOptions { resamples: args.resamples, confidence: args.confidence, seed: args.seed };
    let validation = bts_validation(&random, &bts, options)?;
    let names = parse_policies(&args.policies)?;
    let config = args.policy.config();
    let dim = vocab.dim();
    let policies = names.iter().filter_map(|n| make_policy(n, &config, dim).map(|p| p as Box<dyn recforge_bandit::Policy>)).collect();
    let trained = evaluate_trained(&random, &vocab, policies, options)?;
    if args.json {
        let out = json!({
            "campaign": campaign,
            "confidence": args.confidence,
            "resamples": args.resamples,
            "bts_validation": validation,
            "policies": trained,
            "policy_config": config,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let pct = (args.confidence * 100.0).round();
    println!("Open Bandit Dataset, campaign \"{campaign}\": {} random-log rows, {} BTS-log rows; {pct}% bootstrap intervals ({} resamples)\n", validation.random_rows, validation.bts_rows, args.resamples);
    println!("1. Bernoulli-TS policy's CTR estimated from the uniform-random log vs on-policy\n");
    println!("| estimator | CTR [interval] | relative error vs on-policy |\n|---|---|---|");
    let truth = validation.on_policy_ctr.estimate;
    println!("| on-policy (BTS log) | {:.5} [{:.5}, {:.5}] | – |", truth, validation.on_policy_ctr.lower, validation.on_policy_ctr.upper);
    for e in &validation.estimates {
        println!("| {} | {} | {:+.1}% |", e.estimator, interval_cell(e), 100.0 * (e.interval.estimate - truth) / truth.max(f64::MIN_POSITIVE));
    }
    let first = trained.first().map_or((0, 0), |p| (p.train_rows, p.eval_rows));
    println!("\n2. Policies trained on the first {} rows of the random log, evaluated on the last {}\n", first.0, first.1);
    let estimators: Vec<String> = trained.first().map(|p| p.estimates.iter().map(|e| e.estimator.clone()).collect()).unwrap_or_default();
    println!("| policy | {} |\n|---|{}", estimators.join(" | "), "---|".repeat(estimators.len()));
    for p in &trained {
        println!("| {} | {} |", p.policy, p.estimates.iter().map(interval_cell).collect::<Vec<_>>().join(" | "));
    }
    Ok(())
}

#[derive(Args)]
pub struct SimulateArgs {
    /// `ml1m` or `ml100k` (under $RECFORGE_DATA), or a RecBole `.inter` file with user_id,
    /// item_id, rating and timestamp columns.
    #[arg(long, default_value = "ml1m")]
    data: String,
    /// Comma-separated policies: diag_linucb, linucb, egreedy, thompson, beta_thompson, random.
    #[arg(long, default_value = "diag_linucb,linucb,egreedy,thompson,random")]
    policies: String,
    /// User arrivals to simulate.
    #[arg(long, default_value_t = 50_000)]
    rounds: usize,
    /// Number of user clusters C.
    #[arg(long, default_value_t = 32)]
    clusters: usize,
    /// Items per cluster in the bipartite graph (W).
    #[arg(long, default_value_t = 50)]
    width: usize,
    /// Clusters per user context (K).
    #[arg(long, default_value_t = 4)]
    top_k: usize,
    /// Softmax temperature of the user context.
    #[arg(long, default_value_t = 0.1)]
    temperature: f64,
    /// How the top-K similarities become weights.
    #[arg(long, value_enum, default_value = "softmax")]
    normalisation: NormalisationArg,
    /// Share of items held out of the offline model and released during the run.
    #[arg(long, default_value_t = 0.1)]
    fresh_fraction: f64,
    /// Rounds a fresh item stays in the fresh pool.
    #[arg(long, default_value_t = 20_000)]
    fresh_window: usize,
    /// Share of the log (by time) the offline model is trained on.
    #[arg(long, default_value_t = 0.5)]
    offline_fraction: f64,
    /// Epochs of the offline and oracle matrix factorisations.
    #[arg(long, default_value_t = 12)]
    mf_epochs: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Folder for report.html and metrics.json.
    #[arg(long, default_value = "runs/bandit-simulate")]
    out: PathBuf,
    /// Also write the offline Online Matching artifact (JSON) the server loads.
    #[arg(long)]
    save_model: Option<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NormalisationArg {
    Softmax,
    UnitNorm,
    OneHot,
}

fn ratings_path(data: &str) -> PathBuf {
    match data {
        "ml1m" => paths::data_dir().join("ml-1m/ml-1m.inter"),
        "ml100k" => paths::data_dir().join("ml-100k/ml-100k.inter"),
        other => PathBuf::from(other),
    }
}

pub fn run_simulate(args: SimulateArgs) -> Result<()> {
    let names = parse_policies(&args.policies)?;
    let path = ratings_path(&args.data);
    if !path.is_file() {
        bail!("{}: ratings file not found; run `recforge data fetch --only ml-1m` or pass --data FILE.inter", path.display());
    }
    let ratings = Ratings::read_recbole(&path)?;
    let mut config = SimConfig { rounds: args.rounds, offline_fraction: args.offline_fraction, fresh_fraction: args.fresh_fraction, fresh_window: args.fresh_window, seed: args.seed, policy: args.policy.config(), ..SimConfig::default() };
    config.mf.epochs = args.mf_epochs;
    config.offline.clusters = args.clusters;
    config.offline.width = args.width;
    config.offline.context.top_k = args.top_k;
    config.offline.context.temperature = args.temperature;
    config.offline.context.normalisation = match args.normalisation {
        NormalisationArg::Softmax => Normalisation::Softmax,
        NormalisationArg::UnitNorm => Normalisation::UnitNorm,
        NormalisationArg::OneHot => Normalisation::OneHot,
    };
    let bar = ProgressBar::new((args.rounds * names.len()) as u64);
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rounds ({eta})").unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar.set_message("simulating");
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let progress = |done: u64| bar.set_position(done);
    let report = simulate(&ratings, &name_refs, &config, &progress)?;
    bar.finish_and_clear();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    std::fs::write(args.out.join("metrics.json"), serde_json::to_vec_pretty(&report)?)?;
    std::fs::write(args.out.join("report.html"), render(&report, &path))?;
    if let Some(model_path) = &args.save_model {
        save_artifact(&ratings, &config, model_path)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("{}", table(&report));
    println!("\nreport: {}", args.out.join("report.html").display());
    Ok(())
}

/// Trains the offline model on every rating and writes the artifact the server loads.
fn save_artifact(ratings: &Ratings, config: &SimConfig, path: &Path) -> Result<()> {
    let examples: Vec<(u32, u32, f32)> = ratings.events.iter().map(|e| (e.user, e.item, f32::from(e.rating >= config.positive_rating))).collect();
    let model = recforge_bandit::online_matching::Mf::train(&examples, ratings.users.len(), ratings.items.len(), config.mf, config.seed);
    let catalog: Vec<u32> = (0..ratings.items.len() as u32).collect();
    let artifact = OnlineMatching::build(&model, &ratings.users, &ratings.items, &catalog, &[], &config.offline, config.seed);
    std::fs::write(path, serde_json::to_vec(&artifact)?).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote the Online Matching artifact to {}", path.display());
    Ok(())
}

fn table(report: &SimReport) -> String {
    let mut out = format!(
        "{} ratings, {} users, {} items ({} fresh), {} clusters, {} graph edges, {:.0} candidates per round; {} rounds\n\n",
        report.ratings, report.users, report.items, report.fresh_items, report.clusters, report.graph_edges, report.mean_candidates, report.config.rounds
    );
    out += "| policy | cumulative regret | mean reward | exploration | fresh shown | update (ns) | choose (µs) |\n|---|---|---|---|---|---|---|\n";
    for r in &report.runs {
        out += &format!(
            "| {} | {:.1} | {:.4} | {:.3} | {:.3} | {:.0} | {:.1} |\n",
            r.policy, r.cumulative_regret, r.mean_reward, r.exploration_rate, r.fresh_share, r.update_ns, r.choose_us
        );
    }
    out += &format!("\nbest candidate's mean reward: {:.4}", report.mean_best_reward);
    out
}

fn render(report: &SimReport, path: &Path) -> String {
    let series: Vec<(String, Vec<(f64, f64)>)> = report.runs.iter().map(|r| (r.policy.clone(), r.regret_curve.iter().map(|&(t, g)| (t as f64, g)).collect())).collect();
    let mut body = format!("<p class=\"headline\">Online Matching simulation on <b>{}</b></p>", report::escape(&path.display().to_string()));
    body += "<div class=\"plots\">";
    body += &report::curve_chart("Cumulative regret", "round", "regret", &series);
    body += "</div><h2>Policies</h2><table><tr><th>policy</th><th>cumulative regret</th><th>mean reward</th><th>exploration</th><th>fresh shown</th><th>update (ns)</th><th>choose (µs)</th></tr>";
    for r in &report.runs {
        body += &format!(
            "<tr><td>{}</td><td>{:.1}</td><td>{:.4}</td><td>{:.3}</td><td>{:.3}</td><td>{:.0}</td><td>{:.1}</td></tr>",
            report::escape(&r.policy), r.cumulative_regret, r.mean_reward, r.exploration_rate, r.fresh_share, r.update_ns, r.choose_us
        );
    }
    body += &format!(
        "</table><h2>Setup</h2><table><tr><th>ratings</th><th>users</th><th>items</th><th>fresh items</th><th>clusters</th><th>graph edges</th><th>candidates / round</th><th>oracle logloss</th><th>offline logloss</th></tr>\
         <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.4}</td><td>{:.4}</td></tr></table>",
        report.ratings, report.users, report.items, report.fresh_items, report.clusters, report.graph_edges, report.mean_candidates, report.oracle_logloss, report.offline_logloss
    );
    report::page("bandit simulation", &body)
}
