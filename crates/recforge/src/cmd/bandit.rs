//! `recforge bandit ope | simulate`: off-policy evaluation on the Open Bandit Dataset and the
//! Online Matching simulation on MovieLens (both use cases live in recforge-bandit).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use recforge_bandit::ope::logged::{LogSchema, run_logged};
use recforge_bandit::ope::obd::ObdLog;
use recforge_bandit::ope::protocol::{BootstrapOptions, run_obd};
use recforge_bandit::online_matching::Normalisation;
use recforge_bandit::simulate::{SimConfig, SimReport, run_simulation};
use recforge_bandit::{PolicyConfig, parse_policy_names};

use recforge_train::report;

#[derive(Subcommand)]
pub enum BanditCommand {
    /// Off-policy evaluation on the Open Bandit Dataset: the Bernoulli-TS policy's CTR
    /// estimated from the uniform-random log vs its on-policy CTR, then policies trained on
    /// one half of the random log and evaluated on the other. With --data FILE --schema S.toml:
    /// any logged-bandit file (action, reward, propensity, context columns; optionally the
    /// evaluated policy's action distribution).
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

/// Exploration hyper-parameters shared by both commands (defaults: `PolicyConfig::DEFAULT`).
#[derive(Args)]
pub struct PolicyArgs {
    /// Ridge prior λ of the Diag-LinUCB and LinUCB scorers.
    #[arg(long, default_value_t = PolicyConfig::DEFAULT.lambda)]
    lambda: f64,
    /// UCB exploration strength α.
    #[arg(long, default_value_t = PolicyConfig::DEFAULT.alpha)]
    alpha: f64,
    /// ε of ε-greedy.
    #[arg(long, default_value_t = PolicyConfig::DEFAULT.epsilon)]
    epsilon: f64,
    /// Posterior scale of Gaussian Thompson sampling.
    #[arg(long, default_value_t = PolicyConfig::DEFAULT.ts_scale)]
    ts_scale: f64,
}

impl PolicyArgs {
    fn config(&self) -> PolicyConfig {
        PolicyConfig { lambda: self.lambda, alpha: self.alpha, epsilon: self.epsilon, ts_scale: self.ts_scale }
    }
}

#[derive(Args)]
pub struct OpeArgs {
    /// The named dataset: `obd` (the Open Bandit Dataset under $RECFORGE_DATA/obd).
    #[arg(long, default_value = "obd", value_parser = ["obd"])]
    dataset: String,
    /// A folder with the Open Bandit Dataset's layout (`random/CAMPAIGN/CAMPAIGN.csv`,
    /// `bts/...`, `item_context.csv`); `obd` names the fetched dataset. Overrides --dataset.
    /// With --schema: a logged-bandit file.
    #[arg(long)]
    data: Option<String>,
    #[arg(long, value_enum, default_value = "all")]
    campaign: Campaign,
    /// With --data FILE: a logged-bandit file (CSV, TSV or Parquet) instead of the Open Bandit
    /// Dataset. TOML naming the log's columns: action, reward, propensity, optional position
    /// and context = [...], and an optional [target] file = "pi.csv" (round, action,
    /// probability) holding the evaluated policy's action distribution.
    #[arg(long, requires = "data")]
    schema: Option<PathBuf>,
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
    /// Print JSON (and nothing else) on stdout instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run_ope(args: OpeArgs) -> Result<()> {
    if let (Some(log), Some(schema)) = (&args.data, &args.schema) {
        let log = std::path::Path::new(log);
        let names = parse_policy_names(&args.policies).map_err(|e| anyhow!("--policies: {e}"))?;
        let options = BootstrapOptions { resamples: args.resamples, confidence: args.confidence, seed: args.seed };
        let schema = LogSchema::from_file(schema)?;
        let report = run_logged(log, &schema, &names, &args.policy.config(), options).with_context(|| format!("evaluating {}", log.display()))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.to_markdown());
        }
        return Ok(());
    }
    let dir = ObdLog::locate(args.data.as_deref().unwrap_or(&args.dataset))?;
    let campaign = args.campaign.to_possible_value().map_or("all".to_string(), |v| v.get_name().to_string());
    let names = parse_policy_names(&args.policies).map_err(|e| anyhow!("--policies: {e}"))?;
    let options = BootstrapOptions { resamples: args.resamples, confidence: args.confidence, seed: args.seed };
    let report = run_obd(&dir, &campaign, &names, &args.policy.config(), options).with_context(|| format!("evaluating on {}", dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_markdown());
    }
    Ok(())
}

#[derive(Args)]
pub struct SimulateArgs {
    /// The named ratings: `ml-1m` or `ml-100k` (under $RECFORGE_DATA; `ml1m`, `ml100k` accepted).
    #[arg(long, default_value = "ml-1m", value_parser = ["ml-1m", "ml-100k", "ml1m", "ml100k"])]
    dataset: String,
    /// A RecBole `.inter` file with user_id, item_id, rating and timestamp columns (or a
    /// dataset name, as before). Overrides --dataset.
    #[arg(long)]
    data: Option<String>,
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
    /// Print JSON (and nothing else) on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NormalisationArg {
    Softmax,
    UnitNorm,
    OneHot,
}

impl SimulateArgs {
    fn config(&self) -> SimConfig {
        let mut config = SimConfig {
            rounds: self.rounds,
            offline_fraction: self.offline_fraction,
            fresh_fraction: self.fresh_fraction,
            fresh_window: self.fresh_window,
            seed: self.seed,
            policy: self.policy.config(),
            ..SimConfig::default()
        };
        config.mf.epochs = self.mf_epochs;
        config.offline.clusters = self.clusters;
        config.offline.width = self.width;
        config.offline.context.top_k = self.top_k;
        config.offline.context.temperature = self.temperature;
        config.offline.context.normalisation = match self.normalisation {
            NormalisationArg::Softmax => Normalisation::Softmax,
            NormalisationArg::UnitNorm => Normalisation::UnitNorm,
            NormalisationArg::OneHot => Normalisation::OneHot,
        };
        config
    }
}

pub fn run_simulate(args: SimulateArgs) -> Result<()> {
    let names = parse_policy_names(&args.policies).map_err(|e| anyhow!("--policies: {e}"))?;
    let data = args.data.as_deref().unwrap_or(&args.dataset);
    let run = run_simulation(data, &names, &args.config(), args.save_model.is_some(), crate::progress::console())?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    std::fs::write(args.out.join("metrics.json"), serde_json::to_vec_pretty(&run.report)?)?;
    std::fs::write(args.out.join("report.html"), render(&run.report, &run.ratings_path))?;
    if let (Some(path), Some(artifact)) = (&args.save_model, &run.artifact) {
        std::fs::write(path, serde_json::to_vec(artifact)?).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the Online Matching artifact to {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run.report)?);
    } else {
        println!("{}\n\nreport: {}", run.report.to_markdown(), args.out.join("report.html").display());
    }
    Ok(())
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
