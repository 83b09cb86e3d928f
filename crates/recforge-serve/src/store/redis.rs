//! The scale-out store: Redis, shared by several serving replicas.
//!
//! Keys (under a prefix, default `recforge:bandit:`): `{c<cluster>}:edges` is a hash with the
//! fields `<item>:w2` and `<item>:wr` — Diag-LinUCB's two sums of the edge, added with
//! HINCRBYFLOAT, so replicas merge by addition without locks; `{c<cluster>}:fb:<request>/<item>`
//! marks feedback applied to that cluster's edges; `req:<id>` holds an issued request (JSON,
//! expiring). A Lua script per cluster makes "unless marked: check the sums stay finite, mark,
//! add" one atomic step, so a retried feedback counts once whichever replica receives it.
//! Every key a script touches is declared in KEYS and shares the cluster's hash tag
//! (`{c7}`), so the script runs on Redis Cluster (`redis+cluster://H1:P1,H2:P2`) as on one
//! server, and the clusters' hashes spread over the masters; reading several clusters' edges
//! is split per master ([`Connection::query_each`]). Every read goes to Redis,
//! so an update is visible to the next request on any replica.
//!
//! Connections have connect, read and write timeouts (`?timeout_ms=`, default 2000), and a
//! call that fails on a broken or stale pooled connection is retried on a fresh one with
//! backoff (every write is idempotent: SET of a request, the marked script).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use recforge_bandit::{EdgeMap, EdgeStats};
use recforge_data::redis_conn::{Connection, RedisClient, is_retriable};

use super::{BanditStore, Delta, IssuedRequest, StoreError, check_finite, check_finite_request, now_ms};

const DEFAULT_PREFIX: &str = "recforge:bandit:";
const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Waits before the retries of a call that failed on its connection.
const RETRY_BACKOFF_MS: [u64; 2] = [20, 100];

/// KEYS[1] = feedback mark, KEYS[2] = the cluster's edge hash; ARGV[1] = TTL in ms; then per
/// delta: item, w2, wr. Returns 0 for a duplicate, -1 (changing nothing) when a sum would
/// become non-finite, 1 when applied.
const APPLY_SCRIPT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local i = 2
while i + 2 <= #ARGV do
  for j = 0, 1 do
    local field = ARGV[i] .. (j == 0 and ':w2' or ':wr')
    local v = tonumber(redis.call('HGET', KEYS[2], field) or '0') + tonumber(ARGV[i + 1 + j])
    if v ~= v or v == math.huge or v == -math.huge then
      return -1
    end
  end
  i = i + 3
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
i = 2
while i + 2 <= #ARGV do
  redis.call('HINCRBYFLOAT', KEYS[2], ARGV[i] .. ':w2', ARGV[i + 1])
  redis.call('HINCRBYFLOAT', KEYS[2], ARGV[i] .. ':wr', ARGV[i + 2])
  i = i + 3
end
return 1
"#;

pub struct RedisStore {
    url: String,
    prefix: String,
    client: RedisClient,
    /// Idle connections; a call takes one and puts it back.
    pool: Mutex<Vec<Connection>>,
    script: redis::Script,
}

impl RedisStore {
    /// Opens `redis://[:PASSWORD@]HOST:PORT[/DB][?prefix=P&timeout_ms=N]` or
    /// `redis+cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT…][?prefix=P&timeout_ms=N]` and checks
    /// the server (every master of a cluster) answers.
    pub fn open(url: &str) -> Result<RedisStore, StoreError> {
        // Errors, logs and /healthz show the URL without its password.
        let shown = super::redact_url(url);
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (mut prefix, mut timeout_ms) = (DEFAULT_PREFIX.to_string(), DEFAULT_TIMEOUT_MS);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("prefix", p)) => prefix = p.to_string(),
                Some(("timeout_ms", t)) => {
                    timeout_ms = t.parse().ok().filter(|&t| t > 0).ok_or_else(|| StoreError::Url(format!("{shown}: timeout_ms must be a positive integer")))?;
                }
                _ => return Err(StoreError::Url(format!("{shown}: unknown parameter \"{pair}\" (known: prefix, timeout_ms)"))),
            }
        }
        let timeout = Duration::from_millis(timeout_ms);
        let client = RedisClient::open(base, timeout, timeout).map_err(|message| StoreError::Io { url: shown.clone(), message })?;
        let store = RedisStore { url: shown.clone(), prefix, client, pool: Mutex::new(Vec::new()), script: redis::Script::new(APPLY_SCRIPT) };
        store.with_connection(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    /// The key prefix (tests use a fresh one each).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Server-side ids of the idle pooled connections, as `(node address, id)` (the address is
    /// empty on a single server; on a cluster one per master): `CLIENT KILL ID` on that node
    /// takes them, the way to drop exactly this store's connections.
    pub fn connection_ids(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut pool = self.pool.lock().map_err(|_| StoreError::Io { url: self.url.clone(), message: "connection pool poisoned".into() })?;
        let mut ids = Vec::new();
        for connection in pool.iter_mut() {
            ids.extend(connection.client_ids().map_err(|e| StoreError::Io { url: self.url.clone(), message: e.to_string() })?);
        }
        Ok(ids)
    }

    /// Runs `f` on a pooled connection (or a new one). A failure of the connection itself
    /// (dropped, timed out, I/O) drops it and retries on a fresh one, twice, with backoff.
    fn with_connection<T>(&self, mut f: impl FnMut(&mut Connection) -> redis::RedisResult<T>) -> Result<T, StoreError> {
        let err = |e: String| StoreError::Io { url: self.url.clone(), message: e };
        let hint = if self.client.is_cluster() {
            "is the cluster up? `redis-cli -p PORT cluster info` must say cluster_state:ok"
        } else {
            "is redis-server running? `redis-server --bind 127.0.0.1 --daemonize yes`"
        };
        let mut attempt = 0;
        loop {
            let pooled = self.pool.lock().map_err(|_| err("connection pool poisoned".into()))?.pop();
            let result = match pooled {
                Some(c) => Ok(c),
                None => self.client.connect(),
            }
            .and_then(|mut connection| f(&mut connection).map(|value| (value, connection)));
            match result {
                Ok((value, connection)) => {
                    if let Ok(mut pool) = self.pool.lock() {
                        pool.push(connection);
                    }
                    return Ok(value);
                }
                Err(e) if is_retriable(&e) && attempt < RETRY_BACKOFF_MS.len() => {
                    // Stale pooled connections go too: the next attempt dials afresh.
                    if let Ok(mut pool) = self.pool.lock() {
                        pool.clear();
                    }
                    std::thread::sleep(Duration::from_millis(RETRY_BACKOFF_MS[attempt]));
                    attempt += 1;
                }
                Err(e) if is_retriable(&e) => return Err(err(format!("{e} ({hint})"))),
                Err(e) => return Err(err(e.to_string())),
            }
        }
    }

    /// The master holding `cluster`'s edge hash (`HOST:PORT`) on a Redis Cluster; `None` on one
    /// server.
    pub fn edge_master(&self, cluster: u32) -> Result<Option<String>, StoreError> {
        let key = self.edge_key(cluster);
        self.with_connection(|c| c.master_of(&key))
    }

    /// The edge hash of `cluster`, hash-tagged by cluster.
    fn edge_key(&self, cluster: u32) -> String {
        format!("{}{{c{cluster}}}:edges", self.prefix)
    }

    fn feedback_key(&self, cluster: u32, key: &str) -> String {
        format!("{}{{c{cluster}}}:fb:{key}", self.prefix)
    }
}

impl BanditStore for RedisStore {
    fn url(&self) -> &str {
        &self.url
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.with_connection(|c| redis::cmd("PING").query::<String>(c)).map(|_| ())
    }

    fn edges(&self, clusters: &[u32]) -> Result<EdgeMap, StoreError> {
        // One hash per cluster, each in its own slot: split per master on a Redis Cluster.
        let reads: Vec<redis::Cmd> = clusters.iter().map(|&c| redis::cmd("HGETALL").arg(self.edge_key(c)).clone()).collect();
        let hashes: Vec<HashMap<String, f64>> = self.with_connection(|c| c.query_each(&reads))?;
        let mut out = EdgeMap::default();
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
        check_finite_request(request)?;
        let json = serde_json::to_string(request).map_err(|e| StoreError::Io { url: self.url.clone(), message: e.to_string() })?;
        let ttl_ms = request.expires_ms.saturating_sub(now_ms()).max(1);
        self.with_connection(|c| redis::cmd("SET").arg(format!("{}req:{id}", self.prefix)).arg(&json).arg("PX").arg(ttl_ms).query::<()>(c))
    }

    fn get_request(&self, id: &str) -> Result<Option<IssuedRequest>, StoreError> {
        let json: Option<String> = self.with_connection(|c| redis::cmd("GET").arg(format!("{}req:{id}", self.prefix)).query(c))?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt { url: self.url.clone(), message: format!("request {id}: {e}") })).transpose()
    }

    /// One atomic script per cluster the deltas touch: a retry after a partial failure
    /// applies only the clusters still missing, so every (feedback, cluster) counts once.
    fn apply_feedback(&self, key: &str, deltas: &[Delta], expires_ms: u64) -> Result<bool, StoreError> {
        check_finite(deltas, |_, _| EdgeStats::default())?;
        let ttl_ms = expires_ms.saturating_sub(now_ms()).max(1);
        let mut by_cluster: BTreeMap<u32, Vec<(u32, EdgeStats)>> = BTreeMap::new();
        for &((cluster, item), stats) in deltas {
            by_cluster.entry(cluster).or_default().push((item, stats));
        }
        // Redis acknowledges after the write; durability is the server's (appendonly/fsync
        // policy), as with any Redis deployment.
        let mut applied = false;
        for (cluster, items) in by_cluster {
            let mut invocation = self.script.key(self.feedback_key(cluster, key));
            invocation.key(self.edge_key(cluster)).arg(ttl_ms);
            for (item, stats) in items {
                invocation.arg(item).arg(stats.sum_w2).arg(stats.sum_wr);
            }
            let answer: i64 = self.with_connection(|c| invocation.invoke(c))?;
            if answer < 0 {
                return Err(StoreError::NonFinite(format!("feedback {key} would make a sum of cluster {cluster} non-finite")));
            }
            applied |= answer == 1;
        }
        Ok(applied)
    }
}
