//! Label store backends: round trips, idempotent rewrites, exact counts under any write
//! order (property test), durability across reopening (redb) and the Redis store against a
//! real redis-server (at `REDIS_URL`, default redis://127.0.0.1:6379; fails without one) and
//! on the 3-master Redis Cluster `scripts/test.sh` starts (at `REDIS_CLUSTER_URL`; fails
//! without one).

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

/// A hand-made store and log: ids 1..=5 in the log (3 twice, 9 undecodable), labels for 1, 2,
/// 3 and a stray 42 under v1, and 1..=5 under v2.
#[test]
fn labels_stats_counts_missing_duplicated_and_stray_ids_and_export_round_trips() {
    use recforge_data::event_log::{EVENT_FORMAT_VERSION, FileEventLog};
    use recforge_data::{Event, EventLog};
    use recforge_distill::label_store::{export_labels, label_stats};
    let dir = tempfile::tempdir().unwrap();
    let log = FileEventLog::open(&dir.path().join("log")).unwrap();
    let event = |id| Event { v: EVENT_FORMAT_VERSION, id, ts: 0, label: 0.0, features: Default::default() };
    log.append(&[event(1), event(2), event(3), event(3), event(4), event(5)]).unwrap();
    log.append_raw(&[b"not an event".to_vec()]).unwrap();
    let store = RedbLabelStore::open(&dir.path().join("labels.redb")).unwrap();
    store.put(1, &[(1, 0.1), (2, 0.2), (3, 0.3), (42, 4.2)]).unwrap();
    store.put(2, &[(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0)]).unwrap();

    let plain = label_stats(&store, None, None).unwrap();
    assert_eq!(plain.versions.iter().map(|v| (v.version, v.labels, v.missing)).collect::<Vec<_>>(), vec![(1, 4, None), (2, 5, None)]);
    let checked = label_stats(&store, None, Some(&log)).unwrap();
    let events = checked.events.unwrap();
    assert_eq!((events.records, events.distinct_ids, events.undecodable, events.duplicated_ids), (7, 5, 1, 1));
    assert_eq!(events.duplicated_sample, vec![3]);
    let v1 = &checked.versions[0];
    assert_eq!((v1.labels, v1.missing, v1.strays), (4, Some(2), Some(1)));
    assert_eq!((v1.missing_sample.clone(), v1.stray_sample.clone()), (vec![4, 5], vec![42]));
    let v2 = &checked.versions[1];
    assert_eq!((v2.missing, v2.strays), (Some(0), Some(0)));
    assert_eq!(label_stats(&store, Some(2), None).unwrap().versions.len(), 1);

    let out = dir.path().join("v2.parquet");
    let outcome = export_labels(&store, 2, &out).unwrap();
    assert_eq!(outcome.rows, 5);
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch.column(0).as_any().downcast_ref::<arrow_array::UInt64Array>().unwrap().clone();
        let labels = batch.column(1).as_any().downcast_ref::<arrow_array::Float32Array>().unwrap().clone();
        let versions = batch.column(2).as_any().downcast_ref::<arrow_array::UInt64Array>().unwrap().clone();
        rows.extend((0..batch.num_rows()).map(|i| (ids.value(i), labels.value(i), versions.value(i))));
    }
    assert_eq!(rows, vec![(1, 1.0, 2), (2, 2.0, 2), (3, 3.0, 2), (4, 4.0, 2), (5, 5.0, 2)]);
    assert!(export_labels(&store, 7, &dir.path().join("none.parquet")).unwrap_err().to_string().contains("version 7"));
}

#[test]
fn redis_scan_visits_every_label_once() {
    let url = redis_url();
    let store = RedisLabelStore::open(&url).unwrap_or_else(|e| panic!("no Redis server answers at {url} ({e})"));
    let labels: Vec<(u64, f32)> = (0..5000).map(|i| (i, i as f32 * 0.5)).collect();
    store.put(1, &labels).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    store
        .scan(1, &mut |chunk| {
            seen.extend(chunk.iter().copied());
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.len(), 5000);
    assert_eq!(seen.get(&4999), Some(&2499.5));
    store.delete().unwrap();
}

/// Two label sets on the Redis Cluster at `REDIS_CLUSTER_URL` whose keys live on different
/// masters: each round-trips (MULTI of HSET + SADD, HMGET, HSCAN, DEL) on its own master.
#[test]
fn on_a_cluster_label_sets_on_two_masters_round_trip() {
    let base = std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| "redis+cluster://127.0.0.1:30001,127.0.0.1:30002,127.0.0.1:30003".to_string());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut found: Vec<(RedisLabelStore, String)> = Vec::new();
    for i in 0..64 {
        let url = format!("{base}/test-cluster-labels-{}-{nanos}-{i}", std::process::id());
        let store = RedisLabelStore::open(&url)
            .unwrap_or_else(|e| panic!("no Redis Cluster answers at {url} ({e}): run scripts/test.sh, which starts one, or set REDIS_CLUSTER_URL"));
        let master = store.master().unwrap().expect("a cluster names the master of a key");
        if found.iter().all(|(_, m)| *m != master) {
            found.push((store, master));
        }
        if found.len() == 2 {
            break;
        }
    }
    assert_eq!(found.len(), 2, "64 label-set names all hashed to one master");
    assert_ne!(found[0].1, found[1].1);
    for (store, master) in &found {
        round_trip(store);
        let many: Vec<(u64, f32)> = (0..3000).map(|i| (i, i as f32 * 0.25)).collect();
        store.put(5, &many).unwrap();
        let mut seen = 0;
        store
            .scan(5, &mut |chunk| {
                seen += chunk.len();
                Ok(())
            })
            .unwrap();
        assert_eq!((seen, store.count(5).unwrap()), (3000, 3000), "on {master}");
        assert_eq!(store.versions().unwrap(), vec![1, 3, 5]);
        store.delete().unwrap();
        assert_eq!(store.versions().unwrap(), Vec::<u64>::new());
    }
}
