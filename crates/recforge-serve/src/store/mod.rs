//! Where the bandit's state lives: [`BanditStore`], chosen by URL ([`open_store`]).
//!
//! `file://DIR` ([`FileStore`]): in memory, every acknowledged feedback appended to a WAL and
//! fsynced before the answer, snapshots that bound the WAL. `redis://HOST:PORT`
//! ([`RedisStore`]): Diag-LinUCB sums in one hash per cluster with a field per item, added
//! with HINCRBYFLOAT by any number of serving replicas — the additive, lock-free merge of
//! Online Matching. The server never knows which one it holds.

pub mod disabled;
pub mod file;
pub mod redis;

use std::collections::HashMap;

use recforge_bandit::{ClusterContext, EdgeStats};
use serde::{Deserialize, Serialize};

pub use disabled::DisabledStore;
pub use file::FileStore;
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
    #[error("unsupported store URL \"{0}\": use file://DIR or redis://HOST:PORT")]
    Url(String),
}

/// The bandit's shared state: Diag-LinUCB edge sums, issued requests, applied feedback keys.
pub trait BanditStore: Send + Sync {
    /// The URL it was opened from (for logs and errors).
    fn url(&self) -> &str;

    /// Checks the store answers (for `/healthz`).
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Edge sums of every item linked to `clusters` (edges never updated are absent).
    fn edges(&self, clusters: &[u32]) -> Result<HashMap<(u32, u32), EdgeStats>, StoreError>;

    /// Remembers an issued request until it expires.
    fn put_request(&self, id: &str, request: &IssuedRequest) -> Result<(), StoreError>;

    /// The issued request `id`, if it is known and not purged.
    fn get_request(&self, id: &str) -> Result<Option<IssuedRequest>, StoreError>;

    /// Adds `deltas` once per `key` (request id and item), durably before returning.
    /// Returns false, changing nothing, when `key` was applied before. `expires_ms` bounds how
    /// long the key must be remembered.
    fn apply_feedback(&self, key: &str, deltas: &[Delta], expires_ms: u64) -> Result<bool, StoreError>;
}

/// Opens the store a URL names.
pub fn open_store(url: &str, snapshot_every: usize) -> Result<Box<dyn BanditStore>, StoreError> {
    if let Some(dir) = url.strip_prefix("file://") {
        Ok(Box::new(FileStore::open(std::path::Path::new(dir), snapshot_every)?))
    } else if url.starts_with("redis://") {
        Ok(Box::new(RedisStore::open(url)?))
    } else {
        Err(StoreError::Url(url.to_string()))
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
