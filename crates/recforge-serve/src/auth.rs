//! Bearer-token check for write endpoints.

use axum::http::{HeaderMap, StatusCode, header};

use crate::error::ApiError;

/// Accepts `Authorization: Bearer <token>` with the configured token: 401 when the header is
/// missing or not a bearer token, 403 when the token is wrong.
pub fn require_bearer(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing Authorization header; send `Authorization: Bearer <token>`"));
    };
    let Some(given) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Authorization must be `Bearer <token>`"));
    };
    // Compare without an early exit on the first differing byte.
    let equal = given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if equal { Ok(()) } else { Err(ApiError::new(StatusCode::FORBIDDEN, "invalid bearer token")) }
}
