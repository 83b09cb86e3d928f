//! The operator's use cases on an event log named by URL, one function per
//! `recforge events` subcommand: stats, dead letters, verify, repair, trim.

use std::path::Path;

use super::file::{RepairOutcome, VerifyReport};
use super::{DeadLetter, EventLog, EventLogError, FileEventLog, LogStats, Result, Retention, TrimOutcome, open_event_log};

/// `recforge events stats`: size, retained range, dead letters, each group's offset and lag.
pub fn log_stats(url: &str) -> Result<LogStats> {
    existing(url)?.stats()
}

/// `recforge events dead-letter`: up to `max` dead letters from the `from`-th on.
pub fn list_dead_letters(url: &str, from: u64, max: usize) -> Result<Vec<DeadLetter>> {
    existing(url)?.dead_letters(from, max)
}

/// `recforge events trim`: applies `retention` once.
pub fn trim_log(url: &str, retention: &Retention) -> Result<TrimOutcome> {
    existing(url)?.trim(retention)
}

/// `recforge events verify` (file logs).
pub fn verify_log(url: &str) -> Result<VerifyReport> {
    file_log(url)?.verify()
}

/// `recforge events repair` (file logs; see [`FileEventLog::repair`]).
pub fn repair_log(url: &str, allow_truncate: bool) -> Result<RepairOutcome> {
    file_log(url)?.repair(allow_truncate)
}

/// Opens the log at `url`, refusing to create a file log that is not there (a typo would
/// otherwise report an empty log).
fn existing(url: &str) -> Result<Box<dyn EventLog>> {
    if url.starts_with("file://") {
        return Ok(Box::new(file_log(url)?));
    }
    open_event_log(url)
}

fn file_log(url: &str) -> Result<FileEventLog> {
    match url.split_once("://") {
        Some(("file", rest)) => {
            let path = rest.split_once('?').map_or(rest, |(p, _)| p);
            if !Path::new(path).join("segments").is_dir() {
                return Err(EventLogError::BadUrl { url: url.into(), reason: format!("{path} holds no event log (no segments/ folder)") });
            }
            FileEventLog::open_url(url, rest)
        }
        _ => Err(EventLogError::BadUrl {
            url: url.into(),
            reason: "this needs the segment files of a file:// log; a Redis stream is checked by Redis itself \
                     (redis-check-aof / redis-check-rdb)"
                .into(),
        }),
    }
}
