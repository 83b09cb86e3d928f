//! Where the bandit's state lives: [`BanditStore`], chosen by URL ([`open_store`]).
//!
//! `file://DIR` ([`FileStore`]): in memory, every acknowledged feedback appended to a WAL and
//! fsynced before the answer, snapshots that bound the WAL. `redis://HOST:PORT` or
//! `redis+cluster://HOST:PORT[,HOST:PORT…]` ([`RedisStore`]): Diag-LinUCB sums in one hash per cluster with a field per item, added
//! with HINCRBYFLOAT by any number of serving replicas — the additive, lock-free merge of
//! Online Matching. The server never knows which one it holds.

pub mod disabled;
pub mod file;
pub mod group_commit;
pub mod redis;

use recforge_bandit::{ClusterContext, EdgeMap, EdgeStats};
use serde::{Deserialize, Serialize};

pub use disabled::DisabledStore;
pub use file::{FileOptions, FileStore};
pub use group_commit::Durability;
pub use redis::RedisStore;

/// One edge increment: ((cluster, item), sums).
pub type Delta = ((u32, u32), EdgeStats);

/// A recommendation the service issued and will accept feedback for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedRequest {
    pub context: ClusterContext,
    /// Item indices shown.
    pub items: Vec<u32>,
    /// Unix milliseconds after which feedback is refused.
    pub expires_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {url}: {message}")]
    Io { url: String, message: String },
    #[error("store {url}: corrupt state: {message}")]
    Corrupt { url: String, message: String },
    #[error("unsupported store URL \"{0}\": use file://DIR, redis://HOST:PORT or redis+cluster://HOST:PORT[,HOST:PORT…]")]
    Url(String),
    /// Another process (a second server) holds the state folder.
    #[error("store {url}: another process holds {path}: a second server on the same state folder would corrupt it; stop the other server or give this one another folder (--store file://DIR)")]
    Locked { url: String, path: String },
    /// A value about to be written is NaN or infinite (or would make a sum so): refused, so
    /// that the state on disk always reads back.
    #[error("refusing to store a non-finite number: {0}")]
    NonFinite(String),
}

/// Checks that an issued request holds only finite context weights.
pub fn check_finite_request(request: &IssuedRequest) -> Result<(), StoreError> {
    match request.context.weights.iter().position(|w| !w.is_finite()) {
        Some(i) => Err(StoreError::NonFinite(format!("context weight {} of cluster {}", request.context.weights[i], request.context.clusters.get(i).copied().unwrap_or(u32::MAX)))),
        None => Ok(()),
    }
}

/// Checks that every delta is finite, and that adding it to `current` (the edge's present
/// sums, when the store knows them) stays finite.
pub fn check_finite(deltas: &[Delta], current: impl Fn(u32, u32) -> EdgeStats) -> Result<(), StoreError> {
    for &((cluster, item), d) in deltas {
        let now = current(cluster, item);
        let (w2, wr) = (now.sum_w2 + d.sum_w2, now.sum_wr + d.sum_wr);
        if !(d.sum_w2.is_finite() && d.sum_wr.is_finite() && w2.is_finite() && wr.is_finite()) {
            return Err(StoreError::NonFinite(format!("edge (cluster {cluster}, item {item}): sums ({}, {}) + ({}, {})", now.sum_w2, now.sum_wr, d.sum_w2, d.sum_wr)));
        }
    }
    Ok(())
}

/// Gauges and counters a store reports for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub live_requests: u64,
    pub evicted_requests: u64,
    pub snapshot_failures: u64,
    pub wal_bytes: u64,
}

/// The bandit's shared state: Diag-LinUCB edge sums, issued requests, applied feedback keys.
pub trait BanditStore: Send + Sync {
    /// The URL it was opened from (for logs and errors).
    fn url(&self) -> &str;

    /// Checks the store answers (for `/healthz`).
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// True when reads and request records are answered from memory (a WAL append is a write
    /// to the page cache): the server then calls `edges`, `put_request` and `get_request` on
    /// its async threads instead of handing them to the blocking pool, and the feedback route
    /// calls `apply_feedback_deferred` there and awaits its fsync.
    fn in_memory(&self) -> bool {
        false
    }

    /// Edge sums of every item linked to `clusters` (edges never updated are absent).
    fn edges(&self, clusters: &[u32]) -> Result<EdgeMap, StoreError>;

    /// Remembers an issued request until it expires.
    fn put_request(&self, id: &str, request: &IssuedRequest) -> Result<(), StoreError>;

    /// The issued request `id`, if it is known and not purged.
    fn get_request(&self, id: &str) -> Result<Option<IssuedRequest>, StoreError>;

    /// Adds `deltas` once per `key` (request id and item), durably before returning.
    /// Returns false, changing nothing, when `key` was applied before. `expires_ms` bounds how
    /// long the key must be remembered.
    fn apply_feedback(&self, key: &str, deltas: &[Delta], expires_ms: u64) -> Result<bool, StoreError>;

    /// [`BanditStore::apply_feedback`] that may return before the update is durable, with the
    /// wait for it: the caller acknowledges only after [`Durability::wait`]. By default the
    /// update is durable on return.
    fn apply_feedback_deferred(&self, key: &str, deltas: &[Delta], expires_ms: u64) -> Result<(bool, Durability), StoreError> {
        Ok((self.apply_feedback(key, deltas, expires_ms)?, Durability::done()))
    }

    /// Periodic upkeep (the server calls it every second): forget expired requests, compact.
    fn maintain(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Counters for `/metrics`.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

/// Opens the store a URL names (`options` apply to the file store).
pub fn open_store(url: &str, options: FileOptions) -> Result<Box<dyn BanditStore>, StoreError> {
    if let Some(dir) = url.strip_prefix("file://") {
        Ok(Box::new(FileStore::open_with(std::path::Path::new(dir), options)?))
    } else if recforge_data::redis_conn::is_redis_url(url) {
        Ok(Box::new(RedisStore::open(url)?))
    } else {
        Err(StoreError::Url(redact_url(url)))
    }
}

/// `url` with the password of its user-info part replaced by `***`, for logs, errors and
/// `/healthz` (one routine for every Redis user).
pub use recforge_data::redis_conn::redact_url;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
