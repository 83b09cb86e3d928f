//! A bounded load generator for the bandit service on loopback (`recforge loadgen`). Each
//! request recommends for a random explicit cluster context and sends feedback for the first
//! item — to the *next* replica, so with several replicas the state must be shared to accept
//! it. Measures requests/s and p50/p99 latency per endpoint, and optionally compares the
//! store's Diag-LinUCB sums with a sequential replay of every acknowledged feedback.
//!
//! Blocking clients on threads: enough for correctness checks and rough numbers; for peak
//! throughput use `wrk` with bench/wrk/ (a blocking generator under-reports the service).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use recforge_bandit::{ClusterContext, DiagLinUcb};
use serde::Serialize;
use serde_json::{Value, json};

use crate::store::{StoreError, open_store};

/// The load to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Service base URLs, one per replica.
    pub urls: Vec<String>,
    /// Bearer token for /v1/feedback.
    pub token: String,
    /// Recommend + feedback pairs in total.
    pub requests: usize,
    /// Concurrent clients (threads).
    pub concurrency: usize,
    /// Clusters the server accepts.
    pub clusters: u32,
    /// Items per recommendation.
    pub k: usize,
    pub seed: u64,
    /// After the load, read this store and compare it with the sequential replay.
    pub check_store: Option<String>,
}

/// Why the load could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Invalid(String),
    #[error("{url}: {source}")]
    Store { url: String, source: StoreError },
}

/// One endpoint's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStats {
    pub count: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The store against the sequential replay of every acknowledged feedback.
#[derive(Debug, Clone, Serialize)]
pub struct StoreCheck {
    pub store: String,
    pub stored_edges: usize,
    pub sequential_edges: usize,
    pub max_abs_difference: f64,
    pub equal: bool,
}

/// What the load measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub replicas: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub recommend: EndpointStats,
    pub feedback: EndpointStats,
    pub errors: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<StoreCheck>,
    /// The first error message, if any.
    #[serde(skip)]
    pub first_error: Option<String>,
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

fn stats(mut seconds: Vec<f64>, elapsed: f64) -> EndpointStats {
    seconds.sort_by(f64::total_cmp);
    EndpointStats { count: seconds.len(), per_second: seconds.len() as f64 / elapsed, p50_ms: 1e3 * percentile(&seconds, 0.5), p99_ms: 1e3 * percentile(&seconds, 0.99) }
}

fn random_context(rng: &mut SmallRng, clusters: u32) -> ClusterContext {
    let n = rng.random_range(1..=4u32.min(clusters.max(1)));
    let pairs: Vec<(u32, f64)> = (0..n).map(|_| (rng.random_range(0..clusters.max(1)), rng.random_range(0.1..1.0))).collect();
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    ClusterContext::new(pairs.into_iter().map(|(c, w)| (c, w / total)))
}

fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &Value) -> Result<(u16, Value, f64), String> {
    let started = Instant::now();
    let mut request = agent.post(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.send_json(body).map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status().as_u16();
    let value: Value = response.body_mut().read_json().map_err(|e| format!("POST {url}: reading the JSON answer: {e}"))?;
    Ok((status, value, started.elapsed().as_secs_f64()))
}

fn worker(config: &LoadConfig, worker: usize, shared: &Mutex<Shared>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(10))).build().into();
    let mut rng = SmallRng::seed_from_u64(config.seed.wrapping_add(worker as u64));
    let mut local = Shared::default();
    let replicas = config.urls.len();
    for i in (worker..config.requests).step_by(config.concurrency) {
        let context = random_context(&mut rng, config.clusters);
        let pairs: Vec<(u32, f64)> = context.iter().collect();
        let recommend_url = format!("{}/v1/recommend", config.urls[i % replicas]);
        let (status, answer, seconds) = match post(&agent, &recommend_url, None, &json!({ "context": pairs, "k": config.k })) {
            Ok(r) => r,
            Err(e) => {
                local.errors.push(e);
                continue;
            }
        };
        local.recommend.push(seconds);
        // The service's own answer (RecommendResponse); anything else is counted as an error.
        let Ok(answer) = serde_json::from_value::<crate::routes::recommend::RecommendResponse>(answer.clone()) else {
            local.errors.push(format!("recommend answered {status}: {answer}"));
            continue;
        };
        let Some(first) = answer.items.first() else {
            local.errors.push(format!("recommend answered {status} without items"));
            continue;
        };
        // A click probability that depends on the edge, so the sums carry signal.
        let p = 0.05 + 0.5 * f64::from((first.index.wrapping_mul(2654435761) ^ context.clusters[0]) % 7 == 0);
        let reward = f64::from(rng.random::<f64>() < p);
        let feedback_url = format!("{}/v1/feedback", config.urls[(i + 1) % replicas]);
        let body = json!({ "request_id": answer.request_id, "item": first.item, "reward": reward });
        match post(&agent, &feedback_url, Some(&config.token), &body) {
            Ok((200, answer_fb, seconds)) if answer_fb.get("applied") == Some(&json!(true)) => {
                local.feedback.push(seconds);
                // The context the server used (it normalises what it is sent).
                local.acked.push(Acked { context: ClusterContext::new(answer.context.iter().copied()), item: first.index, reward });
            }
            Ok((status, answer, _)) => local.errors.push(format!("feedback answered {status}: {answer}")),
            Err(e) => local.errors.push(e),
        }
    }
    if let Ok(mut shared) = shared.lock() {
        shared.recommend.extend(local.recommend);
        shared.feedback.extend(local.feedback);
        shared.acked.extend(local.acked);
        shared.errors.extend(local.errors);
    }
}

fn check_store(url: &str, clusters: u32, acked: &[Acked]) -> Result<StoreCheck, LoadError> {
    let mut sequential = DiagLinUcb::new(1.0);
    for a in acked {
        sequential.apply_deltas(DiagLinUcb::deltas(&a.context, a.item, a.reward).collect::<Vec<_>>());
    }
    let store_error = |source| LoadError::Store { url: url.to_string(), source };
    let store = open_store(url, crate::store::FileOptions { snapshot_every: usize::MAX, snapshot_bytes: u64::MAX, ..Default::default() }).map_err(store_error)?;
    let all: Vec<u32> = (0..clusters).collect();
    let stored = store.edges(&all).map_err(store_error)?;
    let mut max_diff = 0.0f64;
    for (&(c, i), s) in &stored {
        let e = sequential.edge(c, i);
        max_diff = max_diff.max((e.sum_w2 - s.sum_w2).abs()).max((e.sum_wr - s.sum_wr).abs());
    }
    Ok(StoreCheck {
        store: url.to_string(),
        stored_edges: stored.len(),
        sequential_edges: sequential.num_edges(),
        max_abs_difference: max_diff,
        equal: stored.len() == sequential.num_edges() && max_diff < 1e-9,
    })
}

/// Sends the load of `config` and measures it.
pub fn run_load(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    if config.urls.is_empty() || config.concurrency == 0 || config.requests == 0 {
        return Err(LoadError::Invalid("--url, --concurrency and --requests must be non-empty / positive".into()));
    }
    let shared = Mutex::new(Shared::default());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..config.concurrency {
            let shared = &shared;
            scope.spawn(move || worker(config, w, shared));
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let shared = shared.into_inner().map_err(|_| LoadError::Invalid("a load worker panicked".into()))?;
    let check = config.check_store.as_deref().map(|url| check_store(url, config.clusters, &shared.acked)).transpose()?;
    Ok(LoadReport {
        replicas: config.urls.len(),
        concurrency: config.concurrency,
        seconds: elapsed,
        recommend: stats(shared.recommend, elapsed),
        feedback: stats(shared.feedback, elapsed),
        errors: shared.errors.len(),
        check,
        first_error: shared.errors.into_iter().next(),
    })
}
