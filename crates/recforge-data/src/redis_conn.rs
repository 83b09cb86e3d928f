//! A Redis connection that survives a server restart: every command runs through
//! [`RedisConn::run`], which reconnects and retries connection failures with exponential
//! backoff, then gives up with an error naming the URL and what to do. Shared by the Redis
//! event log and the Redis label store.
//!
//! URLs: `redis://HOST:PORT[/NAME][?retries=N&backoff_ms=M&retry_secs=S&timeout_ms=T&...]`.
//! `NAME` names the stream or label set (the caller's default when absent); other query
//! parameters are the caller's. `retries` bounds the attempts; `retry_secs` instead keeps
//! retrying for that long (`inf`: until it works, with a warning every
//! [`RETRY_WARN_EVERY`]), backoff capped at [`MAX_BACKOFF`]. `timeout_ms` (default
//! [`DEFAULT_TIMEOUT_MS`]) bounds every read and write, so a network partition is an error that
//! is retried, never a hang.

use std::collections::HashMap;
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

/// A parsed `redis://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisUrl {
    /// The URL as the user wrote it (for messages).
    pub url: String,
    /// `redis://HOST:PORT`, what the client connects to.
    pub server: String,
    /// The path after the server, if any (stream or label-set name).
    pub name: Option<String>,
    /// Query parameters.
    pub params: HashMap<String, String>,
}

impl RedisUrl {
    /// Parses `url`; errors are plain messages for the caller's error type.
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        let rest = url.strip_prefix("redis://").ok_or_else(|| format!("{url:?}: expected redis://HOST:PORT[/NAME]"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, name) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(format!("{url:?}: no host (expected redis://HOST:PORT[/NAME])"));
        }
        let mut params = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| format!("{url:?}: query parameter {pair:?} is not KEY=VALUE"))?;
            params.insert(k.to_string(), v.to_string());
        }
        let name = Some(name.trim_end_matches('/')).filter(|n| !n.is_empty()).map(str::to_string);
        if let Some(n) = &name
            && !n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(format!("{url:?}: name {n:?} may only hold letters, digits and - _ . :"));
        }
        Ok(RedisUrl { url: url.to_string(), server: format!("redis://{host}"), name, params })
    }

    /// A numeric query parameter, or `default`.
    pub fn param<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.params.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{:?}: {key}={v:?} is not a valid number", self.url)),
        }
    }
}

/// A lazily (re)connected Redis connection with retries.
pub struct RedisConn {
    url: String,
    client: redis::Client,
    connection: Option<redis::Connection>,
    retries: u32,
    backoff: Duration,
    /// Retry for this long instead of `retries` times (None: count attempts).
    retry_for: Option<Duration>,
    timeout: Duration,
}

impl RedisConn {
    /// A connection to `url`'s server; connects on first use (`retries` and `backoff_ms` come
    /// from the URL's query).
    pub fn new(url: &RedisUrl) -> Result<RedisConn, String> {
        let client = redis::Client::open(url.server.as_str()).map_err(|e| format!("{:?}: {e}", url.url))?;
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
            timeout: Duration::from_millis(url.param("timeout_ms", DEFAULT_TIMEOUT_MS)?.max(1)),
        })
    }

    /// Runs `f` on a live connection. Connection failures (refused, dropped, timed out) are
    /// retried on a fresh connection after 1, 2, 4, … × the backoff; other errors (a wrong
    /// type, a script error) return at once. The final error names the URL and the fix.
    pub fn run<T>(&mut self, mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, String> {
        let started = Instant::now();
        let mut delay = self.backoff;
        let mut last: String;
        let mut warned = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let connection = match self.connection.take() {
                Some(c) => Ok(c),
                None => self.connect(),
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
        Err(format!(
            "{}: Redis is unreachable after {attempt} attempts over {:.1}s (last error: {last}). Start it \
             (`redis-server --bind 127.0.0.1 --port 6379 --daemonize yes`) or fix the URL; nothing \
             was acknowledged, so unlabelled events stay pending for the next run",
            self.url,
            started.elapsed().as_secs_f64()
        ))
    }

    /// A new connection with read and write timeouts.
    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        connection.set_read_timeout(Some(self.timeout))?;
        connection.set_write_timeout(Some(self.timeout))?;
        Ok(connection)
    }
}

fn is_connection_error(e: Option<&redis::RedisError>) -> bool {
    e.is_some_and(|e| e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_name_and_params() {
        let u = RedisUrl::parse("redis://127.0.0.1:6379/ml1m?retries=2&claim_idle_ms=500").unwrap();
        assert_eq!(u.server, "redis://127.0.0.1:6379");
        assert_eq!(u.name.as_deref(), Some("ml1m"));
        assert_eq!(u.param("retries", 9u32).unwrap(), 2);
        assert_eq!(u.param("missing", 9u32).unwrap(), 9);
        assert!(RedisUrl::parse("redis://h:1/a b").is_err());
        assert!(RedisUrl::parse("file:///x").is_err());
        assert_eq!(RedisUrl::parse("redis://h:1").unwrap().name, None);
    }

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
