//! The label store interface: teacher soft labels keyed by (teacher version, example id).
//!
//! Writes are idempotent: a key holds exactly one label, and writing it again replaces it with
//! the (deterministic) same value, so a labeler that crashes after writing and before
//! committing its stream offset can safely label the same events again. Backends are chosen
//! by URL ([`open_label_store`]): `mem://` (in process), `file://PATH` (redb, [`RedbLabelStore`])
//! and `redis://HOST:PORT[/NAME]` (Redis hashes, [`RedisLabelStore`]).

mod inspect;
mod redb;
mod redis;

pub use self::inspect::{EventCheck, ExportOutcome, InspectError, LabelStats, VersionStats, export_labels, export_labels_at, label_stats, label_stats_at};
pub use self::redb::RedbLabelStore;
pub use self::redis::RedisLabelStore;

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

/// A teacher version; larger is newer. A refreshed teacher gets the next version.
pub type TeacherVersion = u64;

/// A label store failure, naming the backend and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("label store URL {url:?} is not supported: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("label store {store}: {message}")]
    Backend { store: String, message: String },
}

/// Teacher soft labels (logits) keyed by teacher version and example id.
pub trait LabelStore: Send + Sync {
    /// Stores `(example_id, logit)` pairs for `version`; durable when this returns.
    fn put(&self, version: TeacherVersion, labels: &[(u64, f32)]) -> Result<(), StoreError>;
    /// Looks up logits for `example_ids` under `version`; `None` where there is no label.
    fn get(&self, version: TeacherVersion, example_ids: &[u64]) -> Result<Vec<Option<f32>>, StoreError>;
    /// Every version that holds at least one label, ascending.
    fn versions(&self) -> Result<Vec<TeacherVersion>, StoreError>;
    /// Number of labels stored for `version`.
    fn count(&self, version: TeacherVersion) -> Result<u64, StoreError>;
    /// Calls `visit` with every label of `version`, in chunks (order is the backend's).
    fn scan(&self, version: TeacherVersion, visit: &mut dyn FnMut(&[(u64, f32)]) -> Result<(), StoreError>) -> Result<(), StoreError>;
    /// The newest version, if any label exists.
    fn latest_version(&self) -> Result<Option<TeacherVersion>, StoreError> {
        Ok(self.versions()?.last().copied())
    }
}

/// An in-process store for tests and single-process runs (`mem://`).
#[derive(Debug, Default)]
pub struct MemoryLabelStore {
    labels: RwLock<BTreeMap<TeacherVersion, HashMap<u64, f32>>>,
}

impl MemoryLabelStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn poisoned() -> StoreError {
        StoreError::Backend { store: "mem://".into(), message: "a writer panicked while holding the lock".into() }
    }
}

impl LabelStore for MemoryLabelStore {
    fn put(&self, version: TeacherVersion, labels: &[(u64, f32)]) -> Result<(), StoreError> {
        let mut map = self.labels.write().map_err(|_| Self::poisoned())?;
        map.entry(version).or_default().extend(labels.iter().copied());
        Ok(())
    }

    fn get(&self, version: TeacherVersion, example_ids: &[u64]) -> Result<Vec<Option<f32>>, StoreError> {
        let map = self.labels.read().map_err(|_| Self::poisoned())?;
        let labels = map.get(&version);
        Ok(example_ids.iter().map(|id| labels.and_then(|l| l.get(id).copied())).collect())
    }

    fn versions(&self) -> Result<Vec<TeacherVersion>, StoreError> {
        let map = self.labels.read().map_err(|_| Self::poisoned())?;
        Ok(map.iter().filter(|(_, l)| !l.is_empty()).map(|(v, _)| *v).collect())
    }

    fn count(&self, version: TeacherVersion) -> Result<u64, StoreError> {
        let map = self.labels.read().map_err(|_| Self::poisoned())?;
        Ok(map.get(&version).map_or(0, |l| l.len() as u64))
    }

    fn scan(&self, version: TeacherVersion, visit: &mut dyn FnMut(&[(u64, f32)]) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let labels: Vec<(u64, f32)> = {
            let map = self.labels.read().map_err(|_| Self::poisoned())?;
            map.get(&version).map(|l| l.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default()
        };
        labels.chunks(SCAN_CHUNK).try_for_each(|c| visit(c))
    }
}

/// Labels per `scan` callback.
const SCAN_CHUNK: usize = 10_000;

/// Opens a label store by URL: `mem://`, `file://PATH` (a redb file, created if missing),
/// `redis://HOST:PORT[/NAME]` or `redis+cluster://HOST:PORT[,HOST:PORT…][/NAME]`.
pub fn open_label_store(url: &str) -> Result<Box<dyn LabelStore>, StoreError> {
    match url.split_once("://") {
        Some(("mem", _)) => Ok(Box::new(MemoryLabelStore::new())),
        Some(("file", path)) if !path.is_empty() => Ok(Box::new(RedbLabelStore::open(std::path::Path::new(path))?)),
        Some(("redis" | "redis+cluster", _)) => Ok(Box::new(RedisLabelStore::open(url)?)),
        _ => Err(StoreError::BadUrl { url: url.into(), reason: "expected mem://, file://PATH, redis://HOST:PORT[/NAME] or redis+cluster://HOST:PORT[,HOST:PORT…][/NAME]".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trips_and_is_idempotent() {
        let store = MemoryLabelStore::new();
        store.put(1, &[(10, 0.5), (11, -1.0)]).unwrap();
        store.put(1, &[(10, 0.5)]).unwrap();
        store.put(2, &[(10, 2.0)]).unwrap();
        assert_eq!(store.count(1).unwrap(), 2);
        assert_eq!(store.get(1, &[10, 11, 12]).unwrap(), vec![Some(0.5), Some(-1.0), None]);
        assert_eq!(store.get(2, &[10]).unwrap(), vec![Some(2.0)]);
        assert_eq!(store.versions().unwrap(), vec![1, 2]);
        assert_eq!(store.latest_version().unwrap(), Some(2));
    }

    #[test]
    fn unknown_scheme_is_a_clear_error() {
        let err = open_label_store("ftp://x").err().unwrap().to_string();
        assert!(err.contains("ftp://x"), "{err}");
    }
}
