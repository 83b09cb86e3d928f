//! The stream side of the label pipeline as use cases: a dataset replayed into an event log
//! in timestamp order (`recforge events replay`), and a labeler started from a teacher run
//! folder (`recforge labeler`): everything but argument parsing and printing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recforge_data::{Event, EventLogError, Phase, Progress, Schema, TaskOptions, Unit, open_event_log};
use serde::Serialize;

use crate::label_store::{StoreError, open_label_store};
use crate::labeler::{LabelerError, LabelerOptions, LabelerStats, run_labeler};
use crate::teacher::{Teacher, TeacherError};

/// Why a replay or a labeler could not run.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    #[error("event log {url}: {source}")]
    Events { url: String, source: EventLogError },
    #[error("label store {url}: {source}")]
    Labels { url: String, source: StoreError },
    #[error(transparent)]
    Labeler(#[from] LabelerError),
    #[error(transparent)]
    Teacher(#[from] TeacherError),
    #[error(transparent)]
    Run(#[from] recforge_train::run::RunError),
    #[error("{0}")]
    Invalid(String),
}

/// The schema of a named dataset (`ml-1m`, `ml-100k`, `obd`, or the old `ml1m`, `ml100k`:
/// `<configs>/<name>.toml` with the dashes dropped), or `name` itself when it is a file.
pub fn schema_for(name: &str, configs: &Path) -> Result<PathBuf, StreamError> {
    let direct = PathBuf::from(name);
    if direct.is_file() {
        return Ok(direct);
    }
    for stem in [name.to_string(), name.replace('-', "")] {
        let named = configs.join(format!("{stem}.toml"));
        if named.is_file() {
            return Ok(named);
        }
    }
    Err(StreamError::Invalid(format!(
        "{name:?} is neither a schema file nor a dataset in {} (try ml-1m, ml-100k or obd, or pass --data SCHEMA.toml)",
        configs.display()
    )))
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Events per second (0 = as fast as possible).
    pub rate: f64,
    /// Only the first N events in time order.
    pub limit: Option<usize>,
    /// Events per append (one fsync or one Redis round trip each).
    pub batch: usize,
}

/// What a replay appended.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayOutcome {
    pub dataset: String,
    pub events: usize,
    pub to: String,
    /// Log offsets `first_offset .. first_offset + events`.
    pub first_offset: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
}

/// Appends the rows of `schema_path`'s (prepared) dataset to the event log at `to`, in
/// timestamp order (file order without a timestamp column), throttled to `options.rate`.
pub fn replay(schema_path: &Path, to: &str, options: &ReplayOptions, task: &TaskOptions, progress: &dyn Progress) -> Result<ReplayOutcome, StreamError> {
    if !(options.rate >= 0.0 && options.rate.is_finite()) {
        return Err(StreamError::Invalid(format!("--rate must be a finite number of events per second, 0 for unthrottled (got {})", options.rate)));
    }
    let schema = Schema::from_toml_file(schema_path)?;
    let (data, _) = recforge_data::prepare(&schema, &task.prepare_options(progress))?;
    let encoder = data.encoder.clone().ok_or_else(|| StreamError::Invalid("the prepared dataset has no encoder; re-prepare it with --force".into()))?;
    let order = time_order(data.timestamps.as_deref(), data.len(), options.limit);
    if data.timestamps.is_none() {
        tracing::warn!("{} has no timestamp column: replaying in file order", schema_path.display());
    }
    let log = open_event_log(to).map_err(|source| StreamError::Events { url: to.into(), source })?;
    let batch = if options.rate > 0.0 { ((options.rate / 100.0) as usize).clamp(1, options.batch.max(1)) } else { options.batch.max(1) };
    let phase = Phase::begin(progress, "replay", Some(order.len() as u64), Unit::Examples);
    let started = Instant::now();
    let mut first_offset = None;
    let mut done = 0u64;
    for (i, rows) in order.chunks(batch).enumerate() {
        if options.rate > 0.0 {
            let due = Duration::from_secs_f64((i * batch) as f64 / options.rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let events: Vec<Event> = rows.iter().map(|&r| Event::from_dataset_row(&data, &encoder, r)).collect();
        let offset = log.append(&events).map_err(|source| StreamError::Events { url: to.into(), source })?;
        first_offset.get_or_insert(offset);
        done += rows.len() as u64;
        phase.update(done, "");
    }
    drop(phase);
    let seconds = started.elapsed().as_secs_f64();
    Ok(ReplayOutcome {
        dataset: schema.name,
        events: order.len(),
        to: to.into(),
        first_offset: first_offset.unwrap_or(0),
        seconds,
        events_per_sec: order.len() as f64 / seconds.max(1e-9),
    })
}

/// Rows `0..len` by (timestamp, row), or in file order without timestamps; the first `limit`.
fn time_order(timestamps: Option<&[i64]>, len: usize, limit: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if let Some(ts) = timestamps {
        order.sort_by_key(|&r| (ts[r], r));
    }
    order.truncate(limit.unwrap_or(usize::MAX));
    order
}

/// A labeler to start: the teacher run folder and its label version, where events come from
/// and labels go.
#[derive(Debug, Clone)]
pub struct LabelerJob {
    /// A run directory written by `recforge train` (its schema's prepared encoder is loaded).
    pub teacher: PathBuf,
    pub teacher_version: u64,
    /// Event log URL.
    pub events: String,
    /// Label store URL.
    pub labels: String,
    /// How long Redis calls keep retrying a lost connection (None: until it is back, with a
    /// warning every 30 s). Ignored for a URL that sets `retries=` or `retry_secs=` itself.
    pub redis_retry_secs: Option<f64>,
    /// Serve `/metrics` (Prometheus text) on this address while running.
    pub metrics_addr: Option<String>,
    pub options: LabelerOptions,
}

/// `url` with `retry_secs` added when it is a Redis URL that does not bound its retries.
fn with_redis_retry(url: &str, secs: Option<f64>) -> String {
    if !recforge_data::redis_conn::is_redis_url(url) || url.contains("retries=") || url.contains("retry_secs=") {
        return url.to_string();
    }
    let secs = secs.map_or("inf".to_string(), |s| s.to_string());
    format!("{url}{}retry_secs={secs}", if url.contains('?') { '&' } else { '?' })
}

/// Loads the teacher (with its dataset's fitted encoder), opens the log and the store, and runs
/// the labeler, reporting labelled events to `progress`.
pub fn run_labeler_job(job: &LabelerJob, task: &TaskOptions, progress: &dyn Progress) -> Result<LabelerStats, StreamError> {
    let run = recforge_train::RunDir::open(&job.teacher)?;
    let config = run.load_config()?;
    let schema = Schema::from_toml_file(&config.data.schema)?;
    let (dataset, _) = recforge_data::prepare(&schema, &task.prepare_options(progress))?;
    let encoder = dataset
        .encoder
        .clone()
        .ok_or_else(|| StreamError::Invalid("the teacher's prepared dataset has no encoder; re-prepare it with --force".into()))?;
    drop(dataset);
    let teacher = Teacher::load(&job.teacher, job.teacher_version, Arc::clone(&encoder))?;
    let (events, labels) = (with_redis_retry(&job.events, job.redis_retry_secs), with_redis_retry(&job.labels, job.redis_retry_secs));
    let log = open_event_log(&events).map_err(|source| StreamError::Events { url: job.events.clone(), source })?;
    let store = open_label_store(&labels).map_err(|source| StreamError::Labels { url: job.labels.clone(), source })?;
    let phase = Phase::begin(progress, &format!("labeler (events from {})", job.events), None, Unit::Examples);
    let shared = crate::labeler_metrics::SharedStats::default();
    if let Some(addr) = &job.metrics_addr {
        let bound = crate::labeler_metrics::serve_metrics(addr, shared.clone()).map_err(|e| StreamError::Invalid(format!("--metrics-addr {addr}: {e}")))?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    let stats = run_labeler(log.as_ref(), store.as_ref(), teacher, &job.options, |s| {
        if let Ok(mut latest) = shared.lock() {
            *latest = s.clone();
        }
        phase.update(s.events, &format!("{:.0} labels/s · teacher v{}", s.labels_per_sec, s.versions.last().copied().unwrap_or(0)));
    })?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_order_is_by_time_then_row_and_limited() {
        assert_eq!(time_order(Some(&[30, 10, 20, 10]), 4, None), vec![1, 3, 2, 0]);
        assert_eq!(time_order(Some(&[30, 10, 20, 10]), 4, Some(2)), vec![1, 3]);
        assert_eq!(time_order(None, 3, None), vec![0, 1, 2]);
    }

    #[test]
    fn redis_urls_get_the_labelers_retry_window_unless_they_set_one() {
        assert_eq!(with_redis_retry("redis://h:1/ev", None), "redis://h:1/ev?retry_secs=inf");
        assert_eq!(with_redis_retry("redis://h:1/ev?claim_idle_ms=5", Some(30.0)), "redis://h:1/ev?claim_idle_ms=5&retry_secs=30");
        assert_eq!(with_redis_retry("redis+cluster://h:1,h:2/ev", Some(5.0)), "redis+cluster://h:1,h:2/ev?retry_secs=5");
        assert_eq!(with_redis_retry("redis://h:1/ev?retries=3", None), "redis://h:1/ev?retries=3");
        assert_eq!(with_redis_retry("file:///x", None), "file:///x");
    }

    #[test]
    fn dataset_names_resolve_with_and_without_dashes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ml1m.toml"), "").unwrap();
        assert_eq!(schema_for("ml-1m", dir.path()).unwrap(), dir.path().join("ml1m.toml"));
        assert_eq!(schema_for("ml1m", dir.path()).unwrap(), dir.path().join("ml1m.toml"));
        let err = schema_for("nope", dir.path()).unwrap_err().to_string();
        assert!(err.contains("ml-1m, ml-100k or obd"), "{err}");
    }
}
