//! The default store: state in memory, made crash-safe by a write-ahead log and snapshots.
//!
//! Layout of DIR: `snapshot.json` (edge sums, issued requests, applied feedback keys, and the
//! generation of the WAL that continues it) and `wal-<generation>.log` (one JSON record per
//! line). A feedback record is fsynced before `apply_feedback` returns, so an acknowledged
//! update survives a crash; request records are written without their own fsync (the next
//! feedback's fsync covers them, a clean restart keeps them). Every `snapshot_every`
//! feedback records a new snapshot is written to a temporary file, fsynced, renamed over the
//! old one, and the WAL moves to the next generation; at start the snapshot is loaded and its
//! WAL replayed, dropping a torn last line.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use recforge_bandit::EdgeStats;
use serde::{Deserialize, Serialize};

use super::{BanditStore, Delta, IssuedRequest, StoreError, now_ms};

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

struct Inner {
    /// cluster → item → sums.
    edges: HashMap<u32, HashMap<u32, EdgeStats>>,
    requests: HashMap<String, IssuedRequest>,
    /// Applied feedback keys and when they may be forgotten.
    applied: HashMap<String, u64>,
    wal: File,
    generation: u64,
    feedback_since_snapshot: usize,
}

pub struct FileStore {
    url: String,
    dir: PathBuf,
    snapshot_every: usize,
    inner: Mutex<Inner>,
}

fn wal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("wal-{generation}.log"))
}

impl Inner {
    fn add(&mut self, deltas: impl IntoIterator<Item = (u32, u32, f64, f64)>) {
        for (cluster, item, w2, wr) in deltas {
            let e = self.edges.entry(cluster).or_default().entry(item).or_default();
            e.sum_w2 += w2;
            e.sum_wr += wr;
        }
    }

    fn replay(&mut self, record: Record) {
        match record {
            Record::Request { id, request } => {
                self.requests.insert(id, request);
            }
            Record::Feedback { key, expires_ms, deltas } => {
                if self.applied.insert(key, expires_ms).is_none() {
                    self.add(deltas);
                }
            }
        }
    }
}

impl FileStore {
    /// Opens (creating) the store in `dir`: loads the snapshot and replays its WAL.
    pub fn open(dir: &Path, snapshot_every: usize) -> Result<FileStore, StoreError> {
        let url = format!("file://{}", dir.display());
        let io = |what: &str, e: std::io::Error| StoreError::Io { url: url.clone(), message: format!("{what}: {e}") };
        std::fs::create_dir_all(dir).map_err(|e| io(&format!("creating {}", dir.display()), e))?;
        let snapshot_path = dir.join("snapshot.json");
        let snapshot: Snapshot = match std::fs::read(&snapshot_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt { url: url.clone(), message: format!("{}: {e}", snapshot_path.display()) })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Snapshot::default(),
            Err(e) => return Err(io(&format!("reading {}", snapshot_path.display()), e)),
        };
        let generation = snapshot.wal_generation;
        let path = wal_path(dir, generation);
        let wal = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(|e| io(&format!("opening {}", path.display()), e))?;
        let mut inner = Inner { edges: HashMap::new(), requests: snapshot.requests, applied: snapshot.applied, wal, generation, feedback_since_snapshot: 0 };
        inner.add(snapshot.edges);
        // Replay the WAL; a torn last line (a crash mid-write) is cut off.
        let mut good_len = 0u64;
        let mut reader = BufReader::new(File::open(&path).map_err(|e| io(&format!("reading {}", path.display()), e))?);
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| io(&format!("reading {}", path.display()), e))?;
            if read == 0 {
                break;
            }
            number += 1;
            if !line.ends_with('\n') {
                break;
            }
            let record: Record = serde_json::from_str(line.trim_end()).map_err(|e| StoreError::Corrupt { url: url.clone(), message: format!("{}:{number}: {e}", path.display()) })?;
            inner.replay(record);
            inner.feedback_since_snapshot += 1;
            good_len += read as u64;
        }
        inner.wal.set_len(good_len).map_err(|e| io("truncating a torn WAL tail", e))?;
        // Older generations are superseded by the snapshot.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if let Some(g) = name.strip_prefix("wal-").and_then(|n| n.strip_suffix(".log")).and_then(|g| g.parse::<u64>().ok()) {
                    if g < generation {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        Ok(FileStore { url, dir: dir.to_path_buf(), snapshot_every: snapshot_every.max(1), inner: Mutex::new(inner) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| StoreError::Io { url: self.url.clone(), message: "a writer panicked while holding the state".into() })
    }

    fn io(&self, what: &str, e: std::io::Error) -> StoreError {
        StoreError::Io { url: self.url.clone(), message: format!("{what}: {e}") }
    }

    fn append(&self, inner: &mut Inner, record: &Record, sync: bool) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(record).map_err(|e| StoreError::Io { url: self.url.clone(), message: e.to_string() })?;
        line.push(b'\n');
        inner.wal.write_all(&line).map_err(|e| self.io("appending to the WAL", e))?;
        if sync {
            inner.wal.sync_data().map_err(|e| self.io("fsync of the WAL", e))?;
        }
        Ok(())
    }

    /// Writes a snapshot of the live state and starts the next WAL generation.
    fn snapshot(&self, inner: &mut Inner) -> Result<(), StoreError> {
        let now = now_ms();
        inner.requests.retain(|_, r| r.expires_ms >= now);
        inner.applied.retain(|_, &mut expires| expires >= now);
        let next = inner.generation + 1;
        let snapshot = Snapshot {
            wal_generation: next,
            edges: inner.edges.iter().flat_map(|(&c, items)| items.iter().map(move |(&i, s)| (c, i, s.sum_w2, s.sum_wr))).collect(),
            requests: inner.requests.clone(),
            applied: inner.applied.clone(),
        };
        let bytes = serde_json::to_vec(&snapshot).map_err(|e| StoreError::Io { url: self.url.clone(), message: e.to_string() })?;
        let tmp = self.dir.join("snapshot.json.tmp");
        let mut file = File::create(&tmp).map_err(|e| self.io("creating the snapshot", e))?;
        file.write_all(&bytes).and_then(|_| file.sync_all()).map_err(|e| self.io("writing the snapshot", e))?;
        std::fs::rename(&tmp, self.dir.join("snapshot.json")).map_err(|e| self.io("renaming the snapshot", e))?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        let wal = OpenOptions::new().create(true).read(true).append(true).open(wal_path(&self.dir, next)).map_err(|e| self.io("opening the next WAL", e))?;
        let old = wal_path(&self.dir, inner.generation);
        inner.wal = wal;
        inner.generation = next;
        inner.feedback_since_snapshot = 0;
        let _ = std::fs::remove_file(old);
        Ok(())
    }
}

impl BanditStore for FileStore {
    fn url(&self) -> &str {
        &self.url
    }

    fn edges(&self, clusters: &[u32]) -> Result<HashMap<(u32, u32), EdgeStats>, StoreError> {
        let inner = self.lock()?;
        let mut out = HashMap::new();
        for &c in clusters {
            if let Some(items) = inner.edges.get(&c) {
                out.extend(items.iter().map(|(&i, &s)| ((c, i), s)));
            }
        }
        Ok(out)
    }

    fn put_request(&self, id: &str, request: &IssuedRequest) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        self.append(&mut inner, &Record::Request { id: id.to_string(), request: request.clone() }, false)?;
        inner.requests.insert(id.to_string(), request.clone());
        Ok(())
    }

    fn get_request(&self, id: &str) -> Result<Option<IssuedRequest>, StoreError> {
        Ok(self.lock()?.requests.get(id).cloned())
    }

    fn apply_feedback(&self, key: &str, deltas: &[Delta], expires_ms: u64) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        if inner.applied.contains_key(key) {
            return Ok(false);
        }
        let flat: Vec<(u32, u32, f64, f64)> = deltas.iter().map(|&((c, i), s)| (c, i, s.sum_w2, s.sum_wr)).collect();
        // Durable first, visible second: a crash after the fsync replays the record.
        self.append(&mut inner, &Record::Feedback { key: key.to_string(), expires_ms, deltas: flat.clone() }, true)?;
        inner.applied.insert(key.to_string(), expires_ms);
        inner.add(flat);
        inner.feedback_since_snapshot += 1;
        if inner.feedback_since_snapshot >= self.snapshot_every {
            self.snapshot(&mut inner)?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recforge_bandit::ClusterContext;

    fn delta(c: u32, i: u32, w: f64, r: f64) -> Delta {
        ((c, i), EdgeStats { sum_w2: w * w, sum_wr: w * r })
    }

    #[test]
    fn state_survives_reopen_across_snapshots_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let far = now_ms() + 3_600_000;
        {
            let store = FileStore::open(dir.path(), 3).unwrap();
            store.put_request("r1", &IssuedRequest { context: ClusterContext::one_hot(0), items: vec![5], expires_ms: far }).unwrap();
            for k in 0..7 {
                assert!(store.apply_feedback(&format!("r1/{k}"), &[delta(0, k, 1.0, 1.0)], far).unwrap());
            }
            assert!(!store.apply_feedback("r1/0", &[delta(0, 0, 1.0, 1.0)], far).unwrap());
        }
        // A crash mid-append leaves half a line.
        let wal = std::fs::read_dir(dir.path()).unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with("wal-")).unwrap().path();
        OpenOptions::new().append(true).open(&wal).unwrap().write_all(b"{\"Feedback\":{\"key\":").unwrap();
        let store = FileStore::open(dir.path(), 3).unwrap();
        let edges = store.edges(&[0]).unwrap();
        assert_eq!(edges.len(), 7);
        assert!(edges.values().all(|s| s.sum_w2 == 1.0 && s.sum_wr == 1.0));
        assert!(!store.apply_feedback("r1/6", &[delta(0, 6, 1.0, 1.0)], far).unwrap());
        assert_eq!(store.get_request("r1").unwrap().map(|r| r.items), Some(vec![5]));
    }
}
