//! The event log: an append-only stream of training examples with offsets and consumer groups.
//!
//! One trait, two backends picked by URL ([`open_event_log`]):
//! - `file://DIR` ([`FileEventLog`]): an embedded segmented log (length-prefixed, CRC-checked
//!   records; fsync per appended batch; segment rotation; committed offsets stored durably;
//!   a torn tail after a crash is found and cut off when the next writer opens it). One
//!   process appends and one process consumes a group at a time (enforced with file locks);
//!   parallelism inside a process comes from worker threads.
//! - `redis://HOST:PORT[/NAME]` ([`RedisEventLog`]): a Redis Stream with consumer groups
//!   (XADD, XREADGROUP, XACK, XAUTOCLAIM for what a dead consumer left pending), so several
//!   processes on several machines share one group.
//!
//! Offsets are dense (0, 1, 2, …) in both backends. A consumer commits an event only after
//! its result is durable, so a crash redelivers at most the uncommitted events.

mod event;
pub mod file;
mod inspect;
mod ops;
#[cfg(feature = "redis")]
pub mod redis;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use event::{EVENT_FORMAT_VERSION, Event, FeatureValue, encode_events};
pub use file::FileEventLog;
pub use inspect::{GroupStats, LogStats, Retention, TrimOutcome};
pub use ops::{list_dead_letters, log_stats, repair_log, trim_log, verify_log};
#[cfg(feature = "redis")]
pub use self::redis::RedisEventLog;

/// The largest record payload either backend accepts; `append` rejects bigger events with
/// [`EventLogError::TooLarge`] rather than acknowledge what a reader would refuse.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// An event log failure, naming the log and what to do.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("event log URL {url:?} is not supported: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{location}: corrupt record ({message})")]
    Corrupt { location: String, message: String },
    #[error("event {index} of the batch is {bytes} bytes, over the {limit}-byte record limit; nothing of the batch was appended (split the event or drop features)")]
    TooLarge { index: usize, bytes: usize, limit: usize },
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Backend(String),
    #[error(transparent)]
    Event(#[from] crate::error::DataError),
}

pub type Result<T, E = EventLogError> = std::result::Result<T, E>;

/// An event as a consumer receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Position in the log (dense, from 0).
    pub offset: u64,
    /// Wall-clock time of the append, in ms since the Unix epoch (for end-to-end lag).
    pub appended_ms: u64,
    pub event: Event,
}

/// A record as stored, before decoding (what backends deliver; [`Consumer::poll`] decodes).
#[derive(Debug, Clone, PartialEq)]
pub struct RawDelivery {
    pub offset: u64,
    pub appended_ms: u64,
    pub payload: Vec<u8>,
}

/// A record a consumer group could not use (undecodable, or rejected by the consumer's
/// encoder), kept with the reason in the log's dead-letter log and acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The record's offset in the event log.
    pub offset: u64,
    pub group: String,
    pub consumer: String,
    pub appended_ms: u64,
    /// When it was dead-lettered (ms since the epoch).
    pub dead_ms: u64,
    pub reason: String,
    /// The record's bytes (invalid UTF-8 replaced by U+FFFD).
    pub payload: String,
}

/// An append-only log of events.
pub trait EventLog: Send + Sync {
    /// The URL the log was opened with.
    fn url(&self) -> &str;
    /// Appends raw payloads in order; durable when this returns. Returns the first one's
    /// offset. A payload over [`MAX_RECORD_BYTES`] fails the whole batch with
    /// [`EventLogError::TooLarge`].
    fn append_raw(&self, payloads: &[Vec<u8>]) -> Result<u64>;
    /// Up to `max` records from offset `from` on (from the oldest retained one when `from`
    /// was trimmed; fewer at the end of the log).
    fn read_raw(&self, from: u64, max: usize) -> Result<Vec<RawDelivery>>;
    /// The offset the next append gets (= number of events appended so far).
    fn end_offset(&self) -> Result<u64>;
    /// Joins consumer group `group` as `consumer`; the group starts at the oldest record.
    fn consumer(&self, group: &str, consumer: &str) -> Result<Box<dyn Consumer>>;
    /// Size, retained range, dead letters and every consumer group's committed offset and lag.
    fn stats(&self) -> Result<LogStats>;
    /// Up to `max` dead letters from the `from`-th on, oldest first.
    fn dead_letters(&self, from: u64, max: usize) -> Result<Vec<DeadLetter>>;
    /// Drops the oldest records beyond `retention`, never one a consumer group has not
    /// committed.
    fn trim(&self, retention: &Retention) -> Result<TrimOutcome>;

    /// Appends `events` in order; durable when this returns. Returns the first one's offset.
    fn append(&self, events: &[Event]) -> Result<u64> {
        self.append_raw(&events.iter().map(Event::to_bytes).collect::<Vec<_>>())
    }
    /// Up to `max` events from offset `from` on; an undecodable record is an error.
    fn read(&self, from: u64, max: usize) -> Result<Vec<Delivery>> {
        self.read_raw(from, max)?.into_iter().map(|raw| decode(raw, self.url())).collect()
    }
}

/// Decodes a raw record; the error names the log and the offset.
pub fn decode(raw: RawDelivery, url: &str) -> Result<Delivery> {
    let event = Event::from_bytes(&raw.payload, &format!("{url} offset {}", raw.offset))?;
    Ok(Delivery { offset: raw.offset, appended_ms: raw.appended_ms, event })
}

/// One member of a consumer group.
pub trait Consumer: Send {
    /// Up to `max` records not yet committed by the group, waiting up to `wait` when there
    /// are none. Records delivered but not committed before a crash are delivered again.
    fn poll_raw(&mut self, max: usize, wait: Duration) -> Result<Vec<RawDelivery>>;
    /// Marks delivered records (by offset) as done for the group; durable when this returns.
    fn commit(&mut self, offsets: &[u64]) -> Result<()>;
    /// Stores `record` with `reason` in the log's dead-letter log (durable when this returns;
    /// the caller commits the offset after). A crash in between stores it again on redelivery.
    fn dead_letter(&mut self, record: &RawDelivery, reason: &str) -> Result<()>;
    /// Dead letters this consumer stored.
    fn dead_lettered(&self) -> u64;

    /// Up to `max` decoded events. An undecodable record goes to the dead-letter log and is
    /// committed, never returned: one bad record never stops a consumer.
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let started = std::time::Instant::now();
        loop {
            let raw = self.poll_raw(max, wait.saturating_sub(started.elapsed()))?;
            let fetched = raw.len();
            let mut good = Vec::with_capacity(fetched);
            let mut dead = Vec::new();
            for record in raw {
                match Event::from_bytes(&record.payload, &format!("offset {}", record.offset)) {
                    Ok(event) => good.push(Delivery { offset: record.offset, appended_ms: record.appended_ms, event }),
                    Err(e) => {
                        self.dead_letter(&record, &e.to_string())?;
                        dead.push(record.offset);
                    }
                }
            }
            if !dead.is_empty() {
                self.commit(&dead)?;
            }
            // A batch of nothing but dead letters made progress: look again at once.
            if !good.is_empty() || fetched == 0 {
                return Ok(good);
            }
        }
    }
}

/// A dead letter for `record`, as a consumer of `group` stores it.
pub fn dead_letter_for(record: &RawDelivery, reason: &str, group: &str, consumer: &str) -> DeadLetter {
    DeadLetter {
        offset: record.offset,
        group: group.to_string(),
        consumer: consumer.to_string(),
        appended_ms: record.appended_ms,
        dead_ms: now_ms(),
        reason: reason.to_string(),
        payload: String::from_utf8_lossy(&record.payload).into_owned(),
    }
}

impl std::fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "offset {} (group {}, consumer {}): {}\n  {}", self.offset, self.group, self.consumer, self.reason, self.payload)
    }
}

/// Checks every payload against [`MAX_RECORD_BYTES`] before anything is written.
fn check_sizes(payloads: &[Vec<u8>]) -> Result<()> {
    match payloads.iter().position(|p| p.len() > MAX_RECORD_BYTES) {
        Some(index) => Err(EventLogError::TooLarge { index, bytes: payloads[index].len(), limit: MAX_RECORD_BYTES }),
        None => Ok(()),
    }
}

/// Opens `file://DIR` (created if missing), `redis://HOST:PORT[/NAME]` or
/// `redis+cluster://HOST:PORT[,HOST:PORT…][/NAME]` (a Redis Cluster).
pub fn open_event_log(url: &str) -> Result<Box<dyn EventLog>> {
    match url.split_once("://") {
        Some(("file", path)) => Ok(Box::new(FileEventLog::open_url(url, path)?)),
        #[cfg(feature = "redis")]
        Some(("redis" | "redis+cluster", _)) => Ok(Box::new(RedisEventLog::open(url)?)),
        #[cfg(not(feature = "redis"))]
        Some(("redis" | "redis+cluster", _)) => Err(EventLogError::BadUrl {
            url: url.into(),
            reason: "this build has no Redis support; rebuild recforge with the `redis` feature (on by default)".into(),
        }),
        _ => Err(EventLogError::BadUrl { url: url.into(), reason: "expected file://DIR, redis://HOST:PORT[/NAME] or redis+cluster://HOST:PORT[,HOST:PORT…][/NAME]".into() }),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Checks a consumer-group name (it becomes a file name and a Redis key part).
fn check_group_name(group: &str) -> Result<()> {
    if group.is_empty() || !group.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || group.starts_with('.') {
        return Err(EventLogError::BadUrl {
            url: group.into(),
            reason: "a consumer group name holds letters, digits, '-', '_' or '.', and does not start with '.'".into(),
        });
    }
    Ok(())
}
