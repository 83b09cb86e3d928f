//! The scale-out store: Redis, shared by several serving replicas.
//!
//! Keys (under a prefix, default `recforge:bandit:`): `edges:<cluster>` is a hash with the
//! fields `<item>:w2` and `<item>:wr` — Diag-LinUCB's two sums of the edge, added with
//! HINCRBYFLOAT, so replicas merge by addition without locks; `req:<id>` holds an issued
//! request (JSON, expiring); `fb:<request>/<item>` marks applied feedback. A Lua script makes
//! "mark the key unless present, then add the deltas" one atomic step, so a retried
//! feedback counts once whichever replica receives it. Every read goes to Redis, so an
//! update is visible to the next request on any replica.

use std::collections::HashMap;
use std::sync::Mutex;

use recforge_bandit::EdgeStats;

use super::{BanditStore, Delta, IssuedRequest, StoreError, now_ms};

const DEFAULT_PREFIX: &str = "recforge:bandit:";

/// KEYS[1] = feedback key; ARGV[1] = TTL in ms; then per delta: hash key, item, w2, wr.
const APPLY_SCRIPT: &str = r#"
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) == false then
  return 0
end
local i = 2
while i + 3 <= #ARGV do
  redis.call('HINCRBYFLOAT', ARGV[i], ARGV[i + 1] .. ':w2', ARGV[i + 2])
  redis.call('HINCRBYFLOAT', ARGV[i], ARGV[i + 1] .. ':wr', ARGV[i + 3])
  i = i + 4
end
return 1
"#;

pub struct RedisStore {
    url: String,
    prefix: String,
    client: redis::Client,
    /// Idle connections; a call takes one and puts it back.
    pool: Mutex<Vec<redis::Connection>>,
    script: redis::Script,
}

impl RedisStore {
    /// Opens `redis://HOST:PORT[/DB][?prefix=P]` and checks the server answers.
    pub fn open(url: &str) -> Result<RedisStore, StoreError> {
        let (base, prefix) = match url.split_once("?prefix=") {
            Some((base, prefix)) => (base, prefix.to_string()),
            None => (url, DEFAULT_PREFIX.to_string()),
        };
        let err = |e: redis::RedisError| StoreError::Io { url: url.to_string(), message: format!("{e} (is redis-server running? `redis-server --bind 127.0.0.1 --daemonize yes`)") };
        let client = redis::Client::open(base).map_err(err)?;
        let store = RedisStore { url: url.to_string(), prefix, client, pool: Mutex::new(Vec::new()), script: redis::Script::new(APPLY_SCRIPT) };
        store.with_connection(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    /// The key prefix (tests use a fresh one each).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn with_connection<T>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, StoreError> {
        let err = |e: String| StoreError::Io { url: self.url.clone(), message: e };
        let pooled = self.pool.lock().map_err(|_| err("connection pool poisoned".into()))?.pop();
        let mut connection = match pooled {
            Some(c) => c,
            None => self.client.get_connection().map_err(|e| err(e.to_string()))?,
        };
        let result = f(&mut connection).map_err(|e| err(e.to_string()));
        // A connection that failed is dropped rather than reused.
        if result.is_ok() {
            if let Ok(mut pool) = self.pool.lock() {
                pool.push(connection);
            }
        }
        result
    }

    fn edge_key(&self, cluster: u32) -> String {
        format!("{}edges:{cluster}", self.prefix)
    }
}

impl BanditStore for RedisStore {
    fn url(&self) -> &str {
        &self.url
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.with_connection(|c| redis::cmd("PING").query::<String>(c)).map(|_| ())
    }

    fn edges(&self, clusters: &[u32]) -> Result<HashMap<(u32, u32), EdgeStats>, StoreError> {
        let mut pipe = redis::pipe();
        for &c in clusters {
            pipe.cmd("HGETALL").arg(self.edge_key(c));
        }
        let hashes: Vec<HashMap<String, f64>> = self.with_connection(|c| pipe.query(c))?;
        let mut out: HashMap<(u32, u32), EdgeStats> = HashMap::new();
        for (&cluster, hash) in clusters.iter().zip(hashes) {
            for (field, value) in hash {
                let corrupt = || StoreError::Corrupt { url: self.url.clone(), message: format!("field \"{field}\" of {}", self.edge_key(cluster)) };
                let (item, which) = field.split_once(':').ok_or_else(corrupt)?;
                let item: u32 = item.parse().map_err(|_| corrupt())?;
                let stats = out.entry((cluster, item)).or_default();
                match which {
                    "w2" => stats.sum_w2 = value,
                    "wr" => stats.sum_wr = value,
                    _ => return Err(corrupt()),
                }
            }
        }
        Ok(out)
    }

    fn put_request(&self, id: &str, request: &IssuedRequest) -> Result<(), StoreError> {
        let json = serde_json::to_string(request).map_err(|e| StoreError::Io { url: self.url.clone(), message: e.to_string() })?;
        let ttl_ms = request.expires_ms.saturating_sub(now_ms()).max(1);
        self.with_connection(|c| redis::cmd("SET").arg(format!("{}req:{id}", self.prefix)).arg(json).arg("PX").arg(ttl_ms).query::<()>(c))
    }

    fn get_request(&self, id: &str) -> Result<Option<IssuedRequest>, StoreError> {
        let json: Option<String> = self.with_connection(|c| redis::cmd("GET").arg(format!("{}req:{id}", self.prefix)).query(c))?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt { url: self.url.clone(), message: format!("request {id}: {e}") })).transpose()
    }

    fn apply_feedback(&self, key: &str, deltas: &[Delta], expires_ms: u64) -> Result<bool, StoreError> {
        let ttl_ms = expires_ms.saturating_sub(now_ms()).max(1);
        let mut invocation = self.script.key(format!("{}fb:{key}", self.prefix));
        invocation.arg(ttl_ms);
        for &((cluster, item), stats) in deltas {
            invocation.arg(self.edge_key(cluster)).arg(item).arg(stats.sum_w2).arg(stats.sum_wr);
        }
        // Redis acknowledges after the write; durability is the server's (appendonly/fsync
        // policy), as with any Redis deployment.
        let applied: i64 = self.with_connection(|c| invocation.invoke(c))?;
        Ok(applied == 1)
    }
}
