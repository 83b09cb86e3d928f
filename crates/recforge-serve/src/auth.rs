//! Bearer tokens: the write token guards `POST /v1/feedback`; an optional read token guards
//! the read endpoints (recommend, retrieve, score), which the write token also opens. The
//! scheme is matched case-insensitively (RFC 7235) and tokens are compared in constant time
//! with `subtle`, in a time that depends on the configured token only — neither the content
//! nor the length of a guess shows in the timing.

use axum::http::{HeaderMap, StatusCode, header};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// What a caller may do, from the token it presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The configured tokens (the write token is required when a bandit is served).
#[derive(Clone, Default)]
pub struct Tokens {
    pub write: String,
    pub read: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("write", &"***").field("read", &self.read.as_ref().map(|_| "***")).finish()
    }
}

/// Constant-time equality whose running time depends only on `expected`'s length.
pub fn token_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut equal = (given.len() as u64).ct_eq(&(expected.len() as u64));
    for (i, &e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(0);
        equal &= g.ct_eq(&e);
    }
    equal.into()
}

/// The token of `Authorization: <scheme> <token>` when the scheme is `Bearer` in any case.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing Authorization header; send `Authorization: Bearer <token>`"));
    };
    let parsed = value.to_str().ok().and_then(|v| v.trim().split_once(' ')).filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")).map(|(_, t)| t.trim_start());
    parsed.filter(|t| !t.is_empty()).ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Authorization must be `Bearer <token>`"))
}

impl Tokens {
    /// Checks the caller may do `access`: 401 without a bearer token, 403 with a wrong one.
    /// Reads need no token unless a read token is configured.
    pub fn require(&self, headers: &HeaderMap, access: Access) -> Result<(), ApiError> {
        if access == Access::Read && self.read.is_none() {
            return Ok(());
        }
        let given = bearer(headers)?.as_bytes();
        let write = token_eq(given, self.write.as_bytes());
        let read = self.read.as_ref().is_some_and(|r| token_eq(given, r.as_bytes()));
        match access {
            Access::Write if write => Ok(()),
            Access::Read if write || read => Ok(()),
            Access::Write if read => Err(ApiError::new(StatusCode::FORBIDDEN, "the read token cannot send feedback; use the write token")),
            _ => Err(ApiError::new(StatusCode::FORBIDDEN, "invalid bearer token")),
        }
    }
}

/// Accepts `Authorization: Bearer <token>` with the configured token: 401 when the header is
/// missing or not a bearer token, 403 when the token is wrong.
pub fn require_bearer(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    Tokens { write: token.to_string(), read: None }.require(headers, Access::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn scheme_is_case_insensitive_and_tokens_separate_read_from_write() {
        assert!(token_eq(b"abc", b"abc") && !token_eq(b"abd", b"abc") && !token_eq(b"ab", b"abc") && !token_eq(b"abcd", b"abc") && !token_eq(b"", b"abc"));
        let tokens = Tokens { write: "w-secret".into(), read: Some("r-secret".into()) };
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert!(tokens.require(&headers(&format!("{scheme} w-secret")), Access::Write).is_ok(), "{scheme}");
        }
        assert!(tokens.require(&headers("Bearer  w-secret"), Access::Write).is_ok());
        assert_eq!(tokens.require(&headers("Basic w-secret"), Access::Write).unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert_eq!(tokens.require(&headers("Bearer"), Access::Write).unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert_eq!(tokens.require(&HeaderMap::new(), Access::Read).unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert!(tokens.require(&headers("Bearer r-secret"), Access::Read).is_ok());
        assert!(tokens.require(&headers("Bearer w-secret"), Access::Read).is_ok());
        assert_eq!(tokens.require(&headers("Bearer r-secret"), Access::Write).unwrap_err().status, StatusCode::FORBIDDEN);
        assert_eq!(tokens.require(&headers("Bearer r-secre"), Access::Read).unwrap_err().status, StatusCode::FORBIDDEN);
        // Without a read token, reads are open.
        let open = Tokens { write: "w".into(), read: None };
        assert!(open.require(&HeaderMap::new(), Access::Read).is_ok());
        assert!(!format!("{tokens:?}").contains("secret"));
    }
}
