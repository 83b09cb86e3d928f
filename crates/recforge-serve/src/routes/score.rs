//! `POST /v1/score`: raw feature rows → click probabilities from the ranking model folder
//! the server was started with (`--ranker DIR`).
//!
//! Request: `{"rows": [{"feature": raw value, ...}, ...]}`, at most `[ranker] max_rows` rows;
//! a value is a number, a string (a token) or a list of tokens; token features left out are
//! OOV, numeric ones take the schema's `fill`. Response: `{"scores": [...], "model": {"name",
//! "version"}}`, scores in row order. Unknown features, values of the wrong type and
//! non-finite numbers are 422 naming the row and the feature. When the server has a token
//! configured (a read token, or the `token` of a server without a bandit), the route requires
//! `Authorization: Bearer <token>`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use recforge_train::{RawRow, ScoringError};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/score", post(score))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    pub rows: Vec<RawRow>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The run name.
    pub name: String,
    /// The `CURRENT` pointer's value (or the folder's creation time without a pointer).
    pub version: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ScoreResponse {
    pub scores: Vec<f32>,
    pub model: ModelInfo,
}

/// The token (when configured) is checked before the body is parsed.
async fn score(State(state): State<Arc<AppState>>, headers: HeaderMap, bytes: Result<Bytes, BytesRejection>) -> Result<Json<ScoreResponse>, ApiError> {
    let Some(service) = state.ranker.clone() else {
        return Err(ApiError::not_found("this server serves no ranking model; start it with --ranker MODEL_DIR"));
    };
    state.require_read(&headers)?;
    let bytes = bytes.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let Json(request) = Json::<ScoreRequest>::from_bytes(&bytes).map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let max_rows = service.config.max_rows;
    if request.rows.is_empty() {
        return Err(ApiError::unprocessable("\"rows\" is empty; send at least one row"));
    }
    if request.rows.len() > max_rows {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} rows in one request; at most {max_rows} (the server's [ranker] max_rows)", request.rows.len()),
        ));
    }
    service.maybe_reload();
    let loaded = service.current();
    let scored = tokio::task::spawn_blocking(move || {
        let scores = loaded.model.score(&request.rows);
        (scores, loaded)
    })
    .await?;
    let (scores, loaded) = scored;
    let scores = scores.map_err(|e| match e {
        ScoringError::Row { .. } | ScoringError::UnknownFeature { .. } | ScoringError::Data(_) => ApiError::unprocessable(e.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    })?;
    Ok(Json(ScoreResponse { scores, model: ModelInfo { name: loaded.model.name().to_string(), version: loaded.version.clone() } }))
}
