//! `POST /v1/feedback` (bearer token): `{"request_id", "item", "reward"}` adds the reward to
//! the Diag-LinUCB sums of the edges between the request's clusters and the item, once per
//! (request id, item); a retry answers `"duplicate": true` and changes nothing.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use recforge_bandit::DiagLinUcb;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::routes::on_store;
use crate::routes::recommend::issued_ms;
use crate::store::{Delta, StoreError, now_ms};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/feedback", post(feedback))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub request_id: String,
    /// External item id, as `/v1/recommend` returned it.
    pub item: String,
    pub reward: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FeedbackResponse {
    /// True when this call changed the state; false for a retry of applied feedback.
    pub applied: bool,
    pub duplicate: bool,
}

/// The token is checked before the body is parsed, so an unauthenticated caller learns
/// nothing about the payload's validity.
async fn feedback(State(state): State<Arc<AppState>>, headers: HeaderMap, bytes: Result<Bytes, BytesRejection>) -> Result<Json<FeedbackResponse>, ApiError> {
    state.require_bandit()?;
    state.require_write(&headers)?;
    let bytes = bytes.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let Json(body) = Json::<FeedbackRequest>::from_bytes(&bytes).map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let [low, high] = state.config.reward_range;
    if !body.reward.is_finite() || body.reward < low || body.reward > high {
        return Err(ApiError::unprocessable(format!("\"reward\" must be a finite number in [{low}, {high}], got {}", body.reward)));
    }
    let Some(issued) = issued_ms(&body.request_id) else {
        return Err(ApiError::not_found(format!("unknown request_id \"{}\" (not one this service issued)", body.request_id)));
    };
    let ttl_ms = state.config.request_ttl_s * 1000;
    if now_ms() > issued + ttl_ms {
        return Err(ApiError::new(StatusCode::GONE, format!("request_id \"{}\" expired: feedback is accepted for {} s after the recommendation", body.request_id, state.config.request_ttl_s)));
    }
    let id = body.request_id.clone();
    let Some(issued_request) = on_store(&state, move |store| store.get_request(&id)).await? else {
        return Err(ApiError::not_found(format!("unknown request_id \"{}\"", body.request_id)));
    };
    let Some(&index) = state.item_index.get(&body.item) else {
        return Err(ApiError::unprocessable(format!("unknown item \"{}\"", body.item)));
    };
    if !issued_request.items.contains(&index) {
        return Err(ApiError::unprocessable(format!("item \"{}\" was not recommended in request \"{}\"", body.item, body.request_id)));
    }
    let deltas: Vec<Delta> = DiagLinUcb::deltas(&issued_request.context, index, body.reward).collect();
    let key = format!("{}/{index}", body.request_id);
    let expires = issued_request.expires_ms;
    let (applied, durability) = on_store(&state, move |store| store.apply_feedback_deferred(&key, &deltas, expires)).await?;
    durability.wait().await.map_err(|message| StoreError::Io { url: state.store.url().to_string(), message })?;
    use std::sync::atomic::Ordering::Relaxed;
    if applied {
        state.metrics.updates.fetch_add(1, Relaxed);
    } else {
        state.metrics.duplicates.fetch_add(1, Relaxed);
    }
    Ok(Json(FeedbackResponse { applied, duplicate: !applied }))
}
