//! The default store: state in memory, made crash-safe by a write-ahead log and snapshots.
//!
//! Layout of DIR: `LOCK` (held with an exclusive file lock while a server uses the folder, so a
//! second server on the same folder fails at start), `snapshot.json` (edge sums, live issued
//! requests, applied feedback keys, and the generation of the WAL that continues it),
//! `snapshot.prev.json` (the snapshot before, kept as a fallback with its WAL) and
//! `wal-<generation>.log` (one JSON record per line).
//!
//! - Feedback is acknowledged only after an fsync covers its record. Concurrent feedback is
//!   group-committed ([`super::group_commit`]): the `wal-sync` thread fsyncs for every record
//!   appended so far while the others wait (a request handler without holding a thread), so
//!   the number of fsyncs grows with the batches, not the requests. An update is visible to
//!   recommendations as soon as it is appended (before its fsync); only the acknowledgement
//!   waits.
//! - Request records are appended without their own fsync (a later fsync covers them).
//! - A failed append is truncated back to the last complete record, so the WAL never holds a
//!   broken line in the middle.
//! - A snapshot is taken by the periodic upkeep ([`BanditStore::maintain`], never on a request)
//!   once `snapshot_every` feedback records, `snapshot_bytes` of WAL or `snapshot_age_s` have
//!   passed. Under the state lock it only rotates to the next WAL generation and takes a view
//!   of the state in O(clusters): each cluster's edge map is a shared `Arc`, and the issued
//!   requests and applied keys live in persistent maps (`imbl`, structure-sharing), so taking
//!   the view copies no record. The view is streamed to a temp file, fsynced and renamed (the
//!   old snapshot kept as `snapshot.prev.json`) after the lock is released; requests that
//!   change the state meanwhile copy only the nodes they touch. A snapshot of 500k live
//!   requests used to hold the lock for the whole serialisation (hundreds of ms of wrk's p99).
//!   A failed snapshot is logged, counted and retried later: the records it would have
//!   compacted stay durable in the WALs, which a restart replays.
//! - Issued requests expire on a timer ([`BanditStore::maintain`]) and are capped at
//!   `max_live_requests` (oldest evicted first, counted).
//! - At start the newest readable snapshot is loaded and every WAL from its generation on is
//!   replayed, dropping a torn last line; a corrupt `snapshot.json` falls back to
//!   `snapshot.prev.json` and is set aside as `snapshot.json.corrupt`.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use recforge_bandit::{EdgeMap, EdgeStats};
use rustc_hash::FxHashMap;
use serde::ser::{Error as _, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

use super::group_commit::{Durability, GroupCommit};
use super::{BanditStore, Delta, IssuedRequest, StoreError, StoreStats, check_finite, check_finite_request, now_ms};

/// When the file store snapshots and how many issued requests it keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileOptions {
    /// Snapshot after this many feedback records.
    pub snapshot_every: usize,
    /// Snapshot when the WAL grows past this many bytes.
    pub snapshot_bytes: u64,
    /// Snapshot when the WAL holds records older than this (checked by `maintain`).
    pub snapshot_age_s: u64,
    /// Most issued requests remembered; the oldest are evicted past it.
    pub max_live_requests: usize,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions { snapshot_every: 100_000, snapshot_bytes: 64 << 20, snapshot_age_s: 3600, max_live_requests: 500_000 }
    }
}

/// How long to wait before retrying a failed snapshot.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
enum Record {
    Request { id: String, request: IssuedRequest },
    Feedback { key: String, expires_ms: u64, deltas: Vec<(u32, u32, f64, f64)> },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Snapshot {
    /// The WAL generation that continues this snapshot.
    wal_generation: u64,
    edges: Vec<(u32, u32, f64, f64)>,
    requests: HashMap<String, IssuedRequest>,
    applied: HashMap<String, u64>,
}

/// One cluster's edges (item → sums), shared with a snapshot being written until a writer
/// changes it (`Arc::make_mut` copies it then, once).
type ClusterEdges = Arc<FxHashMap<u32, EdgeStats>>;
/// Issued requests by id: a persistent map, so a snapshot's view of it is an O(1) clone.
type RequestMap = imbl::HashMap<Arc<str>, Arc<IssuedRequest>>;
/// Applied feedback keys and when they may be forgotten (persistent, as [`RequestMap`]).
type AppliedMap = imbl::HashMap<Arc<str>, u64>;

/// The state a snapshot writes, taken under the state lock without copying a record and
/// serialised after it is released, field for field as [`Snapshot`].
struct SnapshotView {
    wal_generation: u64,
    edges: Vec<(u32, ClusterEdges)>,
    requests: RequestMap,
    applied: AppliedMap,
}

impl Serialize for SnapshotView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Snapshot", 4)?;
        out.serialize_field("wal_generation", &self.wal_generation)?;
        out.serialize_field("edges", &EdgeRows(&self.edges))?;
        out.serialize_field("requests", &RequestEntries(&self.requests))?;
        out.serialize_field("applied", &AppliedEntries(&self.applied))?;
        out.end()
    }
}

/// The edges as `[cluster, item, sum_w2, sum_wr]` rows; a non-finite sum fails the snapshot
/// (JSON has no NaN: it would come back as `null` and fail the next start).
struct EdgeRows<'a>(&'a [(u32, ClusterEdges)]);

impl Serialize for EdgeRows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some((cluster, item)) = self.0.iter().find_map(|(c, items)| items.iter().find(|(_, s)| !(s.sum_w2.is_finite() && s.sum_wr.is_finite())).map(|(&i, _)| (*c, i))) {
            return Err(S::Error::custom(format!("edge (cluster {cluster}, item {item}) has a non-finite sum")));
        }
        serializer.collect_seq(self.0.iter().flat_map(|(c, items)| items.iter().map(move |(&i, s)| (*c, i, s.sum_w2, s.sum_wr))))
    }
}

/// The issued requests as a JSON object.
struct RequestEntries<'a>(&'a RequestMap);

impl Serialize for RequestEntries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(id, request)| (&**id, &**request)))
    }
}

/// The applied keys as a JSON object.
struct AppliedEntries<'a>(&'a AppliedMap);

impl Serialize for AppliedEntries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(key, expires)| (&**key, expires)))
    }
}

struct Inner {
    /// cluster → item → sums.
    edges: FxHashMap<u32, ClusterEdges>,
    requests: RequestMap,
    /// Request ids in issue order (≈ expiry order), for expiry and eviction.
    request_order: VecDeque<(u64, Arc<str>)>,
    applied: AppliedMap,
    applied_order: VecDeque<(u64, Arc<str>)>,
    wal: Arc<File>,
    /// Bytes of complete records in the current WAL.
    wal_len: u64,
    generation: u64,
    /// The WAL generation `snapshot.json` continues into (WALs before it are not needed by it).
    snapshot_generation: u64,
    /// Records appended since open (the group-commit sequence).
    written: u64,
    feedback_since_snapshot: usize,
    /// When the current WAL got its first record.
    wal_since: Option<Instant>,
    /// After a failed snapshot: not before this instant.
    snapshot_not_before: Option<Instant>,
    /// A failed append could not be truncated: the WAL must be rotated before the next write.
    wal_broken: bool,
    evicted: u64,
    snapshot_failures: u64,
}

pub struct FileStore {
    url: String,
    dir: PathBuf,
    options: FileOptions,
    inner: Mutex<Inner>,
    /// The fsyncs that make appended records durable.
    commit: GroupCommit,
    /// Held while a snapshot is being taken (one at a time).
    snapshot_lock: Mutex<()>,
    /// The exclusive lock on DIR/LOCK, held while the store lives.
    _lock: File,
}

fn wal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("wal-{generation}.log"))
}

fn flatten(deltas: &[Delta]) -> Vec<(u32, u32, f64, f64)> {
    deltas.iter().map(|&((c, i), s)| (c, i, s.sum_w2, s.sum_wr)).collect()
}

impl Inner {
    fn add(&mut self, deltas: impl IntoIterator<Item = (u32, u32, f64, f64)>) {
        for (cluster, item, w2, wr) in deltas {
            let e = Arc::make_mut(self.edges.entry(cluster).or_default()).entry(item).or_default();
            e.sum_w2 += w2;
            e.sum_wr += wr;
        }
    }

    fn edge(&self, cluster: u32, item: u32) -> EdgeStats {
        self.edges.get(&cluster).and_then(|m| m.get(&item)).copied().unwrap_or_default()
    }

    fn remember_request(&mut self, id: Arc<str>, request: IssuedRequest, cap: usize) {
        self.request_order.push_back((request.expires_ms, id.clone()));
        self.requests.insert(id, Arc::new(request));
        while self.requests.len() > cap {
            let Some((_, oldest)) = self.request_order.pop_front() else { break };
            if self.requests.remove(&oldest).is_some() {
                self.evicted += 1;
            }
        }
    }

    fn remember_applied(&mut self, key: Arc<str>, expires_ms: u64) -> bool {
        if self.applied.contains_key(&key) {
            return false;
        }
        self.applied_order.push_back((expires_ms, key.clone()));
        self.applied.insert(key, expires_ms);
        true
    }

    fn replay(&mut self, record: Record, cap: usize) {
        match record {
            Record::Request { id, request } => self.remember_request(id.into(), request, cap),
            Record::Feedback { key, expires_ms, deltas } => {
                if self.remember_applied(key.into(), expires_ms) {
                    self.add(deltas);
                }
                self.feedback_since_snapshot += 1;
            }
        }
    }

    /// Forgets requests and applied keys that expired before `now`.
    fn purge(&mut self, now: u64) {
        while self.request_order.front().is_some_and(|(expires, _)| *expires < now) {
            if let Some((_, id)) = self.request_order.pop_front() {
                self.requests.remove(&id);
            }
        }
        while self.applied_order.front().is_some_and(|(expires, _)| *expires < now) {
            if let Some((_, key)) = self.applied_order.pop_front() {
                self.applied.remove(&key);
            }
        }
        // Entries out of order (a shorter TTL after a restart) are caught by a full pass now
        // and then: when the queues hold far more than the maps.
        if self.request_order.len() > 2 * self.requests.len() + 1024 {
            self.request_order.retain(|(_, id)| self.requests.contains_key(id));
        }
    }
}

/// Reads a snapshot file: `Ok(None)` when absent.
fn read_snapshot(path: &Path, url: &str) -> Result<Option<Snapshot>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| StoreError::Corrupt { url: url.to_string(), message: format!("{}: {e}", path.display()) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io { url: url.to_string(), message: format!("reading {}: {e}", path.display()) }),
    }
}

/// The WAL generations present in `dir`, ascending.
fn wal_generations(dir: &Path) -> Vec<u64> {
    let mut generations: Vec<u64> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("wal-")?.strip_suffix(".log")?.parse().ok())).collect())
        .unwrap_or_default();
    generations.sort_unstable();
    generations
}

impl FileStore {
    /// Opens (creating) the store in `dir` with default options but `snapshot_every`.
    pub fn open(dir: &Path, snapshot_every: usize) -> Result<FileStore, StoreError> {
        Self::open_with(dir, FileOptions { snapshot_every, ..FileOptions::default() })
    }

    /// Opens (creating) the store in `dir`: takes the folder's lock, loads the newest readable
    /// snapshot and replays the WALs that continue it.
    pub fn open_with(dir: &Path, options: FileOptions) -> Result<FileStore, StoreError> {
        let url = format!("file://{}", dir.display());
        let io = |what: &str, e: std::io::Error| StoreError::Io { url: url.clone(), message: format!("{what}: {e}") };
        std::fs::create_dir_all(dir).map_err(|e| io(&format!("creating {}", dir.display()), e))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| io(&format!("opening {}", lock_path.display()), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Locked { url: url.clone(), path: lock_path.display().to_string() }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&format!("locking {}", lock_path.display()), e)),
        }
        let current = dir.join("snapshot.json");
        let previous = dir.join("snapshot.prev.json");
        let snapshot = match read_snapshot(&current, &url) {
            Ok(Some(s)) => s,
            // A crash between the two renames of a snapshot leaves only the previous one.
            Ok(None) => read_snapshot(&previous, &url)?.unwrap_or_default(),
            Err(StoreError::Corrupt { message, .. }) => match read_snapshot(&previous, &url)? {
                Some(prev) => {
                    tracing::warn!("{message}; falling back to {} and its WALs", previous.display());
                    let _ = std::fs::rename(&current, dir.join("snapshot.json.corrupt"));
                    prev
                }
                None => return Err(StoreError::Corrupt { url: url.clone(), message }),
            },
            Err(e) => return Err(e),
        };
        let cap = options.max_live_requests.max(1);
        let first = snapshot.wal_generation;
        let mut generations: Vec<u64> = wal_generations(dir).into_iter().filter(|&g| g >= first).collect();
        if generations.is_empty() {
            generations.push(first);
        }
        let last = *generations.last().unwrap_or(&first);
        let path = wal_path(dir, last);
        let wal = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(|e| io(&format!("opening {}", path.display()), e))?;
        let mut inner = Inner {
            edges: FxHashMap::default(),
            requests: RequestMap::new(),
            request_order: VecDeque::new(),
            applied: AppliedMap::new(),
            applied_order: VecDeque::new(),
            wal: Arc::new(wal),
            wal_len: 0,
            generation: last,
            snapshot_generation: first,
            written: 0,
            feedback_since_snapshot: 0,
            wal_since: None,
            snapshot_not_before: None,
            wal_broken: false,
            evicted: 0,
            snapshot_failures: 0,
        };
        inner.add(snapshot.edges);
        let mut requests: Vec<(String, IssuedRequest)> = snapshot.requests.into_iter().collect();
        requests.sort_by_key(|(_, r)| r.expires_ms);
        for (id, request) in requests {
            inner.remember_request(id.into(), request, cap);
        }
        let mut applied: Vec<(String, u64)> = snapshot.applied.into_iter().collect();
        applied.sort_by_key(|a| a.1);
        for (key, expires) in applied {
            inner.remember_applied(key.into(), expires);
        }
        for &generation in &generations {
            let good_len = Self::replay_wal(&mut inner, &wal_path(dir, generation), &url, cap)?;
            if generation == last {
                // A torn last line (a crash mid-write) is cut off.
                inner.wal.set_len(good_len).map_err(|e| io("truncating a torn WAL tail", e))?;
                inner.wal_len = good_len;
                if good_len > 0 {
                    inner.wal_since = Some(Instant::now());
                }
            }
        }
        inner.purge(now_ms());
        // Generations before the fallback snapshot's are superseded.
        let keep_from = read_snapshot(&previous, &url).ok().flatten().map_or(first, |p| p.wal_generation.min(first));
        for g in wal_generations(dir) {
            if g < keep_from {
                let _ = std::fs::remove_file(wal_path(dir, g));
            }
        }
        let commit = GroupCommit::start(inner.written).map_err(|e| io("starting the WAL sync thread", e))?;
        Ok(FileStore { url, dir: dir.to_path_buf(), options, inner: Mutex::new(inner), commit, snapshot_lock: Mutex::new(()), _lock: lock })
    }

    /// Replays one WAL file; returns the length of its complete records.
    fn replay_wal(inner: &mut Inner, path: &Path, url: &str, cap: usize) -> Result<u64, StoreError> {
        let io = |e: std::io::Error| StoreError::Io { url: url.to_string(), message: format!("reading {}: {e}", path.display()) };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(e)),
        };
        let mut reader = BufReader::new(file);
        let (mut good_len, mut number, mut line) = (0u64, 0usize, String::new());
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(io)?;
            if read == 0 || !line.ends_with('\n') {
                break;
            }
            number += 1;
            let record: Record = serde_json::from_str(line.trim_end()).map_err(|e| StoreError::Corrupt { url: url.to_string(), message: format!("{}:{number}: {e}", path.display()) })?;
            inner.replay(record, cap);
            good_len += read as u64;
        }
        Ok(good_len)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| StoreError::Io { url: self.url.clone(), message: "a writer panicked while holding the state".into() })
    }

    fn io(&self, what: &str, e: std::io::Error) -> StoreError {
        StoreError::Io { url: self.url.clone(), message: format!("{what}: {e}") }
    }

    /// Appends one record; returns its sequence number. On failure the WAL is cut back to its
    /// last complete record.
    fn append(&self, inner: &mut Inner, record: &Record) -> Result<u64, StoreError> {
        if inner.wal_broken {
            self.rotate(inner).map_err(|e| StoreError::Io { url: self.url.clone(), message: format!("the WAL could not be repaired after a failed write: {e}") })?;
        }
        let mut line = serde_json::to_vec(record).map_err(|e| StoreError::Io { url: self.url.clone(), message: e.to_string() })?;
        line.push(b'\n');
        if let Err(e) = (&*inner.wal).write_all(&line) {
            if inner.wal.set_len(inner.wal_len).is_err() {
                inner.wal_broken = true;
            }
            return Err(self.io("appending to the WAL", e));
        }
        inner.wal_len += line.len() as u64;
        inner.wal_since.get_or_insert_with(Instant::now);
        inner.written += 1;
        Ok(inner.written)
    }

    /// Blocks until a group fsync (or a rotation) covers everything appended so far.
    fn sync_all_written(&self) -> Result<(), StoreError> {
        let seq = {
            let inner = self.lock()?;
            self.commit.request(inner.written, &inner.wal);
            inner.written
        };
        self.commit.wait_blocking(seq).map_err(|message| StoreError::Io { url: self.url.clone(), message })
    }

    fn snapshot_due(&self, inner: &Inner) -> bool {
        if inner.snapshot_not_before.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        inner.feedback_since_snapshot >= self.options.snapshot_every.max(1)
            || inner.wal_len >= self.options.snapshot_bytes
            || inner.wal_since.is_some_and(|t| t.elapsed() >= Duration::from_secs(self.options.snapshot_age_s))
    }

    /// Snapshots when due; a failure is logged, counted and retried later, never returned:
    /// the records it would have compacted are durable in the WALs. The state lock is held
    /// only to rotate the WAL and take a [`SnapshotView`]; the file is written after.
    fn snapshot_if_due(&self) -> Result<(), StoreError> {
        // One snapshot at a time; a tick that finds one running skips.
        let Ok(_snapshotting) = self.snapshot_lock.try_lock() else { return Ok(()) };
        if !self.snapshot_due(&*self.lock()?) {
            return Ok(());
        }
        // The group fsync of what is appended so far, outside the state lock: the rotation
        // below then fsyncs only the records that arrive in between.
        self.sync_all_written()?;
        let started = Instant::now();
        let (view, captured_feedback, previous) = {
            let mut inner = self.lock()?;
            inner.purge(now_ms());
            // The next WAL exists before any snapshot names it. From here a restart finds the
            // current snapshot and replays every WAL up to the new one; the snapshot only
            // shortens that.
            let next = match self.rotate(&mut inner) {
                Ok(next) => next,
                Err(e) => {
                    self.snapshot_failed(&mut inner, &e);
                    return Ok(());
                }
            };
            let view = SnapshotView {
                wal_generation: next,
                edges: inner.edges.iter().map(|(&cluster, items)| (cluster, items.clone())).collect(),
                requests: inner.requests.clone(),
                applied: inner.applied.clone(),
            };
            (view, inner.feedback_since_snapshot, inner.snapshot_generation)
        };
        let locked = started.elapsed();
        let (generation, requests) = (view.wal_generation, view.requests.len());
        let written = self.write_snapshot(view, previous);
        let mut inner = self.lock()?;
        match written {
            Ok(()) => {
                inner.snapshot_generation = generation;
                inner.feedback_since_snapshot = inner.feedback_since_snapshot.saturating_sub(captured_feedback);
                inner.snapshot_not_before = None;
                tracing::info!("snapshot of {requests} live requests: {:.2} ms under the state lock, {:.0} ms to write it and make it durable", locked.as_secs_f64() * 1e3, (started.elapsed() - locked).as_secs_f64() * 1e3);
            }
            Err(e) => self.snapshot_failed(&mut inner, &e),
        }
        Ok(())
    }

    fn snapshot_failed(&self, inner: &mut Inner, error: &StoreError) {
        inner.snapshot_failures += 1;
        inner.snapshot_not_before = Some(Instant::now() + SNAPSHOT_RETRY);
        tracing::warn!("snapshot failed (updates stay in the WAL; retrying in {} s): {error}", SNAPSHOT_RETRY.as_secs());
    }

    /// Makes everything appended so far durable and continues in the next WAL generation (a
    /// torn tail left in the retired one is skipped by replay, as at the end of any WAL).
    fn rotate(&self, inner: &mut Inner) -> Result<u64, StoreError> {
        let next = inner.generation + 1;
        let wal = OpenOptions::new().create(true).read(true).append(true).open(wal_path(&self.dir, next)).map_err(|e| self.io("opening the next WAL", e))?;
        // Records waiting for a group fsync are in the WAL being retired: cover them now.
        inner.wal.sync_data().map_err(|e| self.io("fsync of the WAL", e))?;
        self.commit.mark_synced(inner.written);
        inner.wal = Arc::new(wal);
        inner.wal_len = 0;
        inner.wal_since = None;
        inner.wal_broken = false;
        inner.generation = next;
        Ok(next)
    }

    /// Without the state lock: streams the view into the temp file and makes it durable (fsync,
    /// the current snapshot kept as `snapshot.prev.json`, rename, folder fsync), then deletes
    /// the WALs the fallback no longer needs: those before `previous`, the generation of the
    /// snapshot being replaced.
    fn write_snapshot(&self, view: SnapshotView, previous: u64) -> Result<(), StoreError> {
        let tmp = self.dir.join("snapshot.json.tmp");
        let written = File::create(&tmp).and_then(|file| {
            let mut writer = std::io::BufWriter::new(file);
            serde_json::to_writer(&mut writer, &view)?;
            drop(view); // writers stop copying shared nodes as soon as possible
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()
        });
        if let Err(e) = written {
            // A half-written temp file would only take space (a full disk is a likely cause).
            let _ = std::fs::remove_file(&tmp);
            return Err(self.io("writing the snapshot", e));
        }
        let current = self.dir.join("snapshot.json");
        if current.exists() {
            std::fs::rename(&current, self.dir.join("snapshot.prev.json")).map_err(|e| self.io("keeping the previous snapshot", e))?;
        }
        std::fs::rename(&tmp, &current).map_err(|e| self.io("renaming the snapshot", e))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| self.io("fsync of the state folder", e))?;
        // The fallback (the snapshot before) replays from its generation on; older WALs go.
        for g in wal_generations(&self.dir) {
            if g < previous {
                let _ = std::fs::remove_file(wal_path(&self.dir, g));
            }
        }
        Ok(())
    }
}

impl BanditStore for FileStore {
    fn url(&self) -> &str {
        &self.url
    }

    fn in_memory(&self) -> bool {
        true
    }

    fn edges(&self, clusters: &[u32]) -> Result<EdgeMap, StoreError> {
        let inner = self.lock()?;
        let size = clusters.iter().filter_map(|c| inner.edges.get(c)).map(|m| m.len()).sum();
        let mut out = EdgeMap::with_capacity_and_hasher(size, Default::default());
        for &c in clusters {
            if let Some(items) = inner.edges.get(&c) {
                out.extend(items.iter().map(|(&i, &s)| ((c, i), s)));
            }
        }
        Ok(out)
    }

    fn put_request(&self, id: &str, request: &IssuedRequest) -> Result<(), StoreError> {
        check_finite_request(request)?;
        let mut inner = self.lock()?;
        self.append(&mut inner, &Record::Request { id: id.to_string(), request: request.clone() })?;
        inner.remember_request(id.into(), request.clone(), self.options.max_live_requests.max(1));
        Ok(())
    }

    fn get_request(&self, id: &str) -> Result<Option<IssuedRequest>, StoreError> {
        Ok(self.lock()?.requests.get(id).filter(|r| r.expires_ms >= now_ms()).map(|r| IssuedRequest::clone(r)))
    }

    fn apply_feedback(&self, key: &str, deltas: &[Delta], expires_ms: u64) -> Result<bool, StoreError> {
        let (applied, durability) = self.apply_feedback_deferred(key, deltas, expires_ms)?;
        let seq = durability.seq();
        self.commit.wait_blocking(seq).map_err(|message| StoreError::Io { url: self.url.clone(), message })?;
        Ok(applied)
    }

    fn apply_feedback_deferred(&self, key: &str, deltas: &[Delta], expires_ms: u64) -> Result<(bool, Durability), StoreError> {
        let mut inner = self.lock()?;
        if inner.applied.contains_key(key) {
            // A retry: answer only once the original's record is durable too.
            return Ok((false, self.commit.request(inner.written, &inner.wal)));
        }
        check_finite(deltas, |c, i| inner.edge(c, i))?;
        let flat = flatten(deltas);
        let seq = self.append(&mut inner, &Record::Feedback { key: key.to_string(), expires_ms, deltas: flat.clone() })?;
        inner.remember_applied(key.into(), expires_ms);
        inner.add(flat);
        inner.feedback_since_snapshot += 1;
        Ok((true, self.commit.request(seq, &inner.wal)))
    }

    fn maintain(&self) -> Result<(), StoreError> {
        self.lock()?.purge(now_ms());
        self.snapshot_if_due()
    }

    fn stats(&self) -> StoreStats {
        match self.lock() {
            Ok(inner) => StoreStats {
                live_requests: inner.requests.len() as u64,
                evicted_requests: inner.evicted,
                snapshot_failures: inner.snapshot_failures,
                wal_bytes: inner.wal_len,
            },
            Err(_) => StoreStats::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recforge_bandit::ClusterContext;

    fn delta(c: u32, i: u32, w: f64, r: f64) -> Delta {
        ((c, i), EdgeStats { sum_w2: w * w, sum_wr: w * r })
    }

    fn request(expires_ms: u64) -> IssuedRequest {
        IssuedRequest { context: ClusterContext::one_hot(0), items: vec![5], expires_ms }
    }

    #[test]
    fn state_survives_reopen_across_snapshots_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let far = now_ms() + 3_600_000;
        {
            let store = FileStore::open(dir.path(), 3).unwrap();
            store.put_request("r1", &request(far)).unwrap();
            for k in 0..7 {
                assert!(store.apply_feedback(&format!("r1/{k}"), &[delta(0, k, 1.0, 1.0)], far).unwrap());
                store.maintain().unwrap();
            }
            assert!(!store.apply_feedback("r1/0", &[delta(0, 0, 1.0, 1.0)], far).unwrap());
        }
        // A crash mid-append leaves half a line.
        let last = *wal_generations(dir.path()).last().unwrap();
        OpenOptions::new().append(true).open(wal_path(dir.path(), last)).unwrap().write_all(b"{\"Feedback\":{\"key\":").unwrap();
        let store = FileStore::open(dir.path(), 3).unwrap();
        let edges = store.edges(&[0]).unwrap();
        assert_eq!(edges.len(), 7);
        assert!(edges.values().all(|s| s.sum_w2 == 1.0 && s.sum_wr == 1.0));
        assert!(!store.apply_feedback("r1/6", &[delta(0, 6, 1.0, 1.0)], far).unwrap());
        assert_eq!(store.get_request("r1").unwrap().map(|r| r.items), Some(vec![5]));
    }

    #[test]
    fn a_second_store_on_the_same_folder_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileStore::open(dir.path(), 10).unwrap();
        let err = FileStore::open(dir.path(), 10).err().expect("the folder is locked");
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another"), "{err}");
        drop(first);
        FileStore::open(dir.path(), 10).unwrap();
    }

    #[test]
    fn a_corrupt_snapshot_falls_back_to_the_previous_one_and_its_wal() {
        let dir = tempfile::tempdir().unwrap();
        let far = now_ms() + 3_600_000;
        {
            let store = FileStore::open(dir.path(), 2).unwrap();
            for k in 0..5 {
                store.apply_feedback(&format!("r/{k}"), &[delta(1, k, 1.0, 0.5)], far).unwrap();
                store.maintain().unwrap();
            }
        }
        // Two snapshots so far (after 2 and 4 records); the newest is damaged.
        assert!(dir.path().join("snapshot.prev.json").exists());
        std::fs::write(dir.path().join("snapshot.json"), b"{\"wal_generation\": 2, \"edges\": [[0, 1, nul").unwrap();
        let store = FileStore::open(dir.path(), 2).unwrap();
        let edges = store.edges(&[1]).unwrap();
        assert_eq!(edges.len(), 5, "{edges:?}");
        assert!(edges.values().all(|s| s.sum_w2 == 1.0 && s.sum_wr == 0.5));
        assert!(dir.path().join("snapshot.json.corrupt").exists());
    }

    #[test]
    fn requests_expire_on_maintain_and_the_oldest_are_evicted_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let options = FileOptions { max_live_requests: 3, ..FileOptions::default() };
        let store = FileStore::open_with(dir.path(), options).unwrap();
        let now = now_ms();
        store.put_request("gone", &request(now.saturating_sub(1))).unwrap();
        store.maintain().unwrap();
        assert_eq!(store.stats().live_requests, 0);
        for k in 0..5 {
            store.put_request(&format!("r{k}"), &request(now + 60_000 + k)).unwrap();
        }
        let stats = store.stats();
        assert_eq!((stats.live_requests, stats.evicted_requests), (3, 2));
        assert!(store.get_request("r1").unwrap().is_none() && store.get_request("r2").unwrap().is_some());
    }

    #[test]
    fn the_wal_is_compacted_by_size_under_a_recommend_only_load() {
        let dir = tempfile::tempdir().unwrap();
        let options = FileOptions { snapshot_bytes: 4096, max_live_requests: 10, ..FileOptions::default() };
        let store = FileStore::open_with(dir.path(), options).unwrap();
        let far = now_ms() + 60_000;
        for k in 0..2000 {
            store.put_request(&format!("r{k}"), &request(far)).unwrap();
            if k % 10 == 9 {
                store.maintain().unwrap(); // the server's upkeep tick
            }
        }
        let disk: u64 = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
        assert!(store.stats().wal_bytes < 4096 && disk < 4 * 4096, "wal {} disk {disk}", store.stats().wal_bytes);
        assert_eq!(store.stats().live_requests, 10);
        drop(store);
        let store = FileStore::open_with(dir.path(), options).unwrap();
        assert!(store.get_request("r1999").unwrap().is_some());
    }

    #[test]
    fn a_failed_snapshot_write_keeps_every_wal_the_fallback_needs() {
        let dir = tempfile::tempdir().unwrap();
        let far = now_ms() + 3_600_000;
        {
            let store = FileStore::open(dir.path(), 1).unwrap();
            store.apply_feedback("r/0", &[delta(2, 0, 1.0, 1.0)], far).unwrap();
            store.maintain().unwrap(); // snapshot 1
            // The next snapshot cannot be written: its temp path is taken by a folder.
            std::fs::create_dir(dir.path().join("snapshot.json.tmp")).unwrap();
            store.apply_feedback("r/1", &[delta(2, 1, 1.0, 1.0)], far).unwrap();
            store.maintain().unwrap();
            assert_eq!(store.stats().snapshot_failures, 1);
            std::fs::remove_dir(dir.path().join("snapshot.json.tmp")).unwrap();
            store.apply_feedback("r/2", &[delta(2, 2, 1.0, 1.0)], far).unwrap();
            store.lock().unwrap().snapshot_not_before = None; // skip the retry delay
            store.maintain().unwrap(); // snapshot 2; snapshot 1 becomes the fallback
            store.apply_feedback("r/3", &[delta(2, 3, 1.0, 1.0)], far).unwrap();
        }
        // Losing the newest snapshot leaves the fallback and every WAL after it.
        std::fs::write(dir.path().join("snapshot.json"), b"{").unwrap();
        let store = FileStore::open(dir.path(), 1).unwrap();
        let edges = store.edges(&[2]).unwrap();
        assert_eq!(edges.len(), 4, "{edges:?}");
        assert!(!store.apply_feedback("r/1", &[delta(2, 1, 1.0, 1.0)], far).unwrap());
    }

    #[test]
    fn writes_racing_snapshots_are_all_kept_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let far = now_ms() + 3_600_000;
        let store = Arc::new(FileStore::open(dir.path(), 25).unwrap());
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                for k in 0..1500u32 {
                    store.put_request(&format!("r{k}"), &request(far)).unwrap();
                    assert!(store.apply_feedback(&format!("r{k}/0"), &[delta(k % 3, k % 50, 1.0, 1.0)], far).unwrap());
                }
            })
        };
        let mut snapshots = 0;
        while !writer.is_finished() {
            let before = store.lock().unwrap().snapshot_generation;
            store.maintain().unwrap();
            snapshots += usize::from(store.lock().unwrap().snapshot_generation != before);
        }
        writer.join().unwrap();
        assert!(snapshots >= 2, "only {snapshots} snapshots raced the writer");
        assert_eq!(store.stats().snapshot_failures, 0);
        drop(store);
        let store = FileStore::open(dir.path(), 25).unwrap();
        let edges = store.edges(&[0, 1, 2]).unwrap();
        assert_eq!(edges.values().map(|s| s.sum_w2).sum::<f64>(), 1500.0);
        assert_eq!(edges.len(), 150);
        assert!((0..1500).all(|k| store.get_request(&format!("r{k}")).unwrap().is_some()));
        assert!(!store.apply_feedback("r7/0", &[delta(1, 7, 1.0, 1.0)], far).unwrap());
    }
}
