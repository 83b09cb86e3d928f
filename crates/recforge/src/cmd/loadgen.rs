//! `recforge loadgen`: a bounded load generator for the bandit service on loopback. Each
//! request recommends for a random explicit cluster context and sends feedback for the first
//! item — to the *next* replica in `--url`, so with several replicas the state must be
//! shared to accept it. Reports requests/s and p50/p99 latency per endpoint, and with
//! `--check-store` compares the store's Diag-LinUCB sums with a sequential replay of every
//! acknowledged feedback.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use recforge_bandit::{ClusterContext, DiagLinUcb};
use serde_json::{Value, json};

#[derive(ClapArgs)]
pub struct Args {
    /// Service base URLs, comma-separated (one per replica).
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    url: Vec<String>,
    /// Bearer token for /v1/feedback.
    #[arg(long, env = "RECFORGE_TOKEN")]
    token: String,
    /// Recommend + feedback pairs to send in total.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Concurrent clients (threads).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Clusters the server accepts (its config's `clusters`).
    #[arg(long, default_value_t = 32)]
    clusters: u32,
    /// Items per recommendation.
    #[arg(long, default_value_t = 10)]
    k: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// After the load, read this store (redis://… or file://DIR of a stopped server) and
    /// compare it with the sequential replay.
    #[arg(long)]
    check_store: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

struct Acked {
    context: ClusterContext,
    item: u32,
    reward: f64,
}

#[derive(Default)]
struct Shared {
    recommend: Vec<f64>,
    feedback: Vec<f64>,
    acked: Vec<Acked>,
    errors: Vec<String>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

fn random_context(rng: &mut SmallRng, clusters: u32) -> ClusterContext {
    let n = rng.random_range(1..=4u32.min(clusters.max(1)));
    let pairs: Vec<(u32, f64)> = (0..n).map(|_| (rng.random_range(0..clusters.max(1)), rng.random_range(0.1..1.0))).collect();
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    ClusterContext::new(pairs.into_iter().map(|(c, w)| (c, w / total)))
}

fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &Value) -> Result<(u16, Value, f64)> {
    let started = Instant::now();
    let mut request = agent.post(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.send_json(body).with_context(|| format!("POST {url}"))?;
    let status = response.status().as_u16();
    let value: Value = response.body_mut().read_json().with_context(|| format!("POST {url}: reading the JSON answer"))?;
    Ok((status, value, started.elapsed().as_secs_f64()))
}

fn worker(args: &Args, worker: usize, shared: &Mutex<Shared>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(10))).build().into();
    let mut rng = SmallRng::seed_from_u64(args.seed.wrapping_add(worker as u64));
    let mut local = Shared::default();
    let replicas = args.url.len();
    for i in (worker..args.requests).step_by(args.concurrency) {
        let context = random_context(&mut rng, args.clusters);
        let pairs: Vec<(u32, f64)> = context.iter().collect();
        let recommend_url = format!("{}/v1/recommend", args.url[i % replicas]);
        let (status, answer, seconds) = match post(&agent, &recommend_url, None, &json!({ "context": pairs, "k": args.k })) {
            Ok(r) => r,
            Err(e) => {
                local.errors.push(format!("{e:#}"));
                continue;
            }
        };
        local.recommend.push(seconds);
        let (Some(request_id), Some(first)) = (answer["request_id"].as_str(), answer["items"].get(0)) else {
            local.errors.push(format!("recommend answered {status}: {answer}"));
            continue;
        };
        let (Some(item), Some(index)) = (first["item"].as_str(), first["index"].as_u64()) else {
            local.errors.push(format!("recommend item without id: {first}"));
            continue;
        };
        // A click probability that depends on the edge, so the sums carry signal.
        let p = 0.05 + 0.5 * f64::from(((index as u32).wrapping_mul(2654435761) ^ context.clusters[0]) % 7 == 0);
        let reward = f64::from(rng.random::<f64>() < p);
        let feedback_url = format!("{}/v1/feedback", args.url[(i + 1) % replicas]);
        match post(&agent, &feedback_url, Some(&args.token), &json!({ "request_id": request_id, "item": item, "reward": reward })) {
            Ok((200, answer, seconds)) if answer["applied"] == json!(true) => {
                local.feedback.push(seconds);
                local.acked.push(Acked { context, item: index as u32, reward });
            }
            Ok((status, answer, _)) => local.errors.push(format!("feedback answered {status}: {answer}")),
            Err(e) => local.errors.push(format!("{e:#}")),
        }
    }
    if let Ok(mut shared) = shared.lock() {
        shared.recommend.extend(local.recommend);
        shared.feedback.extend(local.feedback);
        shared.acked.extend(local.acked);
        shared.errors.extend(local.errors);
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.url.is_empty() || args.concurrency == 0 || args.requests == 0 {
        bail!("--url, --concurrency and --requests must be non-empty / positive");
    }
    let shared = Mutex::new(Shared::default());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..args.concurrency {
            let (args, shared) = (&args, &shared);
            scope.spawn(move || worker(args, w, shared));
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut shared = shared.into_inner().map_err(|_| anyhow::anyhow!("a load worker panicked"))?;
    shared.recommend.sort_by(f64::total_cmp);
    shared.feedback.sort_by(f64::total_cmp);
    let pairs_per_s = shared.feedback.len() as f64 / elapsed;
    let mut report = json!({
        "replicas": args.url.len(),
        "concurrency": args.concurrency,
        "seconds": elapsed,
        "recommend": { "count": shared.recommend.len(), "per_second": shared.recommend.len() as f64 / elapsed, "p50_ms": 1e3 * percentile(&shared.recommend, 0.5), "p99_ms": 1e3 * percentile(&shared.recommend, 0.99) },
        "feedback": { "count": shared.feedback.len(), "per_second": pairs_per_s, "p50_ms": 1e3 * percentile(&shared.feedback, 0.5), "p99_ms": 1e3 * percentile(&shared.feedback, 0.99) },
        "errors": shared.errors.len(),
    });
    if let Some(url) = &args.check_store {
        let mut sequential = DiagLinUcb::new(1.0, 0.0);
        for a in &shared.acked {
            sequential.apply_deltas(DiagLinUcb::deltas(&a.context, a.item, a.reward).collect::<Vec<_>>());
        }
        let store = recforge_serve::open_store(url, usize::MAX).with_context(|| format!("opening {url}"))?;
        let clusters: Vec<u32> = (0..args.clusters).collect();
        let stored = store.edges(&clusters)?;
        let mut max_diff = 0.0f64;
        for (&(c, i), s) in &stored {
            let e = sequential.edge(c, i);
            max_diff = max_diff.max((e.sum_w2 - s.sum_w2).abs()).max((e.sum_wr - s.sum_wr).abs());
        }
        report["check"] = json!({ "store": url, "stored_edges": stored.len(), "sequential_edges": sequential.num_edges(), "max_abs_difference": max_diff, "equal": stored.len() == sequential.num_edges() && max_diff < 1e-9 });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{} replica(s), {} clients, {:.1} s, {} errors", args.url.len(), args.concurrency, elapsed, shared.errors.len());
        println!("| endpoint | requests | requests/s | p50 (ms) | p99 (ms) |\n|---|---|---|---|---|");
        for name in ["recommend", "feedback"] {
            let r = &report[name];
            println!("| {name} | {} | {:.0} | {:.2} | {:.2} |", r["count"], r["per_second"].as_f64().unwrap_or(0.0), r["p50_ms"].as_f64().unwrap_or(f64::NAN), r["p99_ms"].as_f64().unwrap_or(f64::NAN));
        }
        if let Some(check) = report.get("check") {
            println!("store check: {} edges stored, {} in the sequential replay, max |difference| {:.3e} → {}", check["stored_edges"], check["sequential_edges"], check["max_abs_difference"].as_f64().unwrap_or(f64::NAN), if check["equal"] == json!(true) { "equal" } else { "DIFFERENT" });
        }
    }
    if let Some(first) = shared.errors.first() {
        eprintln!("first error: {first}");
    }
    Ok(())
}
