//! The bandit service end to end through its router (no network): the happy path, every
//! error path, idempotent feedback, visibility of updates, and a restart that keeps every
//! acknowledged feedback.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use recforge_bandit::ClusterContext;
use recforge_bandit::online_matching::{BipartiteGraph, ContextConfig, OnlineMatching};
use recforge_serve::{AppState, BanditStore, FileStore, ServeConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "s3cret";

fn config(extra: &str) -> ServeConfig {
    let text = format!("token = \"{TOKEN}\"\nitems = 20\nclusters = 4\nk = 3\nmax_body_bytes = 2048\n{extra}");
    let config: ServeConfig = toml::from_str(&text).expect("test config parses");
    config.check().expect("test config is valid");
    config
}

fn state(dir: &Path, config: ServeConfig) -> Arc<AppState> {
    let store: Arc<dyn BanditStore> = Arc::new(FileStore::open(dir, 1000).expect("open file store"));
    AppState::with_store(config, TOKEN.to_string(), store).expect("state")
}

async fn call(state: &Arc<AppState>, method: &str, uri: &str, token: Option<&str>, body: Option<Vec<u8>>) -> (StatusCode, Value, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(body.map_or_else(Body::empty, Body::from)).expect("request builds");
    let response = router(state.clone()).oneshot(request).await.expect("router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body reads");
    let text = String::from_utf8_lossy(&bytes).to_string();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), text)
}

async fn post(state: &Arc<AppState>, uri: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let (status, value, _) = call(state, "POST", uri, token, Some(serde_json::to_vec(&body).expect("json"))).await;
    (status, value)
}

async fn recommend(state: &Arc<AppState>, context: Value) -> Value {
    let (status, value) = post(state, "/v1/recommend", None, json!({ "context": context })).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    value
}

fn assert_error(status: StatusCode, value: &Value, expected: StatusCode, needle: &str) {
    assert_eq!(status, expected, "{value}");
    let message = value["error"].as_str().unwrap_or_default();
    assert!(message.to_lowercase().contains(&needle.to_lowercase()), "error {message:?} should mention {needle:?}");
}

#[tokio::test]
async fn recommend_then_feedback_is_idempotent_and_visible_to_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), config(""));
    let first = recommend(&state, json!([[1, 1.0]])).await;
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    // Nothing learned yet: every mean is 0, the ranking is the exploration bonus.
    assert!(items.iter().all(|i| i["mean"] == json!(0.0) && i["bonus"].as_f64().unwrap() > 0.0));
    let item = items[1]["item"].as_str().unwrap().to_string();
    let feedback = json!({ "request_id": first["request_id"], "item": item, "reward": 1.0 });
    let (status, answer) = post(&state, "/v1/feedback", Some(TOKEN), feedback.clone()).await;
    assert_eq!((status, answer["applied"].clone()), (StatusCode::OK, json!(true)));
    let (status, answer) = post(&state, "/v1/feedback", Some(TOKEN), feedback).await;
    assert_eq!((status, answer["duplicate"].clone()), (StatusCode::OK, json!(true)));
    // The update shows in the very next request: the rewarded item leads with mean 1/(λ+1).
    let next = recommend(&state, json!([[1, 1.0]])).await;
    assert_eq!(next["items"][0]["item"], json!(item));
    assert!((next["items"][0]["mean"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(next["items"][0]["explored"], json!(false));
    let edges = state.store.edges(&[1]).unwrap();
    assert_eq!(edges.len(), 1, "the retry counted once");

    let (status, _, metrics) = call(&state, "GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("recforge_bandit_updates_total 1"), "{metrics}");
    assert!(metrics.contains("recforge_bandit_duplicate_feedback_total 1"));
    assert!(metrics.contains("recforge_http_requests_total{route=\"/v1/recommend\",status=\"200\"} 2"));
    assert!(metrics.contains("recforge_bandit_exploration_rate"));
    assert!(metrics.contains("recforge_http_request_duration_seconds_bucket{route=\"/v1/feedback\",le=\"+Inf\"} 2"));
    let (status, health, _) = call(&state, "GET", "/healthz", None, None).await;
    assert_eq!((status, health["status"].clone()), (StatusCode::OK, json!("ok")));
}

#[tokio::test]
async fn recommend_rejects_bad_requests_with_messages() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), config(""));
    let cases = [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "exactly one"),
        (json!({ "context": [[1, 1.0]], "user_id": "u" }), StatusCode::UNPROCESSABLE_ENTITY, "exactly one"),
        (json!({ "context": [] }), StatusCode::UNPROCESSABLE_ENTITY, "empty"),
        (json!({ "context": [[9, 1.0]] }), StatusCode::UNPROCESSABLE_ENTITY, "cluster 9"),
        (json!({ "context": [[1, -1.0]] }), StatusCode::UNPROCESSABLE_ENTITY, "weight"),
        (json!({ "context": [[1, 1.0]], "k": 0 }), StatusCode::UNPROCESSABLE_ENTITY, "\"k\""),
        (json!({ "context": "cluster one" }), StatusCode::UNPROCESSABLE_ENTITY, "context"),
        (json!({ "context": [[1, 1.0]], "colour": "red" }), StatusCode::UNPROCESSABLE_ENTITY, "unknown field"),
        (json!({ "user_id": "u1" }), StatusCode::UNPROCESSABLE_ENTITY, "no online matching model"),
    ];
    for (body, expected, needle) in cases {
        let (status, value) = post(&state, "/v1/recommend", None, body.clone()).await;
        assert_error(status, &value, expected, needle);
    }
    let (status, value, _) = call(&state, "POST", "/v1/recommend", None, Some(b"{\"context\": [[1, 1.0]".to_vec())).await;
    assert_error(status, &value, StatusCode::BAD_REQUEST, "json");
    let big = format!("{{\"context\": [[1, 1.0]], \"pad\": \"{}\"}}", "x".repeat(4096));
    let (status, value, _) = call(&state, "POST", "/v1/recommend", None, Some(big.into_bytes())).await;
    assert_error(status, &value, StatusCode::PAYLOAD_TOO_LARGE, "");
    // No content type.
    let request = Request::builder().method("POST").uri("/v1/recommend").body(Body::from("{}")).unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, value, _) = call(&state, "GET", "/v1/nothing", None, None).await;
    assert_error(status, &value, StatusCode::NOT_FOUND, "no such endpoint");
}

#[tokio::test]
async fn feedback_rejects_every_bad_request_with_a_clear_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), config("request_ttl_s = 60"));
    let issued = recommend(&state, json!([[0, 0.5], [2, 0.5]])).await;
    let id = issued["request_id"].as_str().unwrap().to_string();
    let shown = issued["items"][0]["item"].as_str().unwrap().to_string();
    let not_shown = (0..20).map(|i| i.to_string()).find(|i| issued["items"].as_array().unwrap().iter().all(|x| x["item"] != json!(i))).unwrap();
    let ok = json!({ "request_id": id, "item": shown, "reward": 1.0 });

    let (status, value) = post(&state, "/v1/feedback", None, ok.clone()).await;
    assert_error(status, &value, StatusCode::UNAUTHORIZED, "authorization");
    let (status, value) = post(&state, "/v1/feedback", Some("wrong"), ok.clone()).await;
    assert_error(status, &value, StatusCode::FORBIDDEN, "invalid bearer token");
    // The token is checked before the body: an unauthenticated caller learns nothing more.
    let (status, value, _) = call(&state, "POST", "/v1/feedback", None, Some(b"not json".to_vec())).await;
    assert_error(status, &value, StatusCode::UNAUTHORIZED, "authorization");

    let cases = [
        (json!({ "request_id": id, "item": shown, "reward": "NaN" }), StatusCode::UNPROCESSABLE_ENTITY, "reward"),
        (json!({ "request_id": id, "item": shown, "reward": 2.5 }), StatusCode::UNPROCESSABLE_ENTITY, "[0, 1]"),
        (json!({ "request_id": id, "item": shown, "reward": -0.5 }), StatusCode::UNPROCESSABLE_ENTITY, "[0, 1]"),
        (json!({ "request_id": id, "item": 3, "reward": 1.0 }), StatusCode::UNPROCESSABLE_ENTITY, "item"),
        (json!({ "request_id": id, "item": shown }), StatusCode::UNPROCESSABLE_ENTITY, "reward"),
        (json!({ "request_id": id, "item": "nope", "reward": 1.0 }), StatusCode::UNPROCESSABLE_ENTITY, "unknown item"),
        (json!({ "request_id": id, "item": not_shown, "reward": 1.0 }), StatusCode::UNPROCESSABLE_ENTITY, "was not recommended"),
        (json!({ "request_id": "garbage", "item": shown, "reward": 1.0 }), StatusCode::NOT_FOUND, "unknown request_id"),
        (json!({ "request_id": format!("{:x}-0123456789abcdef", now_ms()), "item": shown, "reward": 1.0 }), StatusCode::NOT_FOUND, "unknown request_id"),
        (json!({ "request_id": "1-0123456789abcdef", "item": shown, "reward": 1.0 }), StatusCode::GONE, "expired"),
    ];
    for (body, expected, needle) in cases {
        let (status, value) = post(&state, "/v1/feedback", Some(TOKEN), body.clone()).await;
        assert_error(status, &value, expected, needle);
    }
    // NaN and infinities are not JSON: a literal NaN is a syntax error, 1e999 out of range.
    for raw in [format!("{{\"request_id\": \"{id}\", \"item\": \"{shown}\", \"reward\": NaN}}"), format!("{{\"request_id\": \"{id}\", \"item\": \"{shown}\", \"reward\": 1e999}}")] {
        let (status, value, _) = call(&state, "POST", "/v1/feedback", Some(TOKEN), Some(raw.into_bytes())).await;
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY, "{status} {value}");
        assert!(value["error"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let oversized = format!("{{\"request_id\": \"{}\", \"item\": \"{shown}\", \"reward\": 1.0}}", "a".repeat(4096));
    let (status, value, _) = call(&state, "POST", "/v1/feedback", Some(TOKEN), Some(oversized.into_bytes())).await;
    assert_error(status, &value, StatusCode::PAYLOAD_TOO_LARGE, "");
    // None of that touched the state; the valid call still applies.
    assert!(state.store.edges(&[0, 2]).unwrap().is_empty());
    let (status, value) = post(&state, "/v1/feedback", Some(TOKEN), ok).await;
    assert_eq!((status, value["applied"].clone()), (StatusCode::OK, json!(true)));
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test]
async fn a_restart_keeps_every_acknowledged_feedback_and_its_idempotency() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Vec::new();
    let pending;
    let before;
    {
        let state = state(dir.path(), config(""));
        for round in 0..25u32 {
            let issued = recommend(&state, json!([[round % 4, 0.7], [(round + 1) % 4, 0.3]])).await;
            let body = json!({ "request_id": issued["request_id"], "item": issued["items"][0]["item"], "reward": f64::from(round % 3 == 0) });
            let (status, _) = post(&state, "/v1/feedback", Some(TOKEN), body.clone()).await;
            assert_eq!(status, StatusCode::OK);
            acknowledged.push(body);
        }
        pending = recommend(&state, json!([[3, 1.0]])).await;
        before = state.store.edges(&[0, 1, 2, 3]).unwrap();
        // The process goes away without any shutdown step.
    }
    let state = state(dir.path(), config(""));
    let after = state.store.edges(&[0, 1, 2, 3]).unwrap();
    assert_eq!(after, before);
    for body in acknowledged {
        let (status, value) = post(&state, "/v1/feedback", Some(TOKEN), body).await;
        assert_eq!((status, value["duplicate"].clone()), (StatusCode::OK, json!(true)));
    }
    // A request issued before the restart still accepts its feedback.
    let body = json!({ "request_id": pending["request_id"], "item": pending["items"][0]["item"], "reward": 1.0 });
    let (status, value) = post(&state, "/v1/feedback", Some(TOKEN), body).await;
    assert_eq!((status, value["applied"].clone()), (StatusCode::OK, json!(true)));
}

#[tokio::test]
async fn with_a_model_users_map_to_their_clusters_and_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let model = OnlineMatching {
        centroids: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        graph: BipartiteGraph { clusters: vec![vec![0, 1], vec![2, 3]], fresh: vec![4] },
        context: ContextConfig { top_k: 1, temperature: 0.1, ..ContextConfig::default() },
        users: HashMap::from([("alice".to_string(), vec![0.9, 0.1]), ("bob".to_string(), vec![0.0, 2.0])]),
        items: ["a", "b", "c", "d", "fresh"].map(String::from).to_vec(),
    };
    let path = dir.path().join("model.json");
    std::fs::write(&path, serde_json::to_vec(&model).unwrap()).unwrap();
    let state = state(&dir.path().join("state"), config(&format!("model = \"{}\"", path.display())));
    let (status, value) = post(&state, "/v1/recommend", None, json!({ "user_id": "bob", "k": 5 })).await;
    assert_eq!(status, StatusCode::OK);
    let mut items: Vec<String> = value["items"].as_array().unwrap().iter().map(|i| i["item"].as_str().unwrap().to_string()).collect();
    items.sort();
    assert_eq!(items, vec!["c", "d", "fresh"]);
    assert_eq!(value["context"], json!([[1, 1.0]]));
    let (status, value) = post(&state, "/v1/recommend", None, json!({ "embedding": [1.0, 0.0], "k": 2 })).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let (status, value) = post(&state, "/v1/recommend", None, json!({ "user_id": "carol" })).await;
    assert_error(status, &value, StatusCode::NOT_FOUND, "unknown user_id");
    let (status, value) = post(&state, "/v1/recommend", None, json!({ "embedding": [1.0] })).await;
    assert_error(status, &value, StatusCode::UNPROCESSABLE_ENTITY, "2 finite numbers");
    let _ = ClusterContext::one_hot(0);
}

#[tokio::test]
async fn the_configured_policy_sets_the_exploration_bonus() {
    // UCB's bonus is α·sd; an unseen item in a one-hot context with λ = 1 has sd 1.
    let dir = tempfile::tempdir().unwrap();
    let ucb = state(dir.path(), config("alpha = 0.25"));
    let items = recommend(&ucb, json!([[2, 1.0]])).await["items"].as_array().unwrap().clone();
    assert!(items.iter().all(|i| i["bonus"] == json!(0.25) && i["score"] == json!(0.25)), "{items:?}");
    // ε-greedy adds no bonus: every score is the mean.
    let dir = tempfile::tempdir().unwrap();
    let greedy = state(dir.path(), config("policy = \"egreedy\"\nepsilon = 0.0"));
    let items = recommend(&greedy, json!([[2, 1.0]])).await["items"].as_array().unwrap().clone();
    assert!(items.iter().all(|i| i["bonus"] == json!(0.0) && !i["explored"].as_bool().unwrap()), "{items:?}");
}

#[test]
fn set_overrides_apply_before_the_config_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, format!("token = \"{TOKEN}\"\nitems = 20\nclusters = 4\n")).unwrap();
    let config = ServeConfig::from_file_with_overrides(&path, &["alpha=0.3".into(), "policy=thompson".into()]).unwrap();
    assert_eq!((config.alpha, config.policy.as_str()), (0.3, "thompson"));
    assert_eq!(config.policy_config().lambda, recforge_bandit::PolicyConfig::DEFAULT.lambda);
    let err = ServeConfig::from_file_with_overrides(&path, &["policy=ucb2".into()]).unwrap_err().to_string();
    assert!(err.contains("serve.toml") && err.contains("ucb2"), "{err}");
}

/// Issue 18: `{"context":[[0,1.7e308],[0,1.7e308]]}` was summed to an infinite weight, written
/// to the WAL as `null`, and the next start failed. A finite 1e200 did the same through w².
#[tokio::test]
async fn the_requests_that_bricked_the_store_are_refused_and_a_restart_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    {
        let state = state(dir.path(), config(""));
        for (body, needle) in [
            (r#"{"context":[[0,1.7e308],[0,1.7e308]]}"#, "max_weight"),
            (r#"{"context":[[0,0.5],[0,0.5]]}"#, "repeated"),
            (r#"{"context":[[0,1e200]]}"#, "max_weight"),
            (r#"{"context":[[0,0],[1,0]]}"#, "all 0"),
        ] {
            let (status, value, _) = call(&state, "POST", "/v1/recommend", None, Some(body.as_bytes().to_vec())).await;
            assert_error(status, &value, StatusCode::UNPROCESSABLE_ENTITY, needle);
        }
        // An allowed large weight is scaled to unit norm, so feedback adds w² = 1.
        let state = {
            drop(state);
            self::state(dir.path(), config("[limits]\nmax_weight = 1e300"))
        };
        let issued = recommend(&state, json!([[0, 1e200], [1, 1e200]])).await;
        let w = 0.5f64.sqrt();
        let weights: Vec<f64> = issued["context"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
        assert!(weights.len() == 2 && weights.iter().all(|x| (x - w).abs() < 1e-15), "{}", issued["context"]);
        let body = json!({ "request_id": issued["request_id"], "item": issued["items"][0]["item"], "reward": 1.0 });
        let (status, _) = post(&state, "/v1/feedback", Some(TOKEN), body).await;
        assert_eq!(status, StatusCode::OK);
        let edges = state.store.edges(&[0, 1]).unwrap();
        assert!(edges.values().all(|s| (s.sum_w2 - 0.5).abs() < 1e-12 && (s.sum_wr - w).abs() < 1e-12), "{edges:?}");
    }
    let state = state(dir.path(), config(""));
    assert_eq!(state.store.edges(&[0, 1]).unwrap().len(), 2);
}

#[test]
fn the_store_refuses_non_finite_numbers_with_a_typed_error() {
    use recforge_bandit::EdgeStats;
    use recforge_serve::store::{IssuedRequest, StoreError};
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), 1000).unwrap();
    let far = now_ms() + 60_000;
    let bad = IssuedRequest { context: ClusterContext { clusters: vec![0], weights: vec![f64::INFINITY] }, items: vec![1], expires_ms: far };
    assert!(matches!(store.put_request("r", &bad), Err(StoreError::NonFinite(_))));
    let huge = ((0, 1), EdgeStats { sum_w2: f64::MAX, sum_wr: 0.0 });
    assert!(store.apply_feedback("r/1", &[huge], far).unwrap());
    // The second one would overflow Σ w²: refused, the key stays unapplied, the state unchanged.
    assert!(matches!(store.apply_feedback("r/2", &[huge], far), Err(StoreError::NonFinite(_))));
    assert!(matches!(store.apply_feedback("r/3", &[((0, 1), EdgeStats { sum_w2: f64::NAN, sum_wr: 0.0 })], far), Err(StoreError::NonFinite(_))));
    drop(store);
    let store = FileStore::open(dir.path(), 1000).unwrap();
    assert_eq!(store.edges(&[0]).unwrap()[&(0, 1)].sum_w2, f64::MAX);
    assert!(store.apply_feedback("r/2", &[((0, 1), EdgeStats { sum_w2: 0.0, sum_wr: 1.0 })], far).unwrap());
}
