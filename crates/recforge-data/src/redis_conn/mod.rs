//! A Redis connection that survives a server restart: every command runs through
//! [`RedisConn::run`], which reconnects and retries connection failures with exponential
//! backoff, then gives up with an error naming the URL and what to do. Shared by the Redis
//! event log, the Redis label store and the bandit state store, on one server or on a Redis
//! Cluster ([`client`]: `redis+cluster://HOST:PORT[,HOST:PORT…]`).
//!
//! URLs ([`url`]): `redis://HOST:PORT[/NAME][?retries=N&backoff_ms=M&retry_secs=S&timeout_ms=T&...]`.
//! `NAME` names the stream or label set (the caller's default when absent); other query
//! parameters are the caller's. `retries` bounds the attempts; `retry_secs` instead keeps
//! retrying for that long (`inf`: until it works, with a warning every
//! [`RETRY_WARN_EVERY`]), backoff capped at [`MAX_BACKOFF`]. `timeout_ms` (default
//! [`DEFAULT_TIMEOUT_MS`]) bounds every read and write, so a network partition is an error that
//! is retried, never a hang. On a cluster the same holds per node, and a topology failure
//! (`CLUSTERDOWN`, `TRYAGAIN`, a redirection the client could not resolve) counts as a
//! connection failure: the retry reconnects from the seed nodes and reads the slot map afresh.

pub mod client;
pub mod url;

pub use client::{CLUSTER_SCHEME, Connection, RedisClient, is_redis_url, is_retriable};
pub use url::{RedisUrl, redact_url};

use std::time::{Duration, Instant};

/// Attempts before giving up (the first try included).
pub const DEFAULT_RETRIES: u32 = 6;
/// The first backoff; it doubles after each failed attempt (100 ms … 3.2 s, ~6 s in all).
pub const DEFAULT_BACKOFF_MS: u64 = 100;
/// How long connecting may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Read/write timeout on a connection; above the longest blocking read a consumer issues.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The longest wait between two attempts under `retry_secs`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a long outage is reported on stderr under `retry_secs`.
pub const RETRY_WARN_EVERY: Duration = Duration::from_secs(30);

/// A lazily (re)connected Redis connection with retries.
pub struct RedisConn {
    url: String,
    client: RedisClient,
    connection: Option<Connection>,
    retries: u32,
    backoff: Duration,
    /// Retry for this long instead of `retries` times (None: count attempts).
    retry_for: Option<Duration>,
}

impl RedisConn {
    /// A connection to `url`'s server; connects on first use (`retries` and `backoff_ms` come
    /// from the URL's query).
    pub fn new(url: &RedisUrl) -> Result<RedisConn, String> {
        let timeout = Duration::from_millis(url.param("timeout_ms", DEFAULT_TIMEOUT_MS)?.max(1));
        let client = RedisClient::open(&url.server, CONNECT_TIMEOUT, timeout)?;
        Ok(RedisConn {
            url: url.url.clone(),
            client,
            connection: None,
            retries: url.param("retries", DEFAULT_RETRIES)?.max(1),
            backoff: Duration::from_millis(url.param("backoff_ms", DEFAULT_BACKOFF_MS)?),
            retry_for: match url.params.get("retry_secs") {
                Some(v) if url.params.contains_key("retries") => {
                    return Err(format!("{:?}: give retries=N or retry_secs={v}, not both", url.url));
                }
                Some(_) => {
                    let secs: f64 = url.param("retry_secs", 0.0)?;
                    Some(if secs.is_finite() { Duration::from_secs_f64(secs.max(0.0)) } else { Duration::MAX })
                }
                None => None,
            },
        })
    }

    /// Runs `f` on a live connection. Connection failures (refused, dropped, timed out) are
    /// retried on a fresh connection after 1, 2, 4, … × the backoff; other errors (a wrong
    /// type, a script error) return at once. The final error names the URL and the fix.
    pub fn run<T>(&mut self, mut f: impl FnMut(&mut Connection) -> redis::RedisResult<T>) -> Result<T, String> {
        let started = Instant::now();
        let mut delay = self.backoff;
        let mut last: String;
        let mut warned = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let connection = match self.connection.take() {
                Some(c) => Ok(c),
                None => self.client.connect(),
            };
            let result = connection.and_then(|mut c| {
                let out = f(&mut c);
                if out.is_ok() || !is_connection_error(out.as_ref().err()) {
                    self.connection = Some(c);
                }
                out
            });
            match result {
                Ok(value) => return Ok(value),
                Err(e) if is_connection_error(Some(&e)) => last = e.to_string(),
                Err(e) => return Err(format!("{}: {e}", self.url)),
            }
            let more = match self.retry_for {
                Some(limit) => started.elapsed() + delay <= limit,
                None => attempt < self.retries,
            };
            if !more {
                break;
            }
            if self.retry_for.is_some() && warned.elapsed() >= RETRY_WARN_EVERY {
                warned = Instant::now();
                eprintln!("warning: {}: Redis unreachable for {:.0}s, still retrying (last error: {last})", self.url, started.elapsed().as_secs_f64());
            }
            std::thread::sleep(delay);
            delay = if self.retry_for.is_some() { (delay * 2).min(MAX_BACKOFF) } else { delay * 2 };
        }
        let start_it = if self.client.is_cluster() {
            "Check the cluster (`redis-cli -p PORT cluster info` must say cluster_state:ok)"
        } else {
            "Start it (`redis-server --bind 127.0.0.1 --port 6379 --daemonize yes`)"
        };
        Err(format!(
            "{}: Redis is unreachable after {attempt} attempts over {:.1}s (last error: {last}). {start_it} \
             or fix the URL; nothing was acknowledged, so unlabelled events stay pending for the next run",
            self.url,
            started.elapsed().as_secs_f64()
        ))
    }

    /// True when the URL names a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.client.is_cluster()
    }
}

fn is_connection_error(e: Option<&redis::RedisError>) -> bool {
    e.is_some_and(is_retriable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_server_fails_after_the_retries_naming_the_url() {
        // Port 1 on loopback refuses connections.
        let url = RedisUrl::parse("redis://127.0.0.1:1/x?retries=3&backoff_ms=10").unwrap();
        let mut conn = RedisConn::new(&url).unwrap();
        let err = conn.run(|c| redis::cmd("PING").query::<String>(c)).unwrap_err();
        assert!(err.contains("redis://127.0.0.1:1/x") && err.contains("3 attempts") && err.contains("redis-server"), "{err}");
    }

    #[test]
    fn retry_secs_retries_for_a_duration_with_capped_backoff() {
        let url = RedisUrl::parse("redis://127.0.0.1:1/x?retry_secs=0.3&backoff_ms=20").unwrap();
        let mut conn = RedisConn::new(&url).unwrap();
        let started = Instant::now();
        let err = conn.run(|c| redis::cmd("PING").query::<String>(c)).unwrap_err();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(140) && took < Duration::from_secs(2), "{took:?}: {err}");
        assert!(err.contains("attempts"), "{err}");
        assert!(RedisConn::new(&RedisUrl::parse("redis://h:1/x?retries=2&retry_secs=1").unwrap()).is_err());
        let forever = RedisConn::new(&RedisUrl::parse("redis://h:1/x?retry_secs=inf").unwrap()).unwrap();
        assert_eq!(forever.retry_for, Some(Duration::MAX));
    }
}
