//! `POST /v1/recommend`: a user (id, embedding or explicit cluster context) → K items ranked
//! by the configured exploration policy (by default Diag-LinUCB's upper confidence bound) over
//! the user's candidates, with each item's mean, bonus and whether it was exploration, and a
//! request id for feedback.
//!
//! Request: `{"user_id": "..."}` or `{"embedding": [..]}` (needs the model) or
//! `{"context": [[cluster, weight], ...]}` (distinct clusters, weights in [0, `limits.max_weight`],
//! scaled to unit L2 norm; see [`crate::validate`]); optional `"k"`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use axum::Json;
use rand::Rng;
use recforge_bandit::{ClusterContext, DiagLinUcb, Valuation, make_policy_over};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::config::MAX_K;
use crate::error::{ApiError, ApiJson};
use crate::routes::on_store;
use crate::store::{IssuedRequest, now_ms};
use crate::validate;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/recommend", post(recommend))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    pub user_id: Option<String>,
    pub embedding: Option<Vec<f32>>,
    pub context: Option<Vec<(u32, f64)>>,
    pub k: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RecommendedItem {
    /// External item id.
    pub item: String,
    /// Item index (what the bandit statistics are keyed by).
    pub index: u32,
    /// mean + bonus (for UCB, the upper confidence bound the ranking used).
    pub score: f64,
    pub mean: f64,
    pub bonus: f64,
    /// True when the item would not be in the top k by its mean alone.
    pub explored: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RecommendResponse {
    pub request_id: String,
    pub items: Vec<RecommendedItem>,
    /// The context the user was mapped to: (cluster, weight) pairs.
    pub context: Vec<(u32, f64)>,
}

/// Builds a request id: issue time (ms, hex) and 64 random bits. The time lets feedback on
/// an expired id be told apart from an unknown one without remembering it.
pub fn new_request_id(issued_ms: u64) -> String {
    format!("{issued_ms:x}-{:016x}", rand::rng().random::<u64>())
}

/// The issue time encoded in a request id, if it has our shape.
pub fn issued_ms(request_id: &str) -> Option<u64> {
    let (time, random) = request_id.split_once('-')?;
    (random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
    u64::from_str_radix(time, 16).ok()
}

fn context_of(state: &AppState, request: &RecommendRequest) -> Result<ClusterContext, ApiError> {
    let given = [request.user_id.is_some(), request.embedding.is_some(), request.context.is_some()].iter().filter(|g| **g).count();
    if given != 1 {
        return Err(ApiError::unprocessable("give exactly one of \"user_id\", \"embedding\" or \"context\""));
    }
    if let Some(pairs) = &request.context {
        return validate::explicit_context(pairs, state.num_clusters(), &state.config.limits);
    }
    let Some(model) = &state.model else {
        return Err(ApiError::unprocessable("this server has no Online Matching model; pass \"context\" as [[cluster, weight], ...]"));
    };
    let embedding = match (&request.user_id, &request.embedding) {
        (Some(user), _) => model.users.get(user).ok_or_else(|| ApiError::not_found(format!("unknown user_id \"{user}\"")))?,
        (_, Some(e)) => e,
        _ => return Err(ApiError::unprocessable("no user given")),
    };
    validate::embedding(embedding, model.dim(), &state.config.limits)?;
    let context = model.context_of(embedding);
    validate::check_context(&context)?;
    Ok(context)
}

async fn recommend(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap, request: Result<ApiJson<RecommendRequest>, ApiError>) -> Result<Json<RecommendResponse>, ApiError> {
    // The token before the body, so an unauthenticated caller learns nothing about it.
    state.require_read(&headers)?;
    let ApiJson(request) = request?;
    state.require_bandit()?;
    let k = request.k.unwrap_or(state.config.k);
    if k == 0 || k > MAX_K {
        return Err(ApiError::unprocessable(format!("\"k\" must be in 1..={MAX_K}")));
    }
    let context = context_of(&state, &request)?;
    let candidates: Vec<u32> = match &state.model {
        Some(model) => model.graph.candidates(&context.clusters),
        None => (0..state.config.items.unwrap_or(0)).collect(),
    };
    let clusters = context.clusters.clone();
    let edges = on_store(&state, move |store| store.edges(&clusters)).await?;
    let scorer = DiagLinUcb::from_edges(state.config.lambda, edges);
    let policy = make_policy_over(&state.config.policy, &state.config.policy_config(), scorer)
        .ok_or_else(|| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("unknown policy {:?}", state.config.policy)))?;
    let chosen = policy.choose(&context, &candidates, k, &mut rand::rng());
    let items: Vec<RecommendedItem> = chosen
        .iter()
        .map(|c| {
            let v = policy.valuation(&context, c.item).unwrap_or(Valuation { mean: c.score, bonus: 0.0 });
            RecommendedItem { item: state.item_name(c.item), index: c.item, score: v.mean + v.bonus, mean: v.mean, bonus: v.bonus, explored: c.explored }
        })
        .collect();
    let issued = now_ms();
    let request_id = new_request_id(issued);
    let issued_request = IssuedRequest { context: context.clone(), items: items.iter().map(|i| i.index).collect(), expires_ms: issued + state.config.request_ttl_s * 1000 };
    let id = request_id.clone();
    on_store(&state, move |store| store.put_request(&id, &issued_request)).await?;
    use std::sync::atomic::Ordering::Relaxed;
    state.metrics.items_shown.fetch_add(items.len() as u64, Relaxed);
    state.metrics.items_explored.fetch_add(items.iter().filter(|i| i.explored).count() as u64, Relaxed);
    Ok(Json(RecommendResponse { request_id, items, context: context.iter().collect() }))
}
