//! Retention for the file log: delete the oldest sealed segments while the log is over its
//! byte budget or a segment's newest record is older than the time limit (its modification
//! time), but never a segment holding an offset a consumer group has not committed, and never
//! the active segment.

use std::time::UNIX_EPOCH;

use super::{Inner, io, sync_dir};
use crate::event_log::inspect::min_committed;
use crate::event_log::{Result, Retention, TrimOutcome, now_ms};

pub(super) fn trim(inner: &Inner, retention: &Retention, end_offset: u64) -> Result<TrimOutcome> {
    let bases = inner.segment_bases()?;
    let groups = inner.groups(end_offset)?;
    let floor = min_committed(&groups);
    let mut sizes = Vec::with_capacity(bases.len());
    let mut modified = Vec::with_capacity(bases.len());
    for &base in &bases {
        let path = inner.segment_path(base);
        let meta = std::fs::metadata(&path).map_err(io(&path))?;
        sizes.push(meta.len());
        modified.push(meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(u64::MAX, |d| d.as_millis() as u64));
    }
    let mut total: u64 = sizes.iter().sum();
    let cutoff = retention.cutoff_ms(now_ms());
    let mut outcome = TrimOutcome { min_committed: floor, first_offset: bases.first().copied().unwrap_or(0), ..TrimOutcome::default() };
    // Segment i holds offsets bases[i] .. bases[i + 1]; the last one is active.
    for i in 0..bases.len().saturating_sub(1) {
        let end = bases[i + 1];
        let over_bytes = retention.bytes.is_some_and(|b| total > b);
        let too_old = cutoff.is_some_and(|c| modified[i] < c);
        let committed = floor.is_none_or(|f| end <= f);
        if !(over_bytes || too_old) || !committed {
            break;
        }
        let path = inner.segment_path(bases[i]);
        std::fs::remove_file(&path).map_err(io(&path))?;
        total -= sizes[i];
        outcome.removed_records += end - bases[i];
        outcome.removed_segments += 1;
        outcome.first_offset = end;
    }
    if outcome.removed_segments > 0 {
        sync_dir(&inner.dir.join("segments"))?;
    }
    Ok(outcome)
}
