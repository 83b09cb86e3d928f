//! The shared label store: Redis hashes, one per teacher version
//! (`recforge:labels:{<NAME>}:v<version>`, field = example id, value = the logit as text, which
//! round-trips an f32 exactly), plus the set `recforge:labels:{<NAME>}:versions`. The braces
//! are a hash tag: a label set lives in one Redis Cluster slot, so its MULTI runs on a cluster. HSET is
//! idempotent, and a `put` is one MULTI/EXEC transaction, so a label and its version appear
//! together. Connection failures are retried with backoff ([`recforge_data::redis_conn`]).

use std::sync::Mutex;

use recforge_data::redis_conn::{Connection, RedisConn, RedisUrl};

use super::{LabelStore, StoreError, TeacherVersion};

/// The label-set name when the URL has none.
pub const DEFAULT_NAME: &str = "labels";
/// Fields per HSET/HMGET command.
const CHUNK: usize = 2000;

/// Labels in Redis.
pub struct RedisLabelStore {
    url: String,
    prefix: String,
    conn: Mutex<RedisConn>,
}

impl RedisLabelStore {
    /// Opens `redis://HOST:PORT[/NAME][?retries=N&backoff_ms=B]` (or
    /// `redis+cluster://HOST:PORT[,HOST:PORT…][/NAME][?…]`) and checks the server answers.
    pub fn open(url: &str) -> Result<RedisLabelStore, StoreError> {
        let parsed = RedisUrl::parse(url).map_err(|reason| StoreError::BadUrl { url: url.into(), reason })?;
        let prefix = format!("recforge:labels:{{{}}}:", parsed.name.as_deref().unwrap_or(DEFAULT_NAME));
        let conn = RedisConn::new(&parsed).map_err(|message| StoreError::Backend { store: url.into(), message })?;
        let store = RedisLabelStore { url: parsed.url.clone(), prefix, conn: Mutex::new(conn) };
        store.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    /// Deletes every key of this label set (tests clean up with this).
    pub fn delete(&self) -> Result<(), StoreError> {
        let versions = self.versions()?;
        let mut keys: Vec<String> = versions.iter().map(|v| self.hash(*v)).collect();
        keys.push(self.versions_key());
        self.with(|c| redis::cmd("DEL").arg(&keys).query::<()>(c))
    }

    /// The master holding this label set (`HOST:PORT`) on a cluster; `None` on one server.
    pub fn master(&self) -> Result<Option<String>, StoreError> {
        let key = self.versions_key();
        self.with(|c| c.master_of(&key))
    }

    fn hash(&self, version: TeacherVersion) -> String {
        format!("{}v{version}", self.prefix)
    }

    fn versions_key(&self) -> String {
        format!("{}versions", self.prefix)
    }

    fn with<T>(&self, f: impl FnMut(&mut Connection) -> redis::RedisResult<T>) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().map_err(|_| StoreError::Backend { store: self.url.clone(), message: "a thread panicked while holding the connection".into() })?;
        conn.run(f).map_err(|message| StoreError::Backend { store: self.url.clone(), message })
    }
}

impl LabelStore for RedisLabelStore {
    fn put(&self, version: TeacherVersion, labels: &[(u64, f32)]) -> Result<(), StoreError> {
        if labels.is_empty() {
            return Ok(());
        }
        let hash = self.hash(version);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for chunk in labels.chunks(CHUNK) {
            let cmd = pipe.cmd("HSET").arg(&hash);
            for (id, logit) in chunk {
                cmd.arg(id).arg(logit.to_string());
            }
            cmd.ignore();
        }
        pipe.cmd("SADD").arg(self.versions_key()).arg(version).ignore();
        self.with(|c| pipe.query::<()>(c))
    }

    fn get(&self, version: TeacherVersion, example_ids: &[u64]) -> Result<Vec<Option<f32>>, StoreError> {
        let hash = self.hash(version);
        let mut out = Vec::with_capacity(example_ids.len());
        for chunk in example_ids.chunks(CHUNK) {
            let values: Vec<Option<String>> = self.with(|c| redis::cmd("HMGET").arg(&hash).arg(chunk).query(c))?;
            for (id, value) in chunk.iter().zip(values) {
                out.push(match value {
                    None => None,
                    Some(text) => Some(text.parse::<f32>().map_err(|_| StoreError::Backend {
                        store: self.url.clone(),
                        message: format!("{hash} field {id}: {text:?} is not a logit"),
                    })?),
                });
            }
        }
        Ok(out)
    }

    fn versions(&self) -> Result<Vec<TeacherVersion>, StoreError> {
        let members: Vec<u64> = self.with(|c| redis::cmd("SMEMBERS").arg(self.versions_key()).query(c))?;
        let mut out = Vec::new();
        for version in members {
            if self.count(version)? > 0 {
                out.push(version);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn count(&self, version: TeacherVersion) -> Result<u64, StoreError> {
        self.with(|c| redis::cmd("HLEN").arg(self.hash(version)).query(c))
    }

    fn scan(&self, version: TeacherVersion, visit: &mut dyn FnMut(&[(u64, f32)]) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let hash = self.hash(version);
        let mut cursor = 0u64;
        loop {
            let (next, fields): (u64, Vec<(String, String)>) =
                self.with(|c| redis::cmd("HSCAN").arg(&hash).arg(cursor).arg("COUNT").arg(CHUNK).query(c))?;
            let mut chunk = Vec::with_capacity(fields.len());
            for (id, logit) in fields {
                let bad = || StoreError::Backend { store: self.url.clone(), message: format!("{hash} field {id}: {logit:?} is not an id and a logit") };
                chunk.push((id.parse::<u64>().map_err(|_| bad())?, logit.parse::<f32>().map_err(|_| bad())?));
            }
            visit(&chunk)?;
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}
