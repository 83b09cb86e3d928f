//! Serving latency of a trained model: the time to score one request of `batch` examples,
//! embedding lookup included (gather rows, forward, sigmoid, read back), as a serving process
//! would, on the non-autodiff device, through the same [`Predictor`] as batch scoring. Benchmarks report it; tests never assert on it.

use std::time::Instant;

use burn::prelude::*;
use recforge_data::Dataset;
use recforge_models::{EmbeddingStore, Ranker};
use serde::{Deserialize, Serialize};

use crate::evaluate::Predictor;

/// Untimed calls first, so allocator and thread-pool start-up are not measured.
const WARMUP_CALLS: usize = 5;

/// Percentiles of per-request latency, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub batch: usize,
    pub calls: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Score `calls` requests of `batch` consecutive rows from `rows` (cycling) and time each.
pub fn serving_latency(
    model: &Ranker,
    store: &EmbeddingStore,
    data: &Dataset,
    rows: &[usize],
    batch: usize,
    calls: usize,
    device: &Device,
) -> Latency {
    let batch = batch.max(1);
    if rows.is_empty() {
        return Latency { batch, calls: 0, p50_ms: f64::NAN, p99_ms: f64::NAN };
    }
    let predictor = Predictor::new(model);
    let mut times = Vec::with_capacity(calls);
    let mut request: Vec<usize> = Vec::with_capacity(batch);
    let mut cursor = 0usize;
    for call in 0..WARMUP_CALLS + calls.max(1) {
        request.clear();
        for _ in 0..batch {
            request.push(rows[cursor % rows.len()]);
            cursor += 1;
        }
        let started = Instant::now();
        let examples = data.batch(&request);
        std::hint::black_box(predictor.score_batch(store, &examples, device));
        if call >= WARMUP_CALLS {
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    Latency { batch, calls: times.len(), p50_ms: percentile(&times, 0.50), p99_ms: percentile(&times, 0.99) }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
