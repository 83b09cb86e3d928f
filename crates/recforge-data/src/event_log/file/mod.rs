//! The embedded event log: `DIR/segments/<first offset>.log` files of length-prefixed,
//! CRC-checked records ([`record`]), `DIR/groups/<group>.offset` with each group's committed
//! offset, `DIR/durable` (how far the active segment is known synced) and
//! `DIR/dead-letter/` (a file log of [`DeadLetter`]s).
//!
//! Durability: an append batch is written and `fdatasync`ed before `append` returns, then the
//! durable mark moves past it; a new segment is created (and its folder synced) once the
//! current one passes the size limit. Committed offsets are written to a temporary file,
//! synced, renamed over the old one and the folder synced. After a crash the active segment
//! may end in a torn record *after* the durable mark: readers stop before it and the next
//! writer cuts it (counted in [`FileEventLog::recovered_bytes`]). A bad record *before* the
//! mark, or anywhere in a sealed segment, is corruption: an error naming segment and byte,
//! handled explicitly with [`FileEventLog::verify`] and [`FileEventLog::repair`] ([`check`]).
//!
//! Retention (`?retain_bytes=N&retain_hours=H`, or [`EventLog::trim`]) deletes whole sealed
//! segments, never one holding an offset some consumer group has not committed ([`retain`]).
//!
//! Concurrency: `DIR/writer.lock` admits one appending process and `groups/<group>.lock` one
//! consuming process per group (advisory `flock`s, released by the OS when a process dies);
//! any number of processes may `read`.

mod check;
mod record;
mod retain;

pub use check::{Problem, RepairOutcome, SegmentCheck, VerifyReport};

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::record::{HEADER, Step, encode_record, next_record};
use super::{
    Consumer, DeadLetter, EventLog, EventLogError, LogStats, RawDelivery, Result, Retention, TrimOutcome, check_group_name, check_sizes,
    dead_letter_for, now_ms,
};

/// Segment size after which the writer starts a new segment (override with
/// `?segment_bytes=N` in the URL).
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// How often an idle consumer looks for new records.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// The dead-letter log's folder inside the log's folder.
pub const DEAD_LETTER_DIR: &str = "dead-letter";
/// How long a consumer waits for another process to finish writing a dead letter.
const DEAD_LETTER_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The file-backed event log.
pub struct FileEventLog {
    url: String,
    inner: Arc<Inner>,
    cursor: Mutex<Cursor>,
}

struct Inner {
    dir: PathBuf,
    segment_bytes: u64,
    retention: Retention,
    writer: Mutex<Option<Writer>>,
    recovered_bytes: Mutex<u64>,
}

struct Writer {
    _lock: File,
    file: File,
    base: u64,
    size: u64,
    next: u64,
    mark: File,
}

/// Where a sequential reader stopped: the segment, the byte position and the offset there.
#[derive(Default)]
struct Cursor {
    base: u64,
    pos: u64,
    next: u64,
    valid: bool,
}

impl FileEventLog {
    /// Opens (creating) the log in `dir` with the default segment size.
    pub fn open(dir: &Path) -> Result<FileEventLog> {
        Self::with_options(dir, DEFAULT_SEGMENT_BYTES, Retention::default(), &format!("file://{}", dir.display()))
    }

    /// Opens `file://DIR[?segment_bytes=N&retain_bytes=N&retain_hours=H]` (`rest` is what
    /// follows `file://`).
    pub fn open_url(url: &str, rest: &str) -> Result<FileEventLog> {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut segment_bytes = DEFAULT_SEGMENT_BYTES;
        let mut retention = Retention::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let bad = |v: &str| EventLogError::BadUrl { url: url.into(), reason: format!("{pair:?}: {v:?} is not a number") };
            match pair.split_once('=') {
                Some(("segment_bytes", v)) => segment_bytes = v.parse().map_err(|_| bad(v))?,
                Some(("retain_bytes", v)) => retention.bytes = Some(v.parse().map_err(|_| bad(v))?),
                Some(("retain_hours", v)) => retention.hours = Some(v.parse().map_err(|_| bad(v))?),
                _ => {
                    return Err(EventLogError::BadUrl {
                        url: url.into(),
                        reason: format!("unknown parameter {pair:?} (file logs take segment_bytes=N, retain_bytes=N, retain_hours=H)"),
                    });
                }
            }
        }
        if path.is_empty() {
            return Err(EventLogError::BadUrl { url: url.into(), reason: "no folder (expected file://DIR)".into() });
        }
        Self::with_options(Path::new(path), segment_bytes.max(1), retention, url)
    }

    fn with_options(dir: &Path, segment_bytes: u64, retention: Retention, url: &str) -> Result<FileEventLog> {
        for sub in ["segments", "groups"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| EventLogError::Io { path, source })?;
        }
        let inner = Inner { dir: dir.to_path_buf(), segment_bytes, retention, writer: Mutex::new(None), recovered_bytes: Mutex::new(0) };
        Ok(FileEventLog { url: url.to_string(), inner: Arc::new(inner), cursor: Mutex::new(Cursor::default()) })
    }

    /// Bytes of torn tail the writer cut off when it opened the log (0 after a clean stop).
    pub fn recovered_bytes(&self) -> u64 {
        self.inner.recovered_bytes.lock().map_or(0, |b| *b)
    }

    /// The segment files, oldest first.
    pub fn segments(&self) -> Result<Vec<PathBuf>> {
        Ok(self.inner.segment_bases()?.into_iter().map(|b| self.inner.segment_path(b)).collect())
    }

    /// Reads every record of every segment and reports the first problem of each.
    pub fn verify(&self) -> Result<VerifyReport> {
        check::verify(&self.inner, &self.url)
    }

    /// Repairs what [`FileEventLog::verify`] finds: a corrupt record whose frame is intact is
    /// replaced in place by an undecodable tombstone (its offset stays; consumers dead-letter
    /// it); anything else is cut at the bad byte, with the later segments, only when
    /// `allow_truncate` (the outcome counts the records lost). Takes the writer lock.
    pub fn repair(&self, allow_truncate: bool) -> Result<RepairOutcome> {
        let _lock = self.inner.lock_writer()?;
        check::repair(&self.inner, allow_truncate)
    }

    fn dead_letter_log(&self) -> Option<FileEventLog> {
        let dir = self.inner.dir.join(DEAD_LETTER_DIR);
        dir.is_dir().then(|| FileEventLog::open(&dir)).and_then(|r| r.ok())
    }
}

impl EventLog for FileEventLog {
    fn url(&self) -> &str {
        &self.url
    }

    fn append_raw(&self, payloads: &[Vec<u8>]) -> Result<u64> {
        check_sizes(payloads)?;
        self.inner.append(payloads)
    }

    fn read_raw(&self, from: u64, max: usize) -> Result<Vec<RawDelivery>> {
        let mut cursor = self.cursor.lock().map_err(|_| poisoned())?;
        self.inner.read(&mut cursor, from, max)
    }

    fn end_offset(&self) -> Result<u64> {
        if let Some(writer) = self.inner.writer.lock().map_err(|_| poisoned())?.as_ref() {
            return Ok(writer.next);
        }
        // Count the records a reader can see.
        let mut cursor = Cursor::default();
        let mut from = self.inner.segment_bases()?.last().copied().unwrap_or(0);
        loop {
            let batch = self.inner.read(&mut cursor, from, 4096)?;
            match batch.last() {
                Some(last) => from = last.offset + 1,
                None => return Ok(from),
            }
        }
    }

    fn consumer(&self, group: &str, consumer: &str) -> Result<Box<dyn Consumer>> {
        check_group_name(group)?;
        let lock_path = self.inner.dir.join("groups").join(format!("{group}.lock"));
        let lock = lock_file(&lock_path, || {
            format!(
                "{}: consumer group {group:?} is held by another process; a file log has one consumer process \
                 per group (use --workers N inside it, or a redis:// log for several processes)",
                self.url
            )
        })?;
        let committed = self.inner.read_committed(group)?;
        if !self.inner.offset_path(group).is_file() {
            // Retention must see a group from the moment it joins.
            self.inner.write_committed(group, committed)?;
        }
        Ok(Box::new(FileConsumer {
            inner: self.inner.clone(),
            group: group.to_string(),
            name: consumer.to_string(),
            _lock: lock,
            committed,
            next: committed,
            pending: BTreeSet::new(),
            cursor: Cursor::default(),
            dead: 0,
        }))
    }

    fn stats(&self) -> Result<LogStats> {
        let bases = self.inner.segment_bases()?;
        let mut bytes = 0;
        for &base in &bases {
            let path = self.inner.segment_path(base);
            bytes += std::fs::metadata(&path).map_err(io(&path))?.len();
        }
        let end_offset = self.end_offset()?;
        let first_offset = bases.first().copied().unwrap_or(0).min(end_offset);
        let groups = self.inner.groups(end_offset)?;
        let dead_letters = match self.dead_letter_log() {
            Some(log) => log.end_offset()?,
            None => 0,
        };
        Ok(LogStats {
            url: self.url.clone(),
            backend: "file".into(),
            first_offset,
            end_offset,
            records: end_offset - first_offset,
            segments: Some(bases.len() as u64),
            bytes,
            dead_letters,
            groups,
        })
    }

    fn dead_letters(&self, from: u64, max: usize) -> Result<Vec<DeadLetter>> {
        let Some(log) = self.dead_letter_log() else { return Ok(Vec::new()) };
        log.read_raw(from, max)?
            .into_iter()
            .map(|raw| {
                serde_json::from_slice(&raw.payload).map_err(|e| EventLogError::Corrupt {
                    location: format!("{}/{DEAD_LETTER_DIR} offset {}", self.inner.dir.display(), raw.offset),
                    message: format!("not a dead letter ({e})"),
                })
            })
            .collect()
    }

    fn trim(&self, retention: &Retention) -> Result<TrimOutcome> {
        let end = self.end_offset()?;
        retain::trim(&self.inner, retention, end)
    }
}

fn poisoned() -> EventLogError {
    EventLogError::Backend("a thread panicked while holding the event log".into())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EventLogError + '_ {
    move |source| EventLogError::Io { path: path.to_path_buf(), source }
}

/// Takes an exclusive advisory lock on `path` (created if missing) or fails with `busy()`.
fn lock_file(path: &Path, busy: impl FnOnce() -> String) -> Result<File> {
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io(path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(EventLogError::Busy(busy())),
        Err(std::fs::TryLockError::Error(e)) => Err(io(path)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn corrupt_before_mark(path: &Path, pos: u64, what: &str, durable: u64) -> EventLogError {
    EventLogError::Corrupt {
        location: format!("{}:{pos}", path.display()),
        message: format!(
            "{what} before the durable position (byte {durable}): this is not a torn tail but damage to acknowledged \
             records; run `recforge events verify --events URL`, then `recforge events repair --events URL`"
        ),
    }
}

impl Inner {
    fn segment_path(&self, base: u64) -> PathBuf {
        self.dir.join("segments").join(format!("{base:020}.log"))
    }

    fn segment_bases(&self) -> Result<Vec<u64>> {
        let dir = self.dir.join("segments");
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let name = entry.map_err(io(&dir))?.file_name();
            if let Some(base) = name.to_str().and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok()) {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        Ok(bases)
    }

    fn lock_writer(&self) -> Result<File> {
        lock_file(&self.dir.join("writer.lock"), || {
            format!("{}: another process is appending to this event log (one writer at a time)", self.dir.display())
        })
    }

    fn open_mark(&self) -> Result<File> {
        let path = self.dir.join("durable");
        OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io(&path))
    }

    /// Opens the writer: takes the lock, finds the end of the last segment, cuts a torn tail
    /// after the durable mark (a bad record before it is an error).
    fn open_writer(&self) -> Result<Writer> {
        let lock = self.lock_writer()?;
        let bases = self.segment_bases()?;
        let Some(&base) = bases.last() else {
            let path = self.segment_path(0);
            let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
            sync_dir(&self.dir.join("segments"))?;
            return Ok(Writer { _lock: lock, file, base: 0, size: 0, next: 0, mark: self.open_mark()? });
        };
        let path = self.segment_path(base);
        let durable = record::durable_byte(&self.dir, base);
        let file = OpenOptions::new().read(true).append(true).open(&path).map_err(io(&path))?;
        let mut reader = BufReader::new(&file);
        let (mut pos, mut next) = (0u64, base);
        loop {
            match next_record(&mut reader).map_err(io(&path))? {
                Step::Record { offset, payload, .. } => {
                    if offset != next {
                        return Err(EventLogError::Corrupt {
                            location: format!("{}:{pos}", path.display()),
                            message: format!("offset {offset} where {next} was expected"),
                        });
                    }
                    pos += (HEADER + payload.len()) as u64;
                    next += 1;
                }
                Step::End => break,
                Step::Torn(what) if pos < durable => return Err(corrupt_before_mark(&path, pos, &what, durable)),
                Step::Torn(what) => {
                    let size = file.metadata().map_err(io(&path))?.len();
                    warn(&format!("{}: cutting {} bytes of torn tail ({what}) at byte {pos}", path.display(), size - pos));
                    file.set_len(pos).map_err(io(&path))?;
                    file.sync_all().map_err(io(&path))?;
                    if let Ok(mut b) = self.recovered_bytes.lock() {
                        *b += size - pos;
                    }
                    break;
                }
            }
        }
        Ok(Writer { _lock: lock, file, base, size: pos, next, mark: self.open_mark()? })
    }

    fn append(&self, payloads: &[Vec<u8>]) -> Result<u64> {
        let mut guard = self.writer.lock().map_err(|_| poisoned())?;
        if guard.is_none() {
            *guard = Some(self.open_writer()?);
        }
        let Some(writer) = guard.as_mut() else { return Err(poisoned()) };
        let first = writer.next;
        let result = self.write_batch(writer, payloads);
        if result.is_err() {
            // Reopen (and recover) on the next call rather than trust the in-memory state.
            *guard = None;
        }
        result.map(|rotated| {
            if rotated && self.retention.is_set() {
                // The batch is durable; a failed trim only delays retention.
                if let Err(e) = retain::trim(self, &self.retention, first + payloads.len() as u64) {
                    warn(&format!("{}: retention: {e}", self.dir.display()));
                }
            }
            first
        })
    }

    /// Writes the batch (rotating segments as they fill); true when a segment was sealed.
    fn write_batch(&self, writer: &mut Writer, payloads: &[Vec<u8>]) -> Result<bool> {
        let now = now_ms();
        let mut buffer = Vec::new();
        let mut rotated = false;
        for payload in payloads {
            if writer.size + buffer.len() as u64 >= self.segment_bytes && writer.size + buffer.len() as u64 > 0 {
                self.flush(writer, &mut buffer)?;
                let path = self.segment_path(writer.next);
                writer.file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
                writer.base = writer.next;
                writer.size = 0;
                sync_dir(&self.dir.join("segments"))?;
                rotated = true;
            }
            encode_record(writer.next, now, payload, &mut buffer);
            writer.next += 1;
        }
        self.flush(writer, &mut buffer)?;
        Ok(rotated)
    }

    /// Writes `buffer` to the current segment, syncs it and moves the durable mark past it.
    fn flush(&self, writer: &mut Writer, buffer: &mut Vec<u8>) -> Result<()> {
        let path = self.dir.join("segments");
        writer.file.write_all(buffer).map_err(io(&path))?;
        writer.file.sync_data().map_err(io(&path))?;
        writer.size += buffer.len() as u64;
        buffer.clear();
        record::write_mark(&writer.mark, writer.base, writer.size).map_err(io(&self.dir.join("durable")))
    }

    /// Points `cursor` at the segment holding `from` (the oldest one when `from` was trimmed).
    fn seek(&self, cursor: &mut Cursor, from: u64) -> Result<bool> {
        let bases = self.segment_bases()?;
        let base = match bases.iter().rev().find(|&&b| b <= from) {
            Some(&b) => b,
            None => match bases.first() {
                Some(&b) => b,
                None => return Ok(false),
            },
        };
        *cursor = Cursor { base, pos: 0, next: base, valid: true };
        Ok(true)
    }

    fn read(&self, cursor: &mut Cursor, from: u64, max: usize) -> Result<Vec<RawDelivery>> {
        let mut out = Vec::new();
        if !(cursor.valid && cursor.next == from) && !self.seek(cursor, from)? {
            return Ok(out);
        }
        let mut retried = false;
        let mut reseeked = false;
        while out.len() < max {
            let path = self.segment_path(cursor.base);
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // Retention deleted the segment under the cursor: start again from the oldest.
                    if reseeked || !self.seek(cursor, from.max(cursor.next))? {
                        break;
                    }
                    reseeked = true;
                    continue;
                }
                Err(e) => return Err(io(&path)(e)),
            };
            file.seek(SeekFrom::Start(cursor.pos)).map_err(io(&path))?;
            let mut reader = BufReader::new(file);
            let stop = loop {
                if out.len() >= max {
                    break None;
                }
                match next_record(&mut reader).map_err(io(&path))? {
                    Step::Record { offset, appended_ms, payload } => {
                        if offset != cursor.next {
                            return Err(EventLogError::Corrupt {
                                location: format!("{}:{}", path.display(), cursor.pos),
                                message: format!("offset {offset} where {} was expected", cursor.next),
                            });
                        }
                        cursor.pos += (HEADER + payload.len()) as u64;
                        cursor.next += 1;
                        if offset >= from {
                            out.push(RawDelivery { offset, appended_ms, payload });
                        }
                    }
                    Step::End => break Some(None),
                    Step::Torn(what) => break Some(Some(what)),
                }
            };
            let Some(torn) = stop else { break };
            // At the end of this segment: go on to the next one if the writer started it.
            if self.segment_path(cursor.next).is_file() && cursor.next != cursor.base {
                if let Some(what) = torn {
                    // The writer may have finished that record and rotated since: look again once.
                    if !retried {
                        retried = true;
                        continue;
                    }
                    return Err(EventLogError::Corrupt { location: format!("{}:{}", path.display(), cursor.pos), message: format!("{what} inside a sealed segment") });
                }
                retried = false;
                *cursor = Cursor { base: cursor.next, pos: 0, next: cursor.next, valid: true };
            } else {
                if let Some(what) = torn {
                    // A record being written lies after the mark; damage before it is corruption.
                    // The writer may have finished the record and moved the mark since we read
                    // it: the mark is written after the bytes, so one more read sees them.
                    let durable = record::durable_byte(&self.dir, cursor.base);
                    if cursor.pos < durable {
                        if !retried {
                            retried = true;
                            continue;
                        }
                        return Err(corrupt_before_mark(&path, cursor.pos, &what, durable));
                    }
                }
                break;
            }
        }
        Ok(out)
    }

    fn offset_path(&self, group: &str) -> PathBuf {
        self.dir.join("groups").join(format!("{group}.offset"))
    }

    fn read_committed(&self, group: &str) -> Result<u64> {
        let path = self.offset_path(group);
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| EventLogError::Corrupt { location: path.display().to_string(), message: format!("{text:?} is not an offset") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn write_committed(&self, group: &str, offset: u64) -> Result<()> {
        let path = self.offset_path(group);
        let tmp = self.dir.join("groups").join(format!(".{group}.offset.tmp"));
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(format!("{offset}\n").as_bytes()).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&self.dir.join("groups"))
    }

    /// Every group with a committed-offset file, by name.
    fn groups(&self, end_offset: u64) -> Result<Vec<super::GroupStats>> {
        let dir = self.dir.join("groups");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let name = entry.map_err(io(&dir))?.file_name();
            if let Some(group) = name.to_str().and_then(|n| n.strip_suffix(".offset")).filter(|n| !n.starts_with('.')) {
                names.push(group.to_string());
            }
        }
        names.sort();
        names
            .into_iter()
            .map(|group| {
                let committed = self.read_committed(&group)?;
                Ok(super::GroupStats { group, committed, lag: end_offset.saturating_sub(committed), pending: None, consumers: None })
            })
            .collect()
    }
}

/// The data crate does not log; recovery is rare and worth a line on stderr.
fn warn(message: &str) {
    eprintln!("warning: {message}");
}

struct FileConsumer {
    inner: Arc<Inner>,
    group: String,
    name: String,
    _lock: File,
    committed: u64,
    /// The next offset to deliver.
    next: u64,
    /// Delivered, not yet committed.
    pending: BTreeSet<u64>,
    cursor: Cursor,
    dead: u64,
}

impl Consumer for FileConsumer {
    fn poll_raw(&mut self, max: usize, wait: Duration) -> Result<Vec<RawDelivery>> {
        let started = Instant::now();
        loop {
            let batch = self.inner.read(&mut self.cursor, self.next, max)?;
            if let Some(last) = batch.last() {
                self.next = last.offset + 1;
                self.pending.extend(batch.iter().map(|d| d.offset));
                return Ok(batch);
            }
            if started.elapsed() >= wait {
                return Ok(batch);
            }
            std::thread::sleep(POLL_INTERVAL.min(wait));
        }
    }

    /// The group's offset advances to the first delivered event not yet committed.
    fn commit(&mut self, offsets: &[u64]) -> Result<()> {
        for offset in offsets {
            self.pending.remove(offset);
        }
        let committed = self.pending.first().copied().unwrap_or(self.next);
        if committed != self.committed {
            self.inner.write_committed(&self.group, committed)?;
            self.committed = committed;
        }
        Ok(())
    }

    fn dead_letter(&mut self, record: &RawDelivery, reason: &str) -> Result<()> {
        let letter = dead_letter_for(record, reason, &self.group, &self.name);
        let payload = serde_json::to_vec(&letter).map_err(|e| EventLogError::Backend(format!("dead letter: {e}")))?;
        let dir = self.inner.dir.join(DEAD_LETTER_DIR);
        // Consumers of other groups may be writing a dead letter too: wait for the lock.
        let started = Instant::now();
        loop {
            match FileEventLog::open(&dir).and_then(|log| log.append_raw(std::slice::from_ref(&payload))) {
                Err(EventLogError::Busy(_)) if started.elapsed() < DEAD_LETTER_LOCK_WAIT => std::thread::sleep(POLL_INTERVAL),
                Err(e) => return Err(e),
                Ok(_) => break,
            }
        }
        self.dead += 1;
        Ok(())
    }

    fn dead_lettered(&self) -> u64 {
        self.dead
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event_log::{EVENT_FORMAT_VERSION, Event, FeatureValue, MAX_RECORD_BYTES};

    fn event(id: u64) -> Event {
        let mut features = BTreeMap::new();
        features.insert("user".to_string(), FeatureValue::Tokens(vec![format!("u{}", id % 7)]));
        features.insert("price".to_string(), FeatureValue::Number(id as f64 * 0.5));
        Event { v: EVENT_FORMAT_VERSION, id, ts: 1000 + id as i64, label: (id % 2) as f32, features }
    }

    fn small_segments(dir: &Path) -> FileEventLog {
        FileEventLog::open_url("test", &format!("{}?segment_bytes=600", dir.display())).unwrap()
    }

    fn ids(log: &FileEventLog) -> Vec<u64> {
        log.read(0, 1000).unwrap().iter().map(|d| d.event.id).collect()
    }

    #[test]
    fn round_trip_across_segment_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let log = small_segments(dir.path());
        let events: Vec<Event> = (0..50).map(event).collect();
        assert_eq!(log.append(&events[..20]).unwrap(), 0);
        assert_eq!(log.append(&events[20..]).unwrap(), 20);
        assert!(log.segments().unwrap().len() > 3, "600-byte segments rotate");
        let all = log.read(0, 1000).unwrap();
        assert_eq!(all.iter().map(|d| d.event.clone()).collect::<Vec<_>>(), events);
        assert!(all.iter().enumerate().all(|(i, d)| d.offset == i as u64));
        // Random access from the middle of a later segment, and a fresh handle sees the same.
        let again = small_segments(dir.path());
        assert_eq!(again.read(33, 5).unwrap().iter().map(|d| d.event.id).collect::<Vec<_>>(), vec![33, 34, 35, 36, 37]);
        assert_eq!(again.end_offset().unwrap(), 50);
        assert!(again.read(50, 10).unwrap().is_empty());
    }

    #[test]
    fn a_torn_tail_after_the_durable_mark_is_invisible_to_readers_and_cut_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = small_segments(dir.path());
            log.append(&(0..10).map(event).collect::<Vec<_>>()).unwrap();
        }
        let last = small_segments(dir.path()).segments().unwrap().pop().unwrap();
        let good_len = std::fs::metadata(&last).unwrap().len();
        // A crash mid-write: half of a record's bytes after the last synced batch.
        let mut record = Vec::new();
        encode_record(10, 1, &event(10).to_bytes(), &mut record);
        let mut file = OpenOptions::new().append(true).open(&last).unwrap();
        file.write_all(&record[..record.len() / 2]).unwrap();
        drop(file);
        let log = small_segments(dir.path());
        assert_eq!(log.read(0, 100).unwrap().len(), 10, "readers stop before the torn record");
        let report = log.verify().unwrap();
        assert_eq!((report.records, report.corrupt_segments), (10, 0), "a torn tail is not corruption");
        assert!(report.segments.last().unwrap().problem.as_ref().is_some_and(|p| !p.corrupt && p.offset == 10));
        assert_eq!(log.append(&[event(10), event(11)]).unwrap(), 10);
        assert_eq!(log.recovered_bytes(), (record.len() / 2) as u64);
        assert!(std::fs::metadata(&last).unwrap().len() >= good_len);
        assert_eq!(ids(&small_segments(dir.path())), (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn mid_segment_corruption_is_an_error_naming_segment_and_byte_and_repair_tombstones_it() {
        let dir = tempfile::tempdir().unwrap();
        let segment = {
            let log = FileEventLog::open(dir.path()).unwrap();
            log.append(&(0..5).map(event).collect::<Vec<_>>()).unwrap();
            log.append(&(5..10).map(event).collect::<Vec<_>>()).unwrap();
            log.segments().unwrap().pop().unwrap()
        };
        // Flip one payload byte of record 3 (inside the first, long-synced batch).
        let record_len = |id: u64| (HEADER + event(id).to_bytes().len()) as u64;
        let third: u64 = (0..3).map(record_len).sum();
        let mut bytes = std::fs::read(&segment).unwrap();
        let before = bytes.len();
        bytes[third as usize + HEADER + 5] ^= 0x55;
        std::fs::write(&segment, &bytes).unwrap();

        let log = FileEventLog::open(dir.path()).unwrap();
        let err = log.read(0, 100).unwrap_err().to_string();
        assert!(err.contains(&format!("{}:{third}", segment.display())) && err.contains("checksum") && err.contains("repair"), "{err}");
        let err = log.append(&[event(10)]).unwrap_err().to_string();
        assert!(err.contains("durable position"), "the writer refuses too, cutting nothing: {err}");
        assert_eq!(std::fs::metadata(&segment).unwrap().len() as usize, before, "nothing was truncated");

        let report = log.verify().unwrap();
        assert_eq!(report.corrupt_segments, 1);
        let problem = report.segments[0].problem.clone().unwrap();
        assert_eq!((problem.byte, problem.offset, problem.corrupt), (third, 3, true));

        let repaired = log.repair(false).unwrap();
        assert_eq!(repaired.tombstoned, vec![3]);
        assert_eq!(repaired.lost_records, 0);
        assert_eq!(log.verify().unwrap().corrupt_segments, 0);
        // Offset 3 is now an undecodable record: a plain read names it, a consumer dead-letters it.
        assert!(log.read(0, 100).unwrap_err().to_string().contains("offset 3"));
        let mut consumer = log.consumer("g", "c").unwrap();
        let got: Vec<u64> = consumer.poll(100, Duration::ZERO).unwrap().iter().map(|d| d.event.id).collect();
        assert_eq!(got, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
        let dead = log.dead_letters(0, 10).unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].offset, 3);
        assert!(dead[0].payload.starts_with("#recforge repair"), "{:?}", dead[0].payload);
        assert_eq!(log.append(&[event(10)]).unwrap(), 10, "appends go on after the repair");
    }

    #[test]
    fn a_damaged_frame_is_cut_only_when_asked_and_the_loss_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let segment = {
            let log = FileEventLog::open(dir.path()).unwrap();
            log.append(&(0..6).map(event).collect::<Vec<_>>()).unwrap();
            log.segments().unwrap().pop().unwrap()
        };
        let second = (HEADER + event(0).to_bytes().len()) as usize;
        let mut bytes = std::fs::read(&segment).unwrap();
        bytes[second] ^= 0x40; // the length field: the frame no longer lines up
        std::fs::write(&segment, &bytes).unwrap();
        let log = FileEventLog::open(dir.path()).unwrap();
        let err = log.repair(false).unwrap_err().to_string();
        assert!(err.contains("losing 5 record(s)") && err.contains("--truncate"), "{err}");
        let outcome = log.repair(true).unwrap();
        assert_eq!((outcome.lost_records, outcome.tombstoned.len()), (5, 0));
        assert_eq!(ids(&log), vec![0]);
        assert_eq!(log.append(&[event(1)]).unwrap(), 1);
    }

    #[test]
    fn an_oversized_record_is_rejected_and_nothing_of_its_batch_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileEventLog::open(dir.path()).unwrap();
        log.append(&[event(0)]).unwrap();
        let batch = vec![event(1).to_bytes(), vec![b'x'; MAX_RECORD_BYTES + 1]];
        match log.append_raw(&batch) {
            Err(EventLogError::TooLarge { index, bytes, limit }) => assert_eq!((index, bytes, limit), (1, MAX_RECORD_BYTES + 1, MAX_RECORD_BYTES)),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(log.end_offset().unwrap(), 1);
        assert_eq!(log.append(&[event(1)]).unwrap(), 1);
    }

    #[test]
    fn retention_never_passes_a_groups_committed_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = small_segments(dir.path());
        log.append(&(0..40).map(event).collect::<Vec<_>>()).unwrap();
        let segments = log.segments().unwrap().len();
        assert!(segments > 4);
        let mut consumer = log.consumer("slow", "a").unwrap();
        let got = consumer.poll(12, Duration::ZERO).unwrap();
        consumer.commit(&got.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
        // Keep 1 byte: everything sealed could go, but "slow" has committed only 0..12.
        let outcome = log.trim(&Retention { bytes: Some(1), ..Retention::default() }).unwrap();
        assert_eq!(outcome.min_committed, Some(12));
        assert!(outcome.first_offset <= 12 && outcome.removed_segments > 0, "{outcome:?}");
        assert_eq!(outcome.removed_records, outcome.first_offset);
        // The group still gets every uncommitted event, and a new group starts at the oldest kept.
        let rest: Vec<u64> = consumer.poll(100, Duration::ZERO).unwrap().iter().map(|d| d.offset).collect();
        assert_eq!(rest, (12..40).collect::<Vec<_>>());
        let mut late = log.consumer("late", "b").unwrap();
        assert_eq!(late.poll(1, Duration::ZERO).unwrap()[0].offset, outcome.first_offset);
        drop(late);
        // "late" committed nothing: it now holds retention at the oldest kept offset.
        let again = log.trim(&Retention { bytes: Some(1), ..Retention::default() }).unwrap();
        assert_eq!(again.removed_records, 0);
        let stats = log.stats().unwrap();
        assert_eq!((stats.first_offset, stats.end_offset, stats.records), (outcome.first_offset, 40, 40 - outcome.first_offset));
        let slow = stats.groups.iter().find(|g| g.group == "slow").unwrap();
        assert_eq!((slow.committed, slow.lag), (12, 28));
        // Retention in the URL trims as segments fill.
        let dir2 = tempfile::tempdir().unwrap();
        let auto = FileEventLog::open_url("t", &format!("{}?segment_bytes=600&retain_bytes=1500", dir2.path().display())).unwrap();
        auto.append(&(0..60).map(event).collect::<Vec<_>>()).unwrap();
        auto.append(&[event(60)]).unwrap();
        let s = auto.stats().unwrap();
        assert!(s.first_offset > 0 && s.bytes <= 1500 + 600, "{s:?}");
    }

    #[test]
    fn undecodable_records_go_to_the_dead_letter_log_and_are_committed() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileEventLog::open(dir.path()).unwrap();
        log.append(&[event(0), event(1)]).unwrap();
        log.append_raw(&[b"{not json".to_vec(), br#"{"v":99,"id":7,"ts":0,"label":1,"features":{}}"#.to_vec()]).unwrap();
        log.append(&[event(4)]).unwrap();
        {
            let mut consumer = log.consumer("labelers", "me").unwrap();
            let got = consumer.poll(100, Duration::ZERO).unwrap();
            assert_eq!(got.iter().map(|d| d.offset).collect::<Vec<_>>(), vec![0, 1, 4]);
            assert_eq!(consumer.dead_lettered(), 2);
            consumer.commit(&[0, 1, 4]).unwrap();
        }
        let dead = log.dead_letters(0, 10).unwrap();
        assert_eq!(dead.iter().map(|d| d.offset).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!((dead[0].group.as_str(), dead[0].consumer.as_str(), dead[0].payload.as_str()), ("labelers", "me", "{not json"));
        assert!(dead[0].reason.contains("not an event"), "{}", dead[0].reason);
        assert!(dead[1].reason.contains("version 99"), "{}", dead[1].reason);
        let stats = log.stats().unwrap();
        assert_eq!(stats.dead_letters, 2);
        assert_eq!((stats.groups[0].committed, stats.groups[0].lag), (5, 0));
    }

    #[test]
    fn committed_offsets_survive_a_restart_and_uncommitted_events_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = small_segments(dir.path());
        log.append(&(0..30).map(event).collect::<Vec<_>>()).unwrap();
        {
            let mut consumer = log.consumer("labelers", "a").unwrap();
            let first = consumer.poll(10, Duration::ZERO).unwrap();
            assert_eq!(first.len(), 10);
            // A second process (here: a second handle) cannot join the same file group.
            assert!(matches!(small_segments(dir.path()).consumer("labelers", "b"), Err(EventLogError::Busy(_))));
            consumer.commit(&first.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
            let second = consumer.poll(10, Duration::ZERO).unwrap();
            assert_eq!(second[0].offset, 10);
            // Out-of-order commit of the tail of the batch does not move the group past 10.
            consumer.commit(&[15, 16]).unwrap();
        } // "crash": the consumer goes away without committing 10..15.
        let mut consumer = small_segments(dir.path()).consumer("labelers", "a").unwrap();
        let again = consumer.poll(100, Duration::ZERO).unwrap();
        assert_eq!(again.first().map(|d| d.offset), Some(10));
        assert_eq!(again.len(), 20);
        assert!(consumer.poll(10, Duration::from_millis(20)).unwrap().is_empty());
        // Another group starts from 0.
        assert_eq!(log.consumer("students", "x").unwrap().poll(5, Duration::ZERO).unwrap()[0].offset, 0);
        assert!(log.consumer("../evil", "x").is_err());
    }
}
