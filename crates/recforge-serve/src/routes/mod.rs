//! The router: one file per route group, merged here.

pub mod feedback;
pub mod health;
pub mod recommend;
pub mod retrieve;
pub mod score;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::error::ApiError;
use crate::store::{BanditStore, StoreError};

/// Runs a store call where it belongs: inline when the store answers from memory
/// ([`BanditStore::in_memory`]: a thread hand-off would cost more than the call), else on the
/// blocking pool so that a network round trip never holds an async worker.
pub(crate) async fn on_store<T: Send + 'static>(state: &Arc<AppState>, call: impl FnOnce(&dyn BanditStore) -> Result<T, StoreError> + Send + 'static) -> Result<T, ApiError> {
    if state.store.in_memory() {
        return Ok(call(state.store.as_ref())?);
    }
    let store = state.store.clone();
    Ok(tokio::task::spawn_blocking(move || call(store.as_ref())).await??)
}

/// Every route, with load shedding and the request timeout ([`crate::protect`]), metrics, the
/// body-size limit and request tracing.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(recommend::routes())
        .merge(feedback::routes())
        .merge(retrieve::routes())
        .merge(score::routes())
        .merge(health::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; see /healthz, /metrics, /v1/recommend, /v1/feedback, /v1/retrieve, /v1/score") })
        .layer(from_fn_with_state(state.clone(), crate::protect::limit))
        .layer(from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
