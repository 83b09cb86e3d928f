//! `recforge events verify|repair` for the file log: scan every record of every segment,
//! tell a torn tail (after the durable mark of the active segment, cut by the next writer)
//! from corruption (anywhere else), and repair corruption explicitly.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use serde::{Deserialize, Serialize};

use super::record::{self, HEADER, Step, encode_record, next_record};
use super::{Inner, io, sync_dir};
use crate::event_log::{EventLogError, MAX_RECORD_BYTES, Result};

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub url: String,
    /// Whole valid records in all segments.
    pub records: u64,
    /// Segments with corruption (a torn tail is not counted).
    pub corrupt_segments: u64,
    pub segments: Vec<SegmentCheck>,
}

/// One segment's scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentCheck {
    pub segment: String,
    pub first_offset: u64,
    pub records: u64,
    pub bytes: u64,
    /// The first bad record, if any (the scan stops there).
    pub problem: Option<Problem>,
}

/// A bad record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Byte position in the segment.
    pub byte: u64,
    /// The offset the record there should have.
    pub offset: u64,
    pub reason: String,
    /// False for a torn tail after the durable mark (harmless: never acknowledged).
    pub corrupt: bool,
}

/// What `repair` changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepairOutcome {
    /// Offsets whose record was replaced by an undecodable tombstone (consumers dead-letter them).
    pub tombstoned: Vec<u64>,
    /// `segment:byte` where the log was cut, if it was.
    pub truncated_at: Option<String>,
    /// Records lost to the cut (in the cut segment and the later segments deleted).
    pub lost_records: u64,
}

/// The tombstone's text; the rest of the payload is padded with `#`.
const TOMBSTONE: &[u8] = b"#recforge repair: corrupt record replaced";

pub(super) fn verify(inner: &Inner, url: &str) -> Result<VerifyReport> {
    let bases = inner.segment_bases()?;
    let mut report = VerifyReport { url: url.to_string(), records: 0, corrupt_segments: 0, segments: Vec::new() };
    let mut expected = bases.first().copied().unwrap_or(0);
    for (i, &base) in bases.iter().enumerate() {
        let last = i + 1 == bases.len();
        let check = scan(inner, base, expected, last)?;
        report.records += check.records;
        if check.problem.as_ref().is_some_and(|p| p.corrupt) {
            report.corrupt_segments += 1;
        }
        expected = bases.get(i + 1).copied().unwrap_or(base + check.records);
        report.segments.push(check);
    }
    Ok(report)
}

/// Scans one segment whose first record should have offset `expected`.
fn scan(inner: &Inner, base: u64, expected: u64, last: bool) -> Result<SegmentCheck> {
    let path = inner.segment_path(base);
    let file = File::open(&path).map_err(io(&path))?;
    let bytes = file.metadata().map_err(io(&path))?.len();
    let durable = if last { record::durable_byte(&inner.dir, base) } else { u64::MAX };
    let mut reader = BufReader::new(file);
    let (mut pos, mut next, mut records) = (0u64, expected.max(base), 0u64);
    let problem = loop {
        match next_record(&mut reader).map_err(io(&path))? {
            Step::Record { offset, payload, .. } => {
                if offset != next {
                    break Some(Problem { byte: pos, offset: next, reason: format!("offset {offset} where {next} was expected"), corrupt: true });
                }
                pos += (HEADER + payload.len()) as u64;
                next += 1;
                records += 1;
            }
            Step::End => break None,
            Step::Torn(reason) => break Some(Problem { byte: pos, offset: next, reason, corrupt: pos < durable }),
        }
    };
    Ok(SegmentCheck { segment: path.display().to_string(), first_offset: base, records, bytes, problem })
}

/// Repairs every corrupt segment (the caller holds the writer lock).
pub(super) fn repair(inner: &Inner, allow_truncate: bool) -> Result<RepairOutcome> {
    let mut outcome = RepairOutcome::default();
    // Each pass fixes the first corrupt record; a tombstone lets the scan go on past it.
    for _ in 0..1_000_000 {
        let report = verify(inner, "")?;
        let Some(check) = report.segments.iter().find(|s| s.problem.as_ref().is_some_and(|p| p.corrupt)) else {
            return Ok(outcome);
        };
        let Some(problem) = &check.problem else { return Ok(outcome) };
        let base = check.first_offset;
        let path = inner.segment_path(base);
        if tombstone(inner, base, problem)? {
            outcome.tombstoned.push(problem.offset);
            continue;
        }
        let later: Vec<u64> = inner.segment_bases()?.into_iter().filter(|&b| b > base).collect();
        let end = match report.segments.last().filter(|s| s.first_offset > base) {
            Some(s) => s.first_offset + s.records,
            None => last_valid_after(inner, base, problem)?.map_or(problem.offset, |o| o + 1),
        };
        let lost = end.saturating_sub(problem.offset);
        if !allow_truncate {
            return Err(EventLogError::Corrupt {
                location: format!("{}:{}", path.display(), problem.byte),
                message: format!(
                    "{}; the record's frame is damaged, so repair can only cut the log there, losing {lost} record(s) \
                     and {} later segment(s); rerun with --truncate to do so",
                    problem.reason,
                    later.len()
                ),
            });
        }
        let file = OpenOptions::new().write(true).open(&path).map_err(io(&path))?;
        file.set_len(problem.byte).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        for b in &later {
            let p = inner.segment_path(*b);
            std::fs::remove_file(&p).map_err(io(&p))?;
        }
        sync_dir(&inner.dir.join("segments"))?;
        let mark = inner.open_mark()?;
        record::write_mark(&mark, base, problem.byte).map_err(io(&inner.dir.join("durable")))?;
        mark.sync_all().map_err(io(&inner.dir.join("durable")))?;
        outcome.truncated_at = Some(format!("{}:{}", path.display(), problem.byte));
        outcome.lost_records += lost;
    }
    Ok(outcome)
}

/// Replaces the bad record at `problem` by a tombstone of the same size when its frame is
/// intact: its length is plausible and a valid record with the next offset (or the end of the
/// segment) follows it. Returns whether it did.
fn tombstone(inner: &Inner, base: u64, problem: &Problem) -> Result<bool> {
    let path = inner.segment_path(base);
    let mut file = OpenOptions::new().read(true).write(true).open(&path).map_err(io(&path))?;
    let size = file.metadata().map_err(io(&path))?.len();
    let mut header = [0u8; HEADER];
    if file.read_exact_at(&mut header, problem.byte).is_err() {
        return Ok(false);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
    let appended_ms = u64::from_le_bytes(header[16..24].try_into().unwrap_or([0; 8]));
    let after = problem.byte + HEADER as u64 + len;
    if len as usize > MAX_RECORD_BYTES || after > size {
        return Ok(false);
    }
    if after < size {
        file.seek(SeekFrom::Start(after)).map_err(io(&path))?;
        match next_record(&mut BufReader::new((&mut file).take(size - after))).map_err(io(&path))? {
            Step::Record { offset, .. } if offset == problem.offset + 1 => {}
            _ => return Ok(false),
        }
    }
    let mut payload = vec![b'#'; len as usize];
    let n = TOMBSTONE.len().min(payload.len());
    payload[..n].copy_from_slice(&TOMBSTONE[..n]);
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    encode_record(problem.offset, appended_ms, &payload, &mut bytes);
    file.write_all_at(&bytes, problem.byte).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))?;
    Ok(true)
}

/// The highest offset of a valid record after the damaged one in segment `base`, found by
/// sliding over the bytes (a CRC match with a plausible offset is taken as a record).
fn last_valid_after(inner: &Inner, base: u64, problem: &Problem) -> Result<Option<u64>> {
    let path = inner.segment_path(base);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let mut pos = problem.byte as usize + 1;
    let mut last = None;
    while pos + HEADER <= bytes.len() {
        match next_record(&mut &bytes[pos..]).map_err(io(&path))? {
            Step::Record { offset, payload, .. } if offset > problem.offset && offset - problem.offset <= bytes.len() as u64 => {
                last = Some(offset);
                pos += HEADER + payload.len();
            }
            _ => pos += 1,
        }
    }
    Ok(last)
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.segments {
            let state = match &s.problem {
                None => "ok".to_string(),
                Some(p) if p.corrupt => format!("CORRUPT at byte {} (offset {}): {}", p.byte, p.offset, p.reason),
                Some(p) => format!("torn tail at byte {} ({}), cut by the next writer", p.byte, p.reason),
            };
            writeln!(f, "{}: {} records, {} bytes: {state}", s.segment, s.records, s.bytes)?;
        }
        write!(f, "{} records, {} corrupt segment(s)", self.records, self.corrupt_segments)
    }
}

impl std::fmt::Display for RepairOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = self.truncated_at.as_ref().map_or("nothing cut".to_string(), |at| format!("cut at {at}, {} record(s) lost", self.lost_records));
        write!(f, "tombstoned offsets {:?}; {cut}", self.tombstoned)
    }
}
