//! `recforge loadgen`: a bounded load against running bandit replicas, with an optional check
//! of the shared store against a sequential replay (recforge-serve's `loadgen`). A correctness
//! tool, not a throughput tool: its blocking clients under-report the service; measure speed
//! with `scripts/bandit-load.sh` (wrk).

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_serve::loadgen::{LoadConfig, run_load};

#[derive(ClapArgs)]
pub struct Args {
    /// Service base URLs, comma-separated (one per replica).
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    url: Vec<String>,
    /// Bearer token for /v1/feedback.
    #[arg(long, env = "RECFORGE_TOKEN")]
    token: String,
    /// Recommend + feedback pairs to send in total.
    #[arg(long, alias = "limit", default_value_t = 2000)]
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
    /// Print JSON (and nothing else) on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let config = LoadConfig {
        urls: args.url,
        token: args.token,
        requests: args.requests,
        concurrency: args.concurrency,
        clusters: args.clusters,
        k: args.k,
        seed: args.seed,
        check_store: args.check_store,
    };
    let r = run_load(&config)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{} replica(s), {} clients, {:.1} s, {} errors", r.replicas, r.concurrency, r.seconds, r.errors);
        println!("| endpoint | requests | requests/s | p50 (ms) | p99 (ms) |\n|---|---|---|---|---|");
        for (name, e) in [("recommend", &r.recommend), ("feedback", &r.feedback)] {
            println!("| {name} | {} | {:.0} | {:.2} | {:.2} |", e.count, e.per_second, e.p50_ms, e.p99_ms);
        }
        if let Some(c) = &r.check {
            let verdict = if c.equal { "equal" } else { "DIFFERENT" };
            println!("store check: {} edges stored, {} in the sequential replay, max |difference| {:.3e} → {verdict}", c.stored_edges, c.sequential_edges, c.max_abs_difference);
        }
    }
    if let Some(first) = &r.first_error {
        eprintln!("first error: {first}");
    }
    Ok(())
}
