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
#[cfg(feature = "redis")]
pub mod redis;

use std::time::Duration;

pub use event::{EVENT_FORMAT_VERSION, Event, FeatureValue, encode_events};
pub use file::FileEventLog;
#[cfg(feature = "redis")]
pub use self::redis::RedisEventLog;

/// An event log failure, naming the log and what to do.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("event log URL {url:?} is not supported: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{location}: corrupt record ({message})")]
    Corrupt { location: String, message: String },
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

/// An append-only log of events.
pub trait EventLog: Send + Sync {
    /// The URL the log was opened with.
    fn url(&self) -> &str;
    /// Appends `events` in order; durable when this returns. Returns the first one's offset.
    fn append(&self, events: &[Event]) -> Result<u64>;
    /// Up to `max` events from offset `from` on (fewer at the end of the log).
    fn read(&self, from: u64, max: usize) -> Result<Vec<Delivery>>;
    /// The offset the next append gets (= number of events appended so far).
    fn end_offset(&self) -> Result<u64>;
    /// Joins consumer group `group` as `consumer`; the group starts at offset 0.
    fn consumer(&self, group: &str, consumer: &str) -> Result<Box<dyn Consumer>>;
}

/// One member of a consumer group.
pub trait Consumer: Send {
    /// Up to `max` events not yet committed by the group, waiting up to `wait` when there are
    /// none. Events delivered but not committed before a crash are delivered again.
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>>;
    /// Marks delivered events (by offset) as done for the group; durable when this returns.
    fn commit(&mut self, offsets: &[u64]) -> Result<()>;
}

/// Opens `file://DIR` (created if missing) or `redis://HOST:PORT[/NAME]`.
pub fn open_event_log(url: &str) -> Result<Box<dyn EventLog>> {
    match url.split_once("://") {
        Some(("file", path)) => Ok(Box::new(FileEventLog::open_url(url, path)?)),
        #[cfg(feature = "redis")]
        Some(("redis", _)) => Ok(Box::new(RedisEventLog::open(url)?)),
        #[cfg(not(feature = "redis"))]
        Some(("redis", _)) => Err(EventLogError::BadUrl {
            url: url.into(),
            reason: "this build has no Redis support; rebuild recforge with the `redis` feature (on by default)".into(),
        }),
        _ => Err(EventLogError::BadUrl { url: url.into(), reason: "expected file://DIR or redis://HOST:PORT[/NAME]".into() }),
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
