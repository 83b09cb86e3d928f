//! `POST /v1/retrieve`: a user's history → the top-K items of the multi-interest retrieval
//! model (max over the user's interest vectors of the inner product with each item vector),
//! never an item already in the history.
//!
//! Request: `{"user_id": "..."}` (a user the run stored) or `{"history": ["item", ...]}`
//! (original item ids, oldest first); optional `"k"`. Items the model does not know are
//! ignored and listed under `"ignored"`, since new items appear in logs before a retrain.
//! Limits, as `/v1/score`'s: the same read token, body size and error shape; `"k"` at most
//! `[retrieval] max_k` (422) and `"history"` at most `[retrieval] max_history` items (413); a
//! stored user's history is cut to its most recent `max_history` items.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::{ApiError, ApiJson};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/retrieve", post(retrieve))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveRequest {
    pub user_id: Option<String>,
    pub history: Option<Vec<String>>,
    pub k: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RetrievedItem {
    /// Original item id.
    pub item: String,
    /// Max over the user's interest vectors of the inner product.
    pub score: f32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RetrieveResponse {
    pub items: Vec<RetrievedItem>,
    /// The run's model row (e.g. "mur-idw-cal") and the search index.
    pub model: String,
    pub index: String,
    /// Known history items the query used.
    pub history_len: usize,
    /// History items the model does not know.
    pub ignored: Vec<String>,
}

async fn retrieve(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap, request: Result<ApiJson<RetrieveRequest>, ApiError>) -> Result<Json<RetrieveResponse>, ApiError> {
    // The token before the body, so an unauthenticated caller learns nothing about it.
    state.require_read(&headers)?;
    let ApiJson(request) = request?;
    let Some(service) = &state.retrieval else {
        return Err(ApiError::not_found("this server serves no retrieval model; start it with --retrieval RUN_DIR or a [retrieval] table in the config"));
    };
    let limits = &service.config;
    let k = request.k.unwrap_or(state.config.k.min(limits.max_k));
    if k == 0 || k > limits.max_k {
        return Err(ApiError::unprocessable(format!("\"k\" must be in 1..={} (the server's [retrieval] max_k)", limits.max_k)));
    }
    let run = &service.run;
    let mut ignored = Vec::new();
    let history: Vec<u32> = match (&request.user_id, &request.history) {
        (Some(user), None) => {
            let stored = run.histories.get(user).ok_or_else(|| ApiError::not_found(format!("unknown user_id \"{user}\"; send \"history\" instead")))?;
            stored[stored.len().saturating_sub(limits.max_history)..].to_vec()
        }
        (None, Some(items)) if items.len() > limits.max_history => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{} items in \"history\"; at most {} (the server's [retrieval] max_history); send the most recent ones", items.len(), limits.max_history),
            ));
        }
        (None, Some(items)) => items
            .iter()
            .filter_map(|token| {
                let id = run.item_id(token);
                if id.is_none() {
                    ignored.push(token.clone());
                }
                id
            })
            .collect(),
        _ => return Err(ApiError::unprocessable("give exactly one of \"user_id\" or \"history\"")),
    };
    let worker = state.clone();
    let query = history.clone();
    // Models with per-user vectors (BPR-MF) need the stored user, not only the history.
    let user = request.user_id.as_deref().and_then(|u| run.user_index(u));
    let hits = tokio::task::spawn_blocking(move || worker.retrieval.as_ref().and_then(|s| s.run.retriever.retrieve_for(user, &query, k))).await?;
    let Some(hits) = hits else {
        return Err(ApiError::unprocessable(format!("{} scores only the users it was trained on: send \"user_id\"", run.info.model)));
    };
    let items = hits.iter().map(|hit| RetrievedItem { item: run.item_token(hit.item).to_string(), score: hit.score }).collect();
    Ok(Json(RetrieveResponse { items, model: run.info.model.clone(), index: service.index.name().into(), history_len: history.len(), ignored }))
}
