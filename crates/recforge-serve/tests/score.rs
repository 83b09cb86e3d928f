//! `POST /v1/score` through the router (no network): a ranking model folder trained here on a
//! small synthetic log, scores equal to `ScoringModel::score`, every error path (unknown
//! feature, wrong type, NaN, too many rows, missing or wrong token), and a hot reload of the
//! `CURRENT` pointer while requests run concurrently (none may fail).

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use recforge_data::{Silent, Task, TaskOptions};
use recforge_serve::{AppState, RankerServeConfig, ServeConfig, router};
use recforge_train::{Run, RunConfig, ScoringModel};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Train a small LR (seed `seed`) on a synthetic log and save its model folder in `out`.
fn train_folder(work: &Path, out: &Path, seed: u64) {
    let schema = recforge_data::write_synthetic_ctr(&work.join("synth"), 600, 3).expect("synthetic log");
    let config_text = format!(
        "[data]\nschema = \"{}\"\n[model]\nkind = \"lr\"\n[train]\nepochs = 1\nbatch_size = 128\npatience = 0\nseed = {seed}\n",
        schema.display()
    );
    let config_path = work.join(format!("lr{seed}.toml"));
    std::fs::write(&config_path, config_text).expect("config");
    let config = RunConfig::from_file(&config_path).expect("config parses");
    let options = TaskOptions { cache_dir: work.join("cache"), ..Default::default() };
    let task = Task::load(&config.data.schema, &options, &Silent).expect("task");
    Run::train(&config, &task, &Silent).expect("train").save(out).expect("save");
}

fn state(dir: &Path, token: Option<&str>, max_rows: usize) -> Arc<AppState> {
    let mut config = ServeConfig::ranker_only(dir.to_path_buf());
    config.ranker = Some(RankerServeConfig { max_rows, reload_check_ms: 0, ..RankerServeConfig::new(dir.to_path_buf()) });
    config.token = token.map(str::to_string);
    AppState::from_config(config).expect("ranker-only state")
}

async fn post(state: &Arc<AppState>, body: Vec<u8>, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method("POST").uri("/v1/score").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = router(state.clone()).oneshot(request.body(Body::from(body)).expect("request")).await.expect("router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn rows() -> Value {
    json!({"rows": [
        {"user_id": "u1", "item_id": 7, "category": "c1", "tags": ["t1", "t2"], "price": 12.5, "age": 31},
        {"user_id": "nobody", "item_id": "i9", "category": "c2", "tags": "t3|t4", "price": 3.0, "age": 22}
    ]})
}

#[tokio::test]
async fn score_matches_the_library_and_every_error_path_is_json() {
    let work = tempfile::tempdir().expect("tempdir");
    let folder = work.path().join("model");
    train_folder(work.path(), &folder, 1);
    let state = state(&folder, Some("s3cret"), 3);

    let (status, value) = post(&state, serde_json::to_vec(&rows()).expect("json"), Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let model = ScoringModel::load(&folder).expect("load");
    let raw: Vec<recforge_train::RawRow> = serde_json::from_value(rows()["rows"].clone()).expect("rows");
    let expected = model.score(&raw).expect("library scores");
    let got: Vec<f32> = value["scores"].as_array().expect("scores").iter().map(|v| v.as_f64().expect("number") as f32).collect();
    assert_eq!(got, expected);
    assert_eq!(value["model"]["name"], model.name());
    assert_eq!(value["model"]["version"], model.metadata.created);

    let body = |v: Value| serde_json::to_vec(&v).expect("json");
    let cases = [
        (None, body(rows()), StatusCode::UNAUTHORIZED, "Authorization"),
        (Some("wrong"), body(rows()), StatusCode::FORBIDDEN, "invalid bearer token"),
        (Some("s3cret"), body(json!({"rows": [{"colour": "red"}]})), StatusCode::UNPROCESSABLE_ENTITY, "unknown feature \"colour\""),
        (Some("s3cret"), body(json!({"rows": [{"price": "cheap"}]})), StatusCode::UNPROCESSABLE_ENTITY, "feature \"price\": expected a number"),
        (Some("s3cret"), body(json!({"rows": [{"price": "NaN"}]})), StatusCode::UNPROCESSABLE_ENTITY, "\"price\""),
        (Some("s3cret"), b"{\"rows\": [{\"price\": NaN}]}".to_vec(), StatusCode::BAD_REQUEST, ""),
        (Some("s3cret"), body(json!({"rows": [{}, {}, {}, {}]})), StatusCode::PAYLOAD_TOO_LARGE, "at most 3"),
        (Some("s3cret"), body(json!({"rows": []})), StatusCode::UNPROCESSABLE_ENTITY, "empty"),
        (Some("s3cret"), body(json!({"rows": [{"price": 1.0}]})), StatusCode::UNPROCESSABLE_ENTITY, "feature \"age\": missing"),
    ];
    for (token, request, want, message) in cases {
        let (status, value) = post(&state, request, token).await;
        assert_eq!(status, want, "{value}");
        let error = value["error"].as_str().unwrap_or_else(|| panic!("JSON error body: {value}"));
        assert!(error.contains(message), "{error:?} should mention {message:?}");
    }

    // The route is counted under its template like the others.
    let request = Request::builder().uri("/metrics").body(Body::empty()).expect("request");
    let response = router(state.clone()).oneshot(request).await.expect("router answers");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    let metrics = String::from_utf8_lossy(&bytes);
    assert!(metrics.contains("recforge_http_requests_total{route=\"/v1/score\",status=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("recforge_http_requests_total{route=\"/v1/score\",status=\"422\"}"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_current_pointer_is_picked_up_while_requests_keep_succeeding() {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("ranker");
    train_folder(work.path(), &root.join("v1"), 1);
    train_folder(work.path(), &root.join("v2"), 2);
    std::fs::write(root.join("CURRENT"), "v1\n").expect("pointer");
    let state = state(&root, None, 100);
    let payload = serde_json::to_vec(&rows()).expect("json");

    let (_, first) = post(&state, payload.clone(), None).await;
    assert_eq!(first["model"]["version"], "v1");
    let v1_scores = first["scores"].clone();

    let mut clients = Vec::new();
    for _ in 0..4 {
        let (state, payload) = (state.clone(), payload.clone());
        clients.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for _ in 0..60 {
                let (status, value) = post(&state, payload.clone(), None).await;
                assert_eq!(status, StatusCode::OK, "a request failed during the swap: {value}");
                versions.push(value["model"]["version"].as_str().expect("version").to_string());
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            versions
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // Publish v2 atomically: temp file, then rename over CURRENT.
    std::fs::write(root.join(".CURRENT.tmp"), "v2\n").expect("tmp pointer");
    std::fs::rename(root.join(".CURRENT.tmp"), root.join("CURRENT")).expect("swap pointer");
    for client in clients {
        let versions = client.await.expect("client task");
        assert!(versions.iter().all(|v| v == "v1" || v == "v2"), "{versions:?}");
    }
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, value) = post(&state, payload.clone(), None).await;
        assert_eq!(status, StatusCode::OK);
        last = value;
        if last["model"]["version"] == "v2" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(last["model"]["version"], "v2", "the new pointer is served");
    assert_ne!(last["scores"], v1_scores, "v2 (another seed) scores differently");
    assert_eq!(state.ranker.as_ref().expect("ranker").reload_counts(), (1, 0));

    // A pointer to a broken folder keeps the old model.
    std::fs::create_dir_all(root.join("broken")).expect("mkdir");
    std::fs::write(root.join("CURRENT"), "broken").expect("pointer");
    let service = state.ranker.as_ref().expect("ranker");
    assert!(service.reload_if_changed().is_err());
    let (status, value) = post(&state, payload, None).await;
    assert_eq!((status, value["model"]["version"].as_str()), (StatusCode::OK, Some("v2")));
}
