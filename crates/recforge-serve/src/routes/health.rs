//! `GET /healthz` and `GET /metrics`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics))
}

/// Liveness plus a store round trip, so a dead Redis shows here.
async fn healthz(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let store = state.clone();
    tokio::task::spawn_blocking(move || store.store.ping()).await??;
    let retrieval = state.retrieval.as_ref().map(|r| json!({ "model": r.run.info.model, "dataset": r.run.info.dataset, "items": r.run.retriever.num_items(), "index": r.index.name() }));
    Ok(axum::Json(json!({ "status": "ok", "store": state.store.url(), "model": state.model.is_some(), "retrieval": retrieval })))
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&state.store.stats()))
}
