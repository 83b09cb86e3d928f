//! Label store backends: round trips, idempotent rewrites, exact counts under any write
//! order (property test), durability across reopening (redb) and the Redis store against a
//! real redis-server (at `REDIS_URL`, default redis://127.0.0.1:6379; fails without one).

use proptest::prelude::*;
use recforge_distill::{LabelStore, RedbLabelStore, RedisLabelStore, open_label_store};

fn round_trip(store: &dyn LabelStore) {
    store.put(1, &[(10, 0.5), (11, -1.25)]).unwrap();
    store.put(1, &[(10, 0.5)]).unwrap();
    store.put(3, &[(10, 2.0), (12, f32::MIN_POSITIVE)]).unwrap();
    assert_eq!(store.count(1).unwrap(), 2, "rewriting a label does not count it twice");
    assert_eq!(store.count(2).unwrap(), 0);
    assert_eq!(store.get(1, &[10, 11, 12]).unwrap(), vec![Some(0.5), Some(-1.25), None]);
    assert_eq!(store.get(3, &[12, 10]).unwrap(), vec![Some(f32::MIN_POSITIVE), Some(2.0)], "logits round-trip exactly");
    assert_eq!(store.versions().unwrap(), vec![1, 3]);
    assert_eq!(store.latest_version().unwrap(), Some(3));
    store.put(1, &[]).unwrap();
}

#[test]
fn redb_round_trips_is_idempotent_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.redb");
    {
        let store = open_label_store(&format!("file://{}", path.display())).unwrap();
        round_trip(store.as_ref());
    }
    let reopened = RedbLabelStore::open(&path).unwrap();
    assert_eq!(reopened.count(1).unwrap(), 2);
    assert_eq!(reopened.get(3, &[10]).unwrap(), vec![Some(2.0)]);
    // A second process-level handle on the same file is refused with a clear message.
    let err = RedbLabelStore::open(&path).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("labels.redb"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any interleaving of batches, with repeats, ends with one label per (version, id) and
    /// the last-written value for each.
    #[test]
    fn redb_counts_are_exact_under_any_write_order(
        writes in proptest::collection::vec((1u64..4, proptest::collection::vec((0u64..40, -5.0f32..5.0), 0..12)), 1..20)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbLabelStore::open(&dir.path().join("l.redb")).unwrap();
        let mut expected = std::collections::BTreeMap::new();
        for (version, labels) in &writes {
            store.put(*version, labels).unwrap();
            for (id, logit) in labels {
                expected.insert((*version, *id), *logit);
            }
        }
        for version in 1..4u64 {
            let ids: Vec<u64> = (0..40).collect();
            let got = store.get(version, &ids).unwrap();
            let want: Vec<Option<f32>> = ids.iter().map(|id| expected.get(&(version, *id)).copied()).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(store.count(version).unwrap(), expected.keys().filter(|(v, _)| *v == version).count() as u64);
        }
    }
}

/// A Redis URL on a fresh label-set name, on the server at `REDIS_URL` (default
/// redis://127.0.0.1:6379).
fn redis_url() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}/test-labels-{}-{nanos}", url.trim_end_matches('/'), std::process::id())
}

#[test]
fn redis_round_trips_and_is_idempotent() {
    let url = redis_url();
    let store = RedisLabelStore::open(&url).unwrap_or_else(|e| panic!("no Redis server answers at {url} ({e}): run scripts/test.sh, which starts one, or set REDIS_URL"));
    round_trip(&store);
    // A second client sees the same labels.
    let other = open_label_store(&url).unwrap();
    assert_eq!(other.get(1, &[11]).unwrap(), vec![Some(-1.25)]);
    store.delete().unwrap();
    assert_eq!(other.versions().unwrap(), Vec::<u64>::new());
}

#[test]
fn unreachable_redis_is_a_clear_error_after_retries() {
    let err = open_label_store("redis://127.0.0.1:1/x?retries=2&backoff_ms=5").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("redis://127.0.0.1:1/x") && err.contains("2 attempts"), "{err}");
}
