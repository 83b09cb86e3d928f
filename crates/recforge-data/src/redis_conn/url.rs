//! The URL of a Redis event log or label set: `redis://HOST:PORT[/NAME][?KEY=VALUE&…]` for one
//! server, `redis+cluster://HOST:PORT[,HOST:PORT…][/NAME][?…]` for a Redis Cluster (seed
//! nodes; one is enough, the others are tried when it is down). A user and password go before
//! the hosts (`redis://:PASS@HOST:PORT`, `redis+cluster://:PASS@H1:P1,H2:P2`) and are never shown.

use std::collections::HashMap;

use super::client::CLUSTER_SCHEME;

/// A parsed `redis://` or `redis+cluster://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisUrl {
    /// The URL as the user wrote it, password replaced by `***` (for messages).
    pub url: String,
    /// `redis://HOST:PORT` or `redis+cluster://H1:P1,H2:P2`, what the client connects to.
    pub server: String,
    /// The path after the server, if any (stream or label-set name).
    pub name: Option<String>,
    /// Query parameters.
    pub params: HashMap<String, String>,
}

impl RedisUrl {
    /// Parses `url`; errors are plain messages for the caller's error type.
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        let shown = super::redact_url(url);
        let expected = format!("expected redis://HOST:PORT[/NAME] or {CLUSTER_SCHEME}://HOST:PORT[,HOST:PORT…][/NAME]");
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme @ ("redis" | CLUSTER_SCHEME), rest)) => (scheme, rest),
            _ => return Err(format!("{shown:?}: {expected}")),
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, name) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() || host.ends_with('@') {
            return Err(format!("{shown:?}: no host ({expected})"));
        }
        let mut params = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| format!("{shown:?}: query parameter {pair:?} is not KEY=VALUE"))?;
            params.insert(k.to_string(), v.to_string());
        }
        let name = Some(name.trim_end_matches('/')).filter(|n| !n.is_empty()).map(str::to_string);
        if let Some(n) = &name
            && !n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(format!("{shown:?}: name {n:?} may only hold letters, digits and - _ . :"));
        }
        Ok(RedisUrl { url: shown, server: format!("{scheme}://{host}"), name, params })
    }

    /// True for a `redis+cluster://` URL.
    pub fn is_cluster(&self) -> bool {
        self.server.starts_with(CLUSTER_SCHEME)
    }

    /// A numeric query parameter, or `default`.
    pub fn param<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.params.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{:?}: {key}={v:?} is not a valid number", self.url)),
        }
    }
}

/// `url` with the password of its user-info part (`scheme://user:PASSWORD@host`) replaced by
/// `***`, for logs, errors and `/healthz`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = match user_info.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_string(),
    }
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
        assert!(!u.is_cluster());
        assert!(RedisUrl::parse("redis://h:1/a b").is_err());
        assert!(RedisUrl::parse("file:///x").is_err());
        assert_eq!(RedisUrl::parse("redis://h:1").unwrap().name, None);
    }

    #[test]
    fn cluster_urls_keep_every_seed_and_hide_the_password() {
        let u = RedisUrl::parse("redis+cluster://:hunter2@127.0.0.1:30001,127.0.0.1:30002/ev?retries=2").unwrap();
        assert!(u.is_cluster());
        assert_eq!(u.server, "redis+cluster://:hunter2@127.0.0.1:30001,127.0.0.1:30002");
        assert_eq!(u.name.as_deref(), Some("ev"));
        assert_eq!(u.url, "redis+cluster://:***@127.0.0.1:30001,127.0.0.1:30002/ev?retries=2");
        let err = RedisUrl::parse("redis+cluster://:hunter2@/ev").unwrap_err();
        assert!(err.contains("no host") && !err.contains("hunter2"), "{err}");
        assert!(RedisUrl::parse("rediss+cluster://h:1").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("redis://:pw@h:1/x?a=b"), "redis://:***@h:1/x?a=b");
        assert_eq!(redact_url("redis://user:pw@h:1"), "redis://user:***@h:1");
        assert_eq!(redact_url("file:///tmp/a@b"), "file:///tmp/a@b");
    }
}
