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
mod tests;
