//! The embedded event log: `DIR/segments/<first offset>.log` files of records
//! `[len u32][crc32 u32][offset u64][appended_ms u64][payload]` (little endian; the CRC
//! covers offset, time and payload), and `DIR/groups/<group>.offset` with each group's
//! committed offset.
//!
//! Durability: an append batch is written and `fdatasync`ed before `append` returns; a new
//! segment is created (and its folder synced) once the current one passes the size limit.
//! Committed offsets are written to a temporary file, synced, renamed over the old one and
//! the folder synced, so a crash leaves the old or the new offset, never a mix. After a crash
//! the last segment may end in a torn record: readers stop before it and the next writer
//! truncates it (counted in [`FileEventLog::recovered_bytes`]).
//!
//! Concurrency: `DIR/writer.lock` admits one appending process and `groups/<group>.lock` one
//! consuming process per group (advisory `flock`s, released by the OS when a process dies);
//! any number of processes may `read`.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Consumer, Delivery, Event, EventLog, EventLogError, Result, check_group_name, now_ms};

/// Segment size after which the writer starts a new segment (override with
/// `?segment_bytes=N` in the URL).
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Bytes before the payload: length, CRC, offset, append time.
const HEADER: usize = 24;
/// A length above this is treated as corruption rather than allocated.
const MAX_RECORD: usize = 64 << 20;
/// How often an idle consumer looks for new records.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// The file-backed event log.
pub struct FileEventLog {
    url: String,
    inner: Arc<Inner>,
    cursor: Mutex<Cursor>,
}

struct Inner {
    dir: PathBuf,
    segment_bytes: u64,
    writer: Mutex<Option<Writer>>,
    recovered_bytes: Mutex<u64>,
}

struct Writer {
    _lock: File,
    file: File,
    size: u64,
    next: u64,
}

/// Where a sequential reader stopped: the segment, the byte position and the offset there.
#[derive(Default)]
struct Cursor {
    base: u64,
    pos: u64,
    next: u64,
    valid: bool,
}

enum Step {
    Record { offset: u64, appended_ms: u64, payload: Vec<u8> },
    End,
    Torn(String),
}

impl FileEventLog {
    /// Opens (creating) the log in `dir` with the default segment size.
    pub fn open(dir: &Path) -> Result<FileEventLog> {
        Self::with_segment_bytes(dir, DEFAULT_SEGMENT_BYTES, &format!("file://{}", dir.display()))
    }

    /// Opens `file://DIR[?segment_bytes=N]` (`rest` is what follows `file://`).
    pub fn open_url(url: &str, rest: &str) -> Result<FileEventLog> {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut segment_bytes = DEFAULT_SEGMENT_BYTES;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("segment_bytes", v)) => {
                    segment_bytes = v.parse().map_err(|_| EventLogError::BadUrl { url: url.into(), reason: format!("segment_bytes={v:?} is not a number") })?;
                }
                _ => return Err(EventLogError::BadUrl { url: url.into(), reason: format!("unknown parameter {pair:?} (file logs take segment_bytes=N)") }),
            }
        }
        if path.is_empty() {
            return Err(EventLogError::BadUrl { url: url.into(), reason: "no folder (expected file://DIR)".into() });
        }
        Self::with_segment_bytes(Path::new(path), segment_bytes.max(1), url)
    }

    fn with_segment_bytes(dir: &Path, segment_bytes: u64, url: &str) -> Result<FileEventLog> {
        for sub in ["segments", "groups"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| EventLogError::Io { path, source })?;
        }
        let inner = Inner { dir: dir.to_path_buf(), segment_bytes, writer: Mutex::new(None), recovered_bytes: Mutex::new(0) };
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
}

impl EventLog for FileEventLog {
    fn url(&self) -> &str {
        &self.url
    }

    fn append(&self, events: &[Event]) -> Result<u64> {
        self.inner.append(events)
    }

    fn read(&self, from: u64, max: usize) -> Result<Vec<Delivery>> {
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

    fn consumer(&self, group: &str, _consumer: &str) -> Result<Box<dyn Consumer>> {
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
        Ok(Box::new(FileConsumer {
            inner: self.inner.clone(),
            group: group.to_string(),
            _lock: lock,
            committed,
            next: committed,
            pending: BTreeSet::new(),
            cursor: Cursor::default(),
        }))
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

fn encode_record(offset: u64, appended_ms: u64, payload: &[u8], out: &mut Vec<u8>) {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&offset.to_le_bytes());
    hasher.update(&appended_ms.to_le_bytes());
    hasher.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&appended_ms.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads as many bytes as are there, up to `buf.len()`.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn next_record(reader: &mut impl Read) -> std::io::Result<Step> {
    let mut header = [0u8; HEADER];
    match read_full(reader, &mut header)? {
        0 => return Ok(Step::End),
        n if n < HEADER => return Ok(Step::Torn(format!("a {n}-byte partial header"))),
        _ => {}
    }
    let word = |range: std::ops::Range<usize>| header[range].iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let len = word(0..4) as usize;
    let crc = word(4..8) as u32;
    let (offset, appended_ms) = (word(8..16), word(16..24));
    if len > MAX_RECORD {
        return Ok(Step::Torn(format!("a length of {len} bytes")));
    }
    let mut payload = vec![0u8; len];
    if read_full(reader, &mut payload)? < len {
        return Ok(Step::Torn("a partial payload".into()));
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..24]);
    hasher.update(&payload);
    if hasher.finalize() != crc {
        return Ok(Step::Torn("a checksum mismatch".into()));
    }
    Ok(Step::Record { offset, appended_ms, payload })
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

    /// Opens the writer: takes the lock, finds the end of the last segment, cuts a torn tail.
    fn open_writer(&self) -> Result<Writer> {
        let lock = lock_file(&self.dir.join("writer.lock"), || {
            format!("{}: another process is appending to this event log (one writer at a time)", self.dir.display())
        })?;
        let bases = self.segment_bases()?;
        let Some(&base) = bases.last() else {
            let path = self.segment_path(0);
            let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
            sync_dir(&self.dir.join("segments"))?;
            return Ok(Writer { _lock: lock, file, size: 0, next: 0 });
        };
        let path = self.segment_path(base);
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
                Step::Torn(what) => {
                    let size = file.metadata().map_err(io(&path))?.len();
                    tracing_free_warn(&format!("{}: cutting {} bytes of torn tail ({what}) at byte {pos}", path.display(), size - pos));
                    file.set_len(pos).map_err(io(&path))?;
                    file.sync_all().map_err(io(&path))?;
                    if let Ok(mut b) = self.recovered_bytes.lock() {
                        *b += size - pos;
                    }
                    break;
                }
            }
        }
        Ok(Writer { _lock: lock, file, size: pos, next })
    }

    fn append(&self, events: &[Event]) -> Result<u64> {
        let mut guard = self.writer.lock().map_err(|_| poisoned())?;
        if guard.is_none() {
            *guard = Some(self.open_writer()?);
        }
        let Some(writer) = guard.as_mut() else { return Err(poisoned()) };
        let first = writer.next;
        let result = self.write_batch(writer, events);
        if result.is_err() {
            // Reopen (and recover) on the next call rather than trust the in-memory state.
            *guard = None;
        }
        result.map(|()| first)
    }

    fn write_batch(&self, writer: &mut Writer, events: &[Event]) -> Result<()> {
        let now = now_ms();
        let mut buffer = Vec::new();
        for event in events {
            if writer.size + buffer.len() as u64 >= self.segment_bytes && writer.size + buffer.len() as u64 > 0 {
                self.flush(writer, &mut buffer)?;
                let path = self.segment_path(writer.next);
                writer.file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
                writer.size = 0;
                sync_dir(&self.dir.join("segments"))?;
            }
            encode_record(writer.next, now, &event.to_bytes(), &mut buffer);
            writer.next += 1;
        }
        self.flush(writer, &mut buffer)
    }

    /// Writes `buffer` to the current segment and syncs it.
    fn flush(&self, writer: &mut Writer, buffer: &mut Vec<u8>) -> Result<()> {
        let path = self.dir.join("segments");
        writer.file.write_all(buffer).map_err(io(&path))?;
        writer.file.sync_data().map_err(io(&path))?;
        writer.size += buffer.len() as u64;
        buffer.clear();
        Ok(())
    }

    fn read(&self, cursor: &mut Cursor, from: u64, max: usize) -> Result<Vec<Delivery>> {
        let mut out = Vec::new();
        if !(cursor.valid && cursor.next == from) {
            let bases = self.segment_bases()?;
            let Some(&base) = bases.iter().rev().find(|&&b| b <= from) else { return Ok(out) };
            *cursor = Cursor { base, pos: 0, next: base, valid: true };
        }
        let mut retried = false;
        while out.len() < max {
            let path = self.segment_path(cursor.base);
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
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
                        let location = || format!("{}:{}", path.display(), cursor.pos);
                        if offset != cursor.next {
                            return Err(EventLogError::Corrupt { location: location(), message: format!("offset {offset} where {} was expected", cursor.next) });
                        }
                        if offset >= from {
                            let event = Event::from_bytes(&payload, &location())?;
                            out.push(Delivery { offset, appended_ms, event });
                        }
                        cursor.pos += (HEADER + payload.len()) as u64;
                        cursor.next += 1;
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
}

/// The data crate does not log; recovery is rare and worth a line on stderr.
fn tracing_free_warn(message: &str) {
    eprintln!("warning: {message}");
}

struct FileConsumer {
    inner: Arc<Inner>,
    group: String,
    _lock: File,
    committed: u64,
    /// The next offset to deliver.
    next: u64,
    /// Delivered, not yet committed.
    pending: BTreeSet<u64>,
    cursor: Cursor,
}

impl Consumer for FileConsumer {
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event_log::{EVENT_FORMAT_VERSION, FeatureValue};

    fn event(id: u64) -> Event {
        let mut features = BTreeMap::new();
        features.insert("user".to_string(), FeatureValue::Tokens(vec![format!("u{}", id % 7)]));
        features.insert("price".to_string(), FeatureValue::Number(id as f64 * 0.5));
        Event { v: EVENT_FORMAT_VERSION, id, ts: 1000 + id as i64, label: (id % 2) as f32, features }
    }

    fn small_segments(dir: &Path) -> FileEventLog {
        FileEventLog::open_url("test", &format!("{}?segment_bytes=600", dir.display())).unwrap()
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
    fn a_torn_tail_is_invisible_to_readers_and_cut_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = small_segments(dir.path());
            log.append(&(0..10).map(event).collect::<Vec<_>>()).unwrap();
        }
        let last = small_segments(dir.path()).segments().unwrap().pop().unwrap();
        let good_len = std::fs::metadata(&last).unwrap().len();
        // A crash mid-write: half of a record's bytes, then a record with a bad checksum.
        let mut record = Vec::new();
        encode_record(10, 1, &event(10).to_bytes(), &mut record);
        let mut file = OpenOptions::new().append(true).open(&last).unwrap();
        file.write_all(&record[..record.len() / 2]).unwrap();
        drop(file);
        let log = small_segments(dir.path());
        assert_eq!(log.read(0, 100).unwrap().len(), 10, "readers stop before the torn record");
        assert_eq!(log.append(&[event(10), event(11)]).unwrap(), 10);
        assert_eq!(log.recovered_bytes(), (record.len() / 2) as u64);
        assert!(std::fs::metadata(&last).unwrap().len() >= good_len);
        let ids: Vec<u64> = small_segments(dir.path()).read(0, 100).unwrap().iter().map(|d| d.event.id).collect();
        assert_eq!(ids, (0..12).collect::<Vec<_>>());

        // A flipped byte in the last record's payload is caught by the checksum.
        let last = log.segments().unwrap().pop().unwrap();
        drop(log); // release the writer lock, as a crashed process would
        let mut bytes = std::fs::read(&last).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0xff;
        std::fs::write(&last, &bytes).unwrap();
        let reopened = small_segments(dir.path());
        assert_eq!(reopened.read(0, 100).unwrap().len(), 11);
        assert_eq!(reopened.append(&[event(99)]).unwrap(), 11, "the corrupt record is cut and its offset reused");
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
