//! Property tests over request bodies (issue 18): arbitrary JSON shapes and numbers sent to
//! `/v1/recommend` and `/v1/feedback` never get a 5xx, never leave a non-finite number in the
//! bandit state, and the store always reopens afterwards with the same state.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use proptest::prelude::*;
use recforge_serve::{AppState, BanditStore, FileStore, ServeConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "t0k3n";
const CLUSTERS: u32 = 4;

fn state(dir: &std::path::Path) -> Arc<AppState> {
    let config: ServeConfig = toml::from_str(&format!("token = \"{TOKEN}\"\nitems = 8\nclusters = {CLUSTERS}\nk = 3\nreward_range = [-1e9, 1e9]\n")).unwrap();
    let store: Arc<dyn BanditStore> = Arc::new(FileStore::open(dir, 3).expect("the store opens"));
    AppState::with_store(config, TOKEN.into(), store).unwrap()
}

async fn send(state: &Arc<AppState>, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(body))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Numbers as JSON text, including the ones that broke the service: huge, tiny, negative,
/// out of f64 range, integers past u32 and u64.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_filter("JSON has no NaN/inf", |v| v.is_finite()).prop_map(|v| format!("{v:e}")),
        Just("1.7e308".to_string()),
        Just("1e200".to_string()),
        Just("1e999".to_string()),
        Just("-1e999".to_string()),
        Just("5e-324".to_string()),
        Just("-0".to_string()),
        Just("0".to_string()),
        Just("1".to_string()),
        Just("4294967296".to_string()),
        Just("18446744073709551616".to_string()),
        (0u32..6).prop_map(|v| v.to_string()),
        (-3i64..3).prop_map(|v| v.to_string()),
    ]
}

/// Any JSON value, as text, nesting a few levels deep.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![number(), Just("null".into()), Just("true".into()), "[a-z0-9\"\\\\]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap())];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((prop_oneof![Just("context"), Just("k"), Just("user_id"), Just("embedding"), Just("reward"), Just("x")], inner), 0..3)
                .prop_map(|v| format!("{{{}}}", v.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect::<Vec<_>>().join(","))),
        ]
    })
}

/// Bodies close to valid ones: a context of pairs with arbitrary numbers and an optional k.
fn recommend_body() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::collection::vec((number(), number()), 0..5), prop::option::of(number())).prop_map(|(pairs, k)| {
            let pairs: Vec<String> = pairs.iter().map(|(c, w)| format!("[{c},{w}]")).collect();
            match k {
                Some(k) => format!("{{\"context\":[{}],\"k\":{k}}}", pairs.join(",")),
                None => format!("{{\"context\":[{}]}}", pairs.join(",")),
            }
        }),
        json_text(),
        "[ -~]{0,40}",
    ]
}

/// The state on disk and in memory: every edge sum finite.
fn assert_finite(state: &AppState) {
    let clusters: Vec<u32> = (0..CLUSTERS).collect();
    for (edge, stats) in state.store.edges(&clusters).unwrap() {
        assert!(stats.sum_w2.is_finite() && stats.sum_wr.is_finite(), "edge {edge:?}: {stats:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_body_gets_a_5xx_or_leaves_non_finite_state(bodies in prop::collection::vec((recommend_body(), number(), prop::bool::ANY, json_text()), 1..6)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let before = runtime.block_on(async {
            let state = state(dir.path());
            for (recommend, reward, use_item, other) in &bodies {
                let (status, answer) = send(&state, "/v1/recommend", recommend.clone().into_bytes()).await;
                prop_assert!(status.as_u16() < 500, "recommend {recommend} → {status} {answer}");
                if status == StatusCode::OK {
                    let item = if *use_item { answer["items"][0]["item"].clone() } else { json!("nope") };
                    let feedback = format!("{{\"request_id\":{},\"item\":{},\"reward\":{reward}}}", answer["request_id"], item);
                    let (status, answer) = send(&state, "/v1/feedback", feedback.clone().into_bytes()).await;
                    prop_assert!(status.as_u16() < 500, "feedback {feedback} → {status} {answer}");
                }
                for uri in ["/v1/recommend", "/v1/feedback"] {
                    let (status, answer) = send(&state, uri, other.clone().into_bytes()).await;
                    prop_assert!(status.as_u16() < 500, "{uri} {other} → {status} {answer}");
                }
                assert_finite(&state);
            }
            Ok::<_, TestCaseError>(state.store.edges(&(0..CLUSTERS).collect::<Vec<_>>()).unwrap())
        })?;
        // Restart: the store reopens with exactly the state it had.
        let state = state(dir.path());
        assert_finite(&state);
        prop_assert_eq!(state.store.edges(&(0..CLUSTERS).collect::<Vec<_>>()).unwrap(), before);
    }
}
