//! One server or a Redis Cluster behind one connection type.
//!
//! `redis://…` is a single server (as the `redis` crate reads it); `redis+cluster://[USER[:PASS]@]HOST:PORT[,HOST:PORT…]`
//! names a cluster by seed nodes. A cluster connection is the `redis` crate's own
//! (`cluster` feature): it reads the slot map from a seed (`CLUSTER SLOTS`), sends each command
//! to the master owning its key's slot, follows `MOVED` (refreshing the map) and `ASK`
//! redirections, and spreads a command without a key (`PING`, `SCRIPT LOAD`) over every master.
//!
//! A [`redis::Pipeline`] (and a MULTI transaction) runs on the node of its first key, so every
//! key in it must share one hash tag (`{…}`); commands over keys of several slots go through
//! [`Connection::query_each`], which splits them per node on a cluster.

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use redis::{Cmd, ConnectionLike, FromRedisValue, RedisResult, Value};

/// The URL scheme of a Redis Cluster.
pub const CLUSTER_SCHEME: &str = "redis+cluster";
/// Retries (`MOVED`/`ASK` redirections, `TRYAGAIN`, a reconnect) the cluster client makes inside
/// one call before the call fails and the caller's retry-with-backoff takes over.
const CLUSTER_REDIRECTS: u32 = 5;
/// Bounds of the cluster client's own wait before retrying `TRYAGAIN`/`CLUSTERDOWN` (ms); the
/// long waits belong to the caller's backoff, which knows `retry_secs`.
const CLUSTER_MIN_WAIT_MS: u64 = 10;
const CLUSTER_MAX_WAIT_MS: u64 = 200;

/// True for `redis://` and `redis+cluster://` URLs.
pub fn is_redis_url(url: &str) -> bool {
    matches!(url.split_once("://"), Some(("redis" | CLUSTER_SCHEME, _)))
}

/// How to reach Redis: one server or a cluster.
#[derive(Clone)]
pub enum RedisClient {
    /// A single server.
    Server { client: redis::Client, connect_timeout: Duration, io_timeout: Duration },
    /// A Redis Cluster, from its seed nodes.
    Cluster { client: ClusterClient, io_timeout: Duration },
}

impl RedisClient {
    /// A client for `base`, a URL without its query: `redis://[USERINFO@]HOST:PORT[/DB]` or
    /// `redis+cluster://[USERINFO@]HOST:PORT[,HOST:PORT…]` (no path: a cluster has database 0
    /// only). Connecting may take `connect_timeout` per node; every read and write
    /// `io_timeout`. Nothing connects yet.
    pub fn open(base: &str, connect_timeout: Duration, io_timeout: Duration) -> Result<RedisClient, String> {
        match base.split_once("://") {
            Some((CLUSTER_SCHEME, rest)) => {
                let nodes = cluster_nodes(rest).map_err(|reason| format!("{}: {reason}", super::redact_url(base)))?;
                let client = ClusterClientBuilder::new(nodes)
                    .connection_timeout(connect_timeout)
                    .response_timeout(io_timeout)
                    .retries(CLUSTER_REDIRECTS)
                    .min_retry_wait(CLUSTER_MIN_WAIT_MS)
                    .max_retry_wait(CLUSTER_MAX_WAIT_MS)
                    .build()
                    .map_err(|e| format!("{}: {e}", super::redact_url(base)))?;
                Ok(RedisClient::Cluster { client, io_timeout })
            }
            _ => {
                let client = redis::Client::open(base).map_err(|e| format!("{}: {e}", super::redact_url(base)))?;
                Ok(RedisClient::Server { client, connect_timeout, io_timeout })
            }
        }
    }

    /// True for a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisClient::Cluster { .. })
    }

    /// A new connection with read and write timeouts (on a cluster: to a seed, then to every
    /// master of the slot map).
    pub fn connect(&self) -> RedisResult<Connection> {
        match self {
            RedisClient::Server { client, connect_timeout, io_timeout } => {
                let connection = client.get_connection_with_timeout(*connect_timeout)?;
                connection.set_read_timeout(Some(*io_timeout))?;
                connection.set_write_timeout(Some(*io_timeout))?;
                Ok(Connection::Server(connection))
            }
            RedisClient::Cluster { client, io_timeout } => {
                let connection = client.get_connection()?;
                connection.set_read_timeout(Some(*io_timeout))?;
                connection.set_write_timeout(Some(*io_timeout))?;
                Ok(Connection::Cluster(Box::new(connection)))
            }
        }
    }
}

/// `[USERINFO@]HOST:PORT[,HOST:PORT…]` → one `redis://[USERINFO@]HOST:PORT` per seed node.
fn cluster_nodes(rest: &str) -> Result<Vec<String>, String> {
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return Err(format!("a cluster URL takes no /{path} (a Redis Cluster has database 0 only)"));
    }
    let (user_info, hosts) = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => (format!("{user_info}@"), hosts),
        None => (String::new(), authority),
    };
    let mut nodes = Vec::new();
    for node in hosts.split(',') {
        let valid = node.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(format!("seed node {node:?} is not HOST:PORT (expected {CLUSTER_SCHEME}://HOST:PORT[,HOST:PORT…])"));
        }
        nodes.push(format!("redis://{user_info}{node}"));
    }
    Ok(nodes)
}

/// A live connection to one server or to a cluster. Commands, scripts and one-slot pipelines
/// run through [`ConnectionLike`], so `redis::cmd(…).query(conn)` works on both.
pub enum Connection {
    /// A single server.
    Server(redis::Connection),
    /// A cluster (one connection per master, opened as the slot map needs them).
    Cluster(Box<ClusterConnection>),
}

impl Connection {
    /// Runs `cmds`, whose keys may lie in different slots, in one round trip per node (a
    /// pipeline on one server; split per owning master on a cluster); one reply per command.
    pub fn query_each<T: FromRedisValue>(&mut self, cmds: &[Cmd]) -> RedisResult<Vec<T>> {
        match self {
            Connection::Server(c) => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd.clone());
                }
                pipe.query(c)
            }
            Connection::Cluster(c) => {
                let mut pipe = redis::cluster::cluster_pipe();
                for cmd in cmds {
                    pipe.add_command(cmd.clone());
                }
                pipe.query(c)
            }
        }
    }

    /// The master that holds `key` on a cluster (`HOST:PORT`, from `CLUSTER KEYSLOT` and
    /// `CLUSTER SLOTS`); `None` on a single server.
    pub fn master_of(&mut self, key: &str) -> RedisResult<Option<String>> {
        use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
        let Connection::Cluster(c) = self else { return Ok(None) };
        let any = || RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
        let slot = i64::from_redis_value(&c.route_command(redis::cmd("CLUSTER").arg("KEYSLOT").arg(key), any())?)?;
        // [[first slot, last slot, [host, port, id, …], replicas…], …]
        let ranges: Vec<Vec<Value>> = FromRedisValue::from_redis_value(&c.route_command(redis::cmd("CLUSTER").arg("SLOTS"), any())?)?;
        for range in ranges {
            let (Some(first), Some(last), Some(master)) = (range.first(), range.get(1), range.get(2)) else { continue };
            if (i64::from_redis_value(first)?..=i64::from_redis_value(last)?).contains(&slot) {
                let (host, port): (String, i64) = match master {
                    Value::Array(parts) if parts.len() >= 2 => (String::from_redis_value(&parts[0])?, i64::from_redis_value(&parts[1])?),
                    _ => continue,
                };
                return Ok(Some(format!("{host}:{port}")));
            }
        }
        Err((redis::ErrorKind::ClusterDown, "no master holds the slot", format!("slot {slot} of {key:?}")).into())
    }

    /// The server-side id (`CLIENT ID`) of this connection on every master it holds, as
    /// `(node address, id)` (the address is empty on a single server); tests drop exactly
    /// these connections with `CLIENT KILL ID`.
    pub fn client_ids(&mut self) -> RedisResult<Vec<(String, i64)>> {
        match self {
            Connection::Server(c) => {
                let id: i64 = redis::cmd("CLIENT").arg("ID").query(c)?;
                Ok(vec![(String::new(), id)])
            }
            Connection::Cluster(c) => {
                use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
                let value = c.route_command(redis::cmd("CLIENT").arg("ID"), RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)))?;
                let Value::Map(pairs) = value else {
                    return Err((redis::ErrorKind::TypeError, "CLIENT ID on every master: expected a map").into());
                };
                pairs.into_iter().map(|(node, id)| Ok((String::from_redis_value(&node)?, i64::from_redis_value(&id)?))).collect()
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            Connection::Server(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    /// On a cluster the whole pipeline goes to the node of its first command's key (see the
    /// module doc: one hash tag per pipeline).
    fn req_packed_commands(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        match self {
            Connection::Server(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Connection::Server(c) => c.req_command(cmd),
            Connection::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }

    /// True on a cluster too (the crate's cluster connection says false because a pipeline
    /// over several slots cannot be routed; ours hold one hash tag, see the module doc).
    fn supports_pipelining(&self) -> bool {
        true
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Connection::Server(c) => c.check_connection(),
            Connection::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Connection::Server(c) => c.is_open(),
            Connection::Cluster(c) => c.is_open(),
        }
    }
}

/// True for a failure of the connection or of the cluster's topology (refused, dropped, timed
/// out, `CLUSTERDOWN`, `TRYAGAIN`, a redirection still unresolved, a node without a
/// connection): the call is worth retrying on a fresh connection. A wrong type or a script
/// error is not.
pub fn is_retriable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_cluster_error()
        || matches!(e.kind(), redis::ErrorKind::ClusterConnectionNotFound | redis::ErrorKind::MasterDown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_their_seed_nodes() {
        assert_eq!(cluster_nodes("127.0.0.1:30001,127.0.0.1:30002").unwrap(), ["redis://127.0.0.1:30001", "redis://127.0.0.1:30002"]);
        assert_eq!(cluster_nodes(":pw@h:1,h:2").unwrap(), ["redis://:pw@h:1", "redis://:pw@h:2"]);
        assert!(cluster_nodes("h:1/3").unwrap_err().contains("database 0"));
        assert!(cluster_nodes("h:1,h").unwrap_err().contains("\"h\""));
        assert!(cluster_nodes("").is_err());
        assert!(is_redis_url("redis://h:1") && is_redis_url("redis+cluster://h:1,h:2/x") && !is_redis_url("file:///redis://"));
        let client = RedisClient::open("redis+cluster://h:1,h:2", Duration::from_secs(1), Duration::from_secs(1)).unwrap();
        assert!(client.is_cluster());
        let err = RedisClient::open("redis+cluster://:hunter2@h:1,h", Duration::from_secs(1), Duration::from_secs(1)).err().unwrap();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
