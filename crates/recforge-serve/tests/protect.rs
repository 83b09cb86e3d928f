//! Protection (issue 18): load shedding with 503 + Retry-After, the request timeout, the
//! header-read timeout against slow clients on a real socket, read vs write tokens, and no
//! secret in `/healthz`, errors or the config's debug form.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use recforge_serve::{AppState, BanditStore, FileStore, ServeConfig, router};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "write-s3cret";

fn state(dir: &std::path::Path, extra: &str) -> Arc<AppState> {
    let config: ServeConfig = toml::from_str(&format!("token = \"{TOKEN}\"\nitems = 10\nclusters = 2\nk = 2\n{extra}")).unwrap();
    config.check().unwrap();
    let store: Arc<dyn BanditStore> = Arc::new(FileStore::open(dir, 100).unwrap());
    AppState::with_store(config, TOKEN.into(), store).unwrap()
}

fn recommend_request(auth: Option<&str>) -> Request<Body> {
    let mut r = Request::builder().method("POST").uri("/v1/recommend").header(header::CONTENT_TYPE, "application/json");
    if let Some(auth) = auth {
        r = r.header(header::AUTHORIZATION, auth);
    }
    r.body(Body::from(r#"{"context": [[0, 1.0]]}"#)).unwrap()
}

async fn status_of(state: &Arc<AppState>, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, retry, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn requests_past_max_in_flight_are_shed_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), "max_in_flight = 2");
    let held = state.in_flight.clone().try_acquire_many_owned(2).unwrap();
    let (status, retry, body) = status_of(&state, recommend_request(None)).await;
    assert_eq!((status, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("max_in_flight"));
    drop(held);
    assert_eq!(status_of(&state, recommend_request(None)).await.0, StatusCode::OK);
    let metrics = router(state.clone()).oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = String::from_utf8(axum::body::to_bytes(metrics.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(text.contains("recforge_shed_total 1"), "{text}");
}

#[tokio::test]
async fn a_body_that_never_arrives_ends_at_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), "request_timeout_s = 0.2");
    let request = Request::builder().method("POST").uri("/v1/recommend").header(header::CONTENT_TYPE, "application/json").body(Body::new(Never)).unwrap();
    let started = Instant::now();
    let (status, retry, body) = status_of(&state, request).await;
    assert_eq!((status, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(body["error"].as_str().unwrap().contains("request_timeout_s"));
}

/// A request body that never sends a byte.
struct Never;

impl http_body::Body for Never {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;
    fn poll_frame(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn read_and_write_tokens_guard_their_endpoints() {
    // SAFETY: the variable name is unique to this test; nothing else reads it.
    unsafe { std::env::set_var("RECFORGE_TEST_READ_TOKEN_7F3", "read-s3cret") };
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), "read_token_env = \"RECFORGE_TEST_READ_TOKEN_7F3\"");
    assert_eq!(status_of(&state, recommend_request(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&state, recommend_request(Some("Bearer nope"))).await.0, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&state, recommend_request(Some("bearer read-s3cret"))).await.0, StatusCode::OK);
    assert_eq!(status_of(&state, recommend_request(Some(&format!("BEARER {TOKEN}")))).await.0, StatusCode::OK);
    let (_, _, issued) = status_of(&state, recommend_request(Some("Bearer read-s3cret"))).await;
    let feedback = |auth: &str| {
        let body = format!(r#"{{"request_id": {}, "item": {}, "reward": 1}}"#, issued["request_id"], issued["items"][0]["item"]);
        Request::builder().method("POST").uri("/v1/feedback").header(header::CONTENT_TYPE, "application/json").header(header::AUTHORIZATION, auth).body(Body::from(body)).unwrap()
    };
    let (status, _, body) = status_of(&state, feedback("Bearer read-s3cret")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(status_of(&state, feedback(&format!("bearer {TOKEN}"))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn healthz_and_the_config_debug_form_show_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), "");
    let (status, _, health) = status_of(&state, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!health.to_string().contains(TOKEN));
    let config: ServeConfig = toml::from_str(&format!("token = \"{TOKEN}\"\nitems = 1\nclusters = 1\nstore = \"redis://:hunter2@10.0.0.1:6379/0\"")).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2") && !debug.contains(TOKEN) && debug.contains("redis://:***@10.0.0.1:6379/0"), "{debug}");
    assert_eq!(recforge_serve::store::redact_url("redis://user:pw@h:1?prefix=x"), "redis://user:***@h:1?prefix=x");
    assert_eq!(recforge_serve::store::redact_url("redis://h:1"), "redis://h:1");
    assert_eq!(recforge_serve::store::redact_url("file:///tmp/a@b"), "file:///tmp/a@b");
}

/// A client that sends half its headers and stalls is disconnected after
/// `header_read_timeout_s`, while other clients are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_cut_off_at_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), "header_read_timeout_s = 0.3");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(recforge_serve::protect::serve_connections(listener, state, async move {
        let _ = stopped.await;
    }));
    let outcome = tokio::task::spawn_blocking(move || {
        let mut slow = std::net::TcpStream::connect(addr).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        slow.write_all(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\n").unwrap();
        let started = Instant::now();
        // Meanwhile a well-behaved client is served.
        let mut good = std::net::TcpStream::connect(addr).unwrap();
        let body = r#"{"context": [[1, 1.0]]}"#;
        write!(good, "POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        let mut answer = String::new();
        good.read_to_string(&mut answer).unwrap();
        // The slow one: the server closes it (maybe after a 408) well before our 5 s.
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest);
        (answer, started.elapsed(), String::from_utf8_lossy(&rest).to_string())
    })
    .await
    .unwrap();
    let (answer, waited, rest) = outcome;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(waited < Duration::from_secs(3), "the slow client held its connection for {waited:?}");
    assert!(!rest.contains("200 OK"), "{rest}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
