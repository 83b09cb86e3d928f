//! What an operator asks of an event log: how big it is, which records it still holds, how far
//! behind each consumer group is ([`LogStats`]), and how much of it to keep ([`Retention`]).

use serde::{Deserialize, Serialize};

/// A snapshot of an event log (`recforge events stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogStats {
    pub url: String,
    /// `file` or `redis`.
    pub backend: String,
    /// The oldest retained offset (0 until retention trims).
    pub first_offset: u64,
    /// The offset the next append gets.
    pub end_offset: u64,
    /// Records held (`end_offset - first_offset`; the stream length on Redis).
    pub records: u64,
    /// Segment files (file log only).
    pub segments: Option<u64>,
    /// Bytes on disk (file log) or the stream's memory usage (Redis).
    pub bytes: u64,
    /// Records in the dead-letter log.
    pub dead_letters: u64,
    pub groups: Vec<GroupStats>,
}

/// One consumer group's position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub group: String,
    /// Every offset below this one is committed.
    pub committed: u64,
    /// `end_offset - committed`: records not yet committed.
    pub lag: u64,
    /// Delivered but unacknowledged records (Redis only).
    pub pending: Option<u64>,
    /// Consumers known to the group (Redis only).
    pub consumers: Option<u64>,
}

/// How much of a log to keep. Trimming never drops a record some consumer group has not
/// committed; unset limits keep everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    /// Keep at most this many bytes of segments (file log; the active segment always stays).
    pub bytes: Option<u64>,
    /// Keep records appended in the last this many hours (file log: by segment modification
    /// time; Redis: by each entry's append time).
    pub hours: Option<f64>,
    /// Keep at most this many records (Redis `MAXLEN`, applied as a `MINID`).
    pub events: Option<u64>,
}

impl Retention {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.bytes.is_some() || self.hours.is_some() || self.events.is_some()
    }

    /// The cutoff time in ms since the epoch for `hours`, if set.
    pub fn cutoff_ms(&self, now_ms: u64) -> Option<u64> {
        self.hours.map(|h| now_ms.saturating_sub((h.max(0.0) * 3_600_000.0) as u64))
    }
}

/// What a trim removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrimOutcome {
    pub removed_records: u64,
    /// Segment files deleted (file log).
    pub removed_segments: u64,
    pub first_offset: u64,
    /// The lowest committed offset over all groups (trimming stops there); None without groups.
    pub min_committed: Option<u64>,
}

/// The lowest committed offset over `groups`.
pub fn min_committed(groups: &[GroupStats]) -> Option<u64> {
    groups.iter().map(|g| g.committed).min()
}

impl std::fmt::Display for LogStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let segments = self.segments.map_or(String::new(), |n| format!(" in {n} segments"));
        write!(f, "{}: {} records (offsets {}..{}), {} bytes{segments}, {} dead letters", self.url, self.records, self.first_offset, self.end_offset, self.bytes, self.dead_letters)?;
        for g in &self.groups {
            let pending = g.pending.map_or(String::new(), |p| format!(", {p} pending"));
            write!(f, "\n  group {}: committed {}, lag {}{pending}", g.group, g.committed, g.lag)?;
        }
        Ok(())
    }
}

impl std::fmt::Display for TrimOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let floor = self.min_committed.map_or("no groups".to_string(), |o| o.to_string());
        write!(
            f,
            "removed {} record(s) ({} segment(s)); the log now starts at offset {} (lowest committed group offset: {floor})",
            self.removed_records, self.removed_segments, self.first_offset
        )
    }
}
