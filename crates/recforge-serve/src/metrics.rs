//! Service metrics in the Prometheus text format: requests by route and status, latency
//! histograms per route, bandit updates, duplicates and the exploration rate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub updates: AtomicU64,
    pub duplicates: AtomicU64,
    pub items_shown: AtomicU64,
    pub items_explored: AtomicU64,
    /// Requests and connections refused by the concurrency limits.
    pub shed: AtomicU64,
    /// Requests answered 503 by the request timeout.
    pub timed_out: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let h = latency.entry(route.to_string()).or_default();
            for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *count += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, store: &crate::store::StoreStats) -> String {
        let mut out = String::new();
        out += "# HELP recforge_http_requests_total HTTP requests by route and status.\n# TYPE recforge_http_requests_total counter\n";
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), n) in requests.iter() {
                let _ = writeln!(out, "recforge_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
            }
        }
        out += "# HELP recforge_http_request_duration_seconds Request latency by route.\n# TYPE recforge_http_request_duration_seconds histogram\n";
        if let Ok(latency) = self.latency.lock() {
            for (route, h) in latency.iter() {
                for (count, bound) in h.counts.iter().zip(BUCKETS) {
                    let _ = writeln!(out, "recforge_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}");
                }
                let _ = writeln!(out, "recforge_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "recforge_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "recforge_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
        }
        let shown = self.items_shown.load(Ordering::Relaxed);
        let explored = self.items_explored.load(Ordering::Relaxed);
        for (name, help, kind, value) in [
            ("recforge_bandit_updates_total", "Feedback events applied to the bandit state.", "counter", self.updates.load(Ordering::Relaxed) as f64),
            ("recforge_bandit_duplicate_feedback_total", "Retried feedback that was already applied.", "counter", self.duplicates.load(Ordering::Relaxed) as f64),
            ("recforge_bandit_recommended_items_total", "Items returned by /v1/recommend.", "counter", shown as f64),
            ("recforge_bandit_explored_items_total", "Returned items that were there because of exploration.", "counter", explored as f64),
            ("recforge_shed_total", "Requests and connections refused by max_in_flight / max_connections (503 + Retry-After).", "counter", self.shed.load(Ordering::Relaxed) as f64),
            ("recforge_request_timeouts_total", "Requests answered 503 after request_timeout_s.", "counter", self.timed_out.load(Ordering::Relaxed) as f64),
            ("recforge_bandit_live_requests", "Issued requests that still accept feedback.", "gauge", store.live_requests as f64),
            ("recforge_bandit_requests_evicted_total", "Issued requests forgotten before their TTL because of max_live_requests.", "counter", store.evicted_requests as f64),
            ("recforge_store_snapshot_failures_total", "Snapshots that failed (the updates stay in the WAL; retried).", "counter", store.snapshot_failures as f64),
            ("recforge_store_wal_bytes", "Bytes in the current WAL (file store).", "gauge", store.wal_bytes as f64),
            ("recforge_bandit_exploration_rate", "Share of returned items that were exploration.", "gauge", if shown == 0 { 0.0 } else { explored as f64 / shown as f64 }),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

/// Middleware: time every request and count it under its route template.
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(&route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
