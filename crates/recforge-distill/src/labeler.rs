//! The labeler: consumes events from an [`EventLog`] consumer group, scores them with the
//! teacher in batches (split over worker threads), writes the logits to a [`LabelStore`], and
//! only then commits the events' offsets — so a crash at any point redelivers exactly the
//! events whose labels may be missing, and idempotent writes make the redo harmless: every
//! event ends with exactly one label per teacher version (arXiv 2408.14678 §3, label sharing).
//!
//! Teacher refresh (the paper's streaming teacher): with [`RefreshOptions`], the labeler keeps
//! the newest `window` events; every `every` labelled events it fine-tunes the current teacher
//! on them, saves `DIR/v<N>` and publishes it in `DIR/CURRENT`, then labels with version N
//! from the next batch on. Labelers started with the same `DIR` and no `every` follow the
//! pointer, so a group of labelers swaps versions together. A refreshed teacher's files are
//! fsynced before `CURRENT` points at them.
//!
//! Poison events: an event the teacher's encoder rejects (a missing feature, a value of the
//! wrong shape) goes to the log's dead-letter log with the reason and is committed with its
//! batch; undecodable records are dead-lettered by the consumer itself. One bad event never
//! stops the labeler; [`LabelerStats::dead_letters`] counts them.
//!
//! Lag percentiles come from a fixed-size [`LagSketch`], so memory stays flat however long
//! the labeler runs.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use recforge_data::event_log::{RawDelivery, now_ms};
use recforge_data::{Consumer, DataError, Delivery, Encoder, Event, EventLog, EventLogError, encode_events};
use serde::Serialize;

use crate::label_store::{LabelStore, StoreError};
use crate::lag_sketch::LagSketch;
use crate::teacher::{Teacher, TeacherError, TeacherPointer};

/// Why the labeler stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum LabelerError {
    #[error("event log: {0}")]
    Events(#[from] EventLogError),
    #[error(transparent)]
    Labels(#[from] StoreError),
    #[error(transparent)]
    Teacher(#[from] TeacherError),
    #[error("{path}: {source} (syncing the refreshed teacher before publishing it)")]
    Sync { path: PathBuf, source: std::io::Error },
}

/// The streaming-teacher loop.
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// Fine-tune after this many labelled events (0: never refresh, only follow `dir`).
    pub every: u64,
    /// The newest events kept for fine-tuning.
    pub window: usize,
    /// Mini-batches per refresh.
    pub steps: usize,
    /// Where refreshed run directories (`v<N>/`) and the `CURRENT` pointer live.
    pub dir: PathBuf,
}

/// How the labeler runs.
#[derive(Debug, Clone)]
pub struct LabelerOptions {
    pub group: String,
    /// This process's name in the group (Redis redelivers a restarted consumer's own pending
    /// events at once; others' after the claim timeout).
    pub consumer: String,
    /// Events per poll (one label write and one commit per batch).
    pub batch: usize,
    /// Threads scoring a batch in parallel, each with its own copy of the teacher.
    pub workers: usize,
    /// How long one poll waits for new events.
    pub poll_wait: Duration,
    /// Stop after this many events (benchmarks, tests).
    pub max_events: Option<u64>,
    /// Stop when no event arrived for this long (None: run until killed).
    pub idle_exit: Option<Duration>,
    pub refresh: Option<RefreshOptions>,
}

impl Default for LabelerOptions {
    fn default() -> Self {
        LabelerOptions {
            group: "labelers".into(),
            consumer: format!("labeler-{}", std::process::id()),
            batch: 512,
            workers: 1,
            poll_wait: Duration::from_millis(200),
            max_events: None,
            idle_exit: None,
            refresh: None,
        }
    }
}

/// What a labeler run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LabelerStats {
    pub events: u64,
    pub batches: u64,
    /// From the first event received to the last label committed.
    pub seconds: f64,
    pub labels_per_sec: f64,
    /// Append → label durable (readable), over every labelled event.
    pub lag_ms_p50: f64,
    pub lag_ms_p99: f64,
    pub lag_ms_max: f64,
    pub forward_passes: u64,
    pub refreshes: u64,
    /// Versions this run wrote labels under, ascending.
    pub versions: Vec<u64>,
    /// Events sent to the dead-letter log (undecodable, or rejected by the teacher's encoder).
    pub dead_letters: u64,
}

/// Runs the labeler until `max_events`, `idle_exit` or an error. `on_batch` sees the running
/// statistics after every committed batch (for progress bars).
pub fn run_labeler(
    log: &dyn EventLog,
    store: &dyn LabelStore,
    teacher: Teacher,
    options: &LabelerOptions,
    mut on_batch: impl FnMut(&LabelerStats),
) -> Result<LabelerStats, LabelerError> {
    let mut consumer = log.consumer(&options.group, &options.consumer)?;
    let mut teacher = resume(teacher, options)?;
    let mut workers: Vec<Teacher> = (0..options.workers.max(1)).map(|_| teacher.clone()).collect();
    let mut stats = LabelerStats::default();
    let mut lags = LagSketch::default();
    let mut window: VecDeque<Event> = VecDeque::new();
    let mut since_refresh = 0u64;
    let (mut first_event, mut last_event) = (None::<Instant>, Instant::now());
    loop {
        let remaining = options.max_events.map_or(u64::MAX, |m| m.saturating_sub(stats.events));
        if remaining == 0 {
            break;
        }
        if let Some(newer) = follow(&teacher, options)? {
            teacher = newer;
            workers = (0..workers.len()).map(|_| teacher.clone()).collect();
        }
        let deliveries = consumer.poll(options.batch.max(1).min(remaining as usize), options.poll_wait)?;
        if deliveries.is_empty() {
            if options.idle_exit.is_some_and(|idle| last_event.elapsed() >= idle) {
                break;
            }
            continue;
        }
        first_event.get_or_insert_with(Instant::now);
        let offsets: Vec<u64> = deliveries.iter().map(|d| d.offset).collect();
        let (deliveries, logits) = score_or_dead_letter(&mut workers, teacher.encoder(), deliveries, consumer.as_mut())?;
        let events: Vec<Event> = deliveries.iter().map(|d| d.event.clone()).collect();
        let labels: Vec<(u64, f32)> = events.iter().map(|e| e.id).zip(logits).collect();
        store.put(teacher.version, &labels)?;
        let now = now_ms();
        deliveries.iter().for_each(|d| lags.record(now.saturating_sub(d.appended_ms)));
        consumer.commit(&offsets)?;
        last_event = Instant::now();
        stats.dead_letters = consumer.dead_lettered();
        stats.events += events.len() as u64;
        stats.batches += 1;
        if !stats.versions.contains(&teacher.version) {
            stats.versions.push(teacher.version);
        }
        stats.seconds = first_event.map_or(0.0, |t| t.elapsed().as_secs_f64());
        stats.labels_per_sec = stats.events as f64 / stats.seconds.max(1e-9);
        stats.forward_passes = teacher.forward_passes();
        (stats.lag_ms_p50, stats.lag_ms_p99, stats.lag_ms_max) = (lags.quantile(0.5) as f64, lags.quantile(0.99) as f64, lags.max() as f64);
        on_batch(&stats);
        if let Some(refresh) = options.refresh.as_ref().filter(|r| r.every > 0) {
            since_refresh += events.len() as u64;
            window.extend(events);
            while window.len() > refresh.window.max(1) {
                window.pop_front();
            }
            if since_refresh >= refresh.every {
                since_refresh = 0;
                let version = teacher.version + 1;
                let newer = teacher.refreshed(window.make_contiguous(), refresh.steps, &refresh.dir.join(format!("v{version}")), version)?;
                sync_tree(&newer.run_dir)?;
                TeacherPointer { version, run_dir: newer.run_dir.clone() }.publish(&refresh.dir)?;
                tracing::info!(version, window = window.len(), "teacher refreshed");
                teacher = newer;
                workers = (0..workers.len()).map(|_| teacher.clone()).collect();
                stats.refreshes += 1;
            }
        }
    }
    stats.versions.sort_unstable();
    (stats.lag_ms_p50, stats.lag_ms_p99, stats.lag_ms_max) = (lags.quantile(0.5) as f64, lags.quantile(0.99) as f64, lags.max() as f64);
    stats.forward_passes = teacher.forward_passes();
    stats.dead_letters = consumer.dead_lettered();
    Ok(stats)
}

/// Starts from the published version when a refresh folder holds a newer one than `teacher`.
fn resume(teacher: Teacher, options: &LabelerOptions) -> Result<Teacher, LabelerError> {
    Ok(follow(&teacher, options)?.unwrap_or(teacher))
}

/// The published teacher, when it is newer than `current`.
fn follow(current: &Teacher, options: &LabelerOptions) -> Result<Option<Teacher>, LabelerError> {
    let Some(refresh) = &options.refresh else { return Ok(None) };
    match TeacherPointer::read(&refresh.dir)? {
        Some(p) if p.version > current.version => {
            tracing::info!(version = p.version, "switching to the published teacher");
            Ok(Some(Teacher::load(&p.run_dir, p.version, current.encoder().clone())?))
        }
        _ => Ok(None),
    }
}

/// Fsyncs every file and folder under `dir` (a refreshed teacher) so a crash after the
/// pointer swap never leaves `CURRENT` naming files that are not on disk.
fn sync_tree(dir: &std::path::Path) -> Result<(), LabelerError> {
    let err = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| LabelerError::Sync { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(err(dir))? {
        let path = entry.map_err(err(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path).and_then(|f| f.sync_all()).map_err(err(&path))?;
        }
    }
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err(dir))
}

/// Scores a batch; when the encoder rejects it, finds the events it rejects one by one,
/// dead-letters them (the caller commits their offsets with the batch) and scores the rest.
/// Returns the deliveries that were scored and their logits.
fn score_or_dead_letter(
    workers: &mut [Teacher],
    encoder: &Arc<Encoder>,
    deliveries: Vec<Delivery>,
    consumer: &mut dyn Consumer,
) -> Result<(Vec<Delivery>, Vec<f32>), LabelerError> {
    let events: Vec<Event> = deliveries.iter().map(|d| d.event.clone()).collect();
    match score(workers, encoder, &events)? {
        Ok(logits) => return Ok((deliveries, logits)),
        Err(first) => tracing::warn!("{first}: dead-lettering the events the teacher's encoder rejects"),
    }
    let mut good = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        match encode_events(encoder, std::slice::from_ref(&delivery.event)) {
            Ok(_) => good.push(delivery),
            Err(reason) => {
                let raw = RawDelivery { offset: delivery.offset, appended_ms: delivery.appended_ms, payload: delivery.event.to_bytes() };
                consumer.dead_letter(&raw, &reason.to_string())?;
            }
        }
    }
    let events: Vec<Event> = good.iter().map(|d| d.event.clone()).collect();
    let logits = score(workers, encoder, &events)?.map_err(EventLogError::from)?;
    Ok((good, logits))
}

/// Encodes once, then scores contiguous slices of the batch on the worker threads; the inner
/// error is the encoder rejecting an event.
fn score(workers: &mut [Teacher], encoder: &Arc<Encoder>, events: &[Event]) -> Result<Result<Vec<f32>, DataError>, LabelerError> {
    if events.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let data = match encode_events(encoder, events) {
        Ok(data) => data,
        Err(e) => return Ok(Err(e)),
    };
    let rows: Vec<usize> = (0..data.len()).collect();
    if workers.len() == 1 || rows.len() < 2 * workers.len() {
        return Ok(Ok(workers[0].logits(&data, &rows)));
    }
    let per = rows.len().div_ceil(workers.len());
    let data = &data;
    let parts: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = workers.iter_mut().zip(rows.chunks(per)).map(|(t, chunk)| scope.spawn(move || t.logits(data, chunk))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let out: Vec<f32> = parts.concat();
    if out.len() != events.len() {
        return Err(LabelerError::Events(EventLogError::Backend("a worker thread panicked while scoring".into())));
    }
    Ok(Ok(out))
}
