//! The Redis Streams event log against a real redis-server: dense offsets, a consumer group
//! split between two consumers, redelivery of a restarted consumer's own pending events, and
//! XAUTOCLAIM of a dead consumer's events. Needs a Redis server at `REDIS_URL` (default
//! redis://127.0.0.1:6379) and fails without one: `scripts/test.sh` starts one. The cluster
//! tests need the 3-master Redis Cluster at `REDIS_CLUSTER_URL` (default
//! redis+cluster://127.0.0.1:30001,127.0.0.1:30002,127.0.0.1:30003), which `scripts/test.sh`
//! starts too, and fail without it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use recforge_data::event_log::{EVENT_FORMAT_VERSION, RedisEventLog};
use recforge_data::{Event, EventLog, FeatureValue};

fn log(params: &str) -> Option<RedisEventLog> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let url = format!("{}/test-events-{}-{nanos}{params}", url.trim_end_matches('/'), std::process::id());
    let log = RedisEventLog::open(&url)
        .unwrap_or_else(|e| panic!("no Redis server answers at {url} ({e}): run scripts/test.sh, which starts one, or set REDIS_URL"));
    Some(log)
}

fn event(id: u64) -> Event {
    let features = BTreeMap::from([("user".to_string(), FeatureValue::Tokens(vec![format!("u{id}")]))]);
    Event { v: EVENT_FORMAT_VERSION, id, ts: id as i64, label: 1.0, features }
}

#[test]
fn offsets_are_dense_and_a_group_splits_the_work() {
    let Some(log) = log("") else { return };
    assert_eq!(log.append(&(0..30).map(event).collect::<Vec<_>>()).unwrap(), 0);
    assert_eq!(log.append(&[event(30)]).unwrap(), 30);
    assert_eq!(log.end_offset().unwrap(), 31);
    let middle = log.read(10, 3).unwrap();
    assert_eq!(middle.iter().map(|d| (d.offset, d.event.id)).collect::<Vec<_>>(), vec![(10, 10), (11, 11), (12, 12)]);
    assert!(middle[0].appended_ms > 0);

    let (mut a, mut b) = (log.consumer("g", "a").unwrap(), log.consumer("g", "b").unwrap());
    let mut seen = BTreeSet::new();
    for _ in 0..10 {
        for consumer in [&mut a, &mut b] {
            let batch = consumer.poll(4, Duration::from_millis(10)).unwrap();
            for d in &batch {
                assert!(seen.insert(d.offset), "offset {} delivered twice", d.offset);
            }
            consumer.commit(&batch.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
        }
    }
    assert_eq!(seen, (0..31).collect::<BTreeSet<u64>>());
    log.delete().unwrap();
}

#[test]
fn pending_events_come_back_to_a_restarted_or_surviving_consumer() {
    let Some(log) = log("?claim_idle_ms=200") else { return };
    log.append(&(0..10).map(event).collect::<Vec<_>>()).unwrap();
    {
        let mut dying = log.consumer("g", "dying").unwrap();
        assert_eq!(dying.poll(4, Duration::ZERO).unwrap().len(), 4);
    } // never committed
    // Restarting under the same name gets its own pending events back first.
    let mut again = log.consumer("g", "dying").unwrap();
    let mine: Vec<u64> = again.poll(10, Duration::ZERO).unwrap().iter().map(|d| d.offset).collect();
    assert_eq!(mine, vec![0, 1, 2, 3]);
    drop(again);
    // Another consumer takes them over once they sat idle past claim_idle_ms.
    let mut survivor = log.consumer("g", "survivor").unwrap();
    let mut got = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while got.len() < 10 && std::time::Instant::now() < deadline {
        let batch = survivor.poll(10, Duration::from_millis(50)).unwrap();
        got.extend(batch.iter().map(|d| d.offset));
        survivor.commit(&batch.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
    }
    assert_eq!(got, (0..10).collect::<BTreeSet<u64>>());
    log.delete().unwrap();
}

#[test]
fn undecodable_entries_go_to_the_dead_stream_are_acknowledged_and_counted() {
    let Some(log) = log("") else { return };
    log.append(&[event(0)]).unwrap();
    log.append_raw(&[b"garbage".to_vec()]).unwrap();
    log.append(&[event(2)]).unwrap();
    let mut consumer = log.consumer("labelers", "c1").unwrap();
    let got = consumer.poll(10, Duration::from_millis(10)).unwrap();
    assert_eq!(got.iter().map(|d| d.offset).collect::<Vec<_>>(), vec![0, 2]);
    consumer.commit(&[0, 2]).unwrap();
    assert_eq!(consumer.dead_lettered(), 1);
    let dead = log.dead_letters(0, 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].offset, dead[0].group.as_str(), dead[0].consumer.as_str(), dead[0].payload.as_str()), (1, "labelers", "c1", "garbage"));
    assert!(dead[0].reason.contains("not an event"), "{}", dead[0].reason);
    // Acknowledged: nothing stays pending, so no labeler crash-loops on it.
    let stats = log.stats().unwrap();
    assert_eq!((stats.end_offset, stats.records, stats.dead_letters), (3, 3, 1));
    let group = &stats.groups[0];
    assert_eq!((group.group.as_str(), group.committed, group.lag, group.pending), ("labelers", 3, 0, Some(0)));
    assert!(log.stream_key().contains('{'), "keys are hash-tagged for Redis Cluster: {}", log.stream_key());
    log.delete().unwrap();
}

#[test]
fn oversized_events_are_rejected_and_trimming_never_passes_a_groups_offset() {
    let Some(log) = log("") else { return };
    let huge = vec![b'x'; recforge_data::event_log::MAX_RECORD_BYTES + 1];
    assert!(matches!(log.append_raw(&[huge]), Err(recforge_data::EventLogError::TooLarge { index: 0, .. })));
    assert_eq!(log.end_offset().unwrap(), 0);
    log.append(&(0..20).map(event).collect::<Vec<_>>()).unwrap();
    let mut slow = log.consumer("slow", "a").unwrap();
    let first = slow.poll(6, Duration::ZERO).unwrap();
    slow.commit(&first.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
    // Delivered but not acknowledged: 6..9 are pending and hold the floor at 6.
    assert_eq!(slow.poll(3, Duration::ZERO).unwrap().len(), 3);
    let outcome = log.trim(&recforge_data::Retention { events: Some(2), ..Default::default() }).unwrap();
    assert_eq!((outcome.min_committed, outcome.removed_records, outcome.first_offset), (Some(6), 6, 6));
    let stats = log.stats().unwrap();
    assert_eq!((stats.first_offset, stats.records, stats.groups[0].committed, stats.groups[0].pending), (6, 14, 6, Some(3)));
    slow.commit(&[6, 7, 8]).unwrap();
    let rest = slow.poll(100, Duration::ZERO).unwrap();
    assert_eq!(rest.first().map(|d| d.offset), Some(9));
    slow.commit(&rest.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
    // Everything committed: MAXLEN 2 now applies in full.
    let outcome = log.trim(&recforge_data::Retention { events: Some(2), ..Default::default() }).unwrap();
    assert_eq!((outcome.first_offset, outcome.removed_records), (18, 12));
    assert_eq!(log.read(0, 10).unwrap().iter().map(|d| d.offset).collect::<Vec<_>>(), vec![18, 19]);
    log.delete().unwrap();
}

#[test]
fn appends_are_idempotent_by_batch_id_and_survive_a_dropped_connection() {
    let Some(log) = log("") else { return };
    log.append(&(0..3).map(event).collect::<Vec<_>>()).unwrap();
    // The reply to a batch was lost and the client sends it again under the same id.
    let batch: Vec<Vec<u8>> = (3..6).map(|i| event(i).to_bytes()).collect();
    assert_eq!(log.append_batch("retry-me", &batch).unwrap(), 3);
    assert_eq!(log.append_batch("retry-me", &batch).unwrap(), 3, "the same id returns the first append's offset");
    assert_eq!(log.end_offset().unwrap(), 6, "and appends nothing");
    // The server drops the log's connection: the next append reconnects and appends once.
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let mut admin = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let ids = log.client_ids().unwrap();
    assert_eq!(ids.len(), 1);
    let killed: u64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(ids[0].1).query(&mut admin).unwrap();
    assert_eq!(killed, 1);
    assert_eq!(log.append(&[event(6)]).unwrap(), 6);
    assert_eq!(log.read(0, 100).unwrap().iter().map(|d| d.event.id).collect::<Vec<_>>(), (0..7).collect::<Vec<_>>());
    log.delete().unwrap();
}

/// The Redis Cluster at `REDIS_CLUSTER_URL` (default: the three masters `scripts/test.sh` starts).
fn cluster_url() -> String {
    std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| "redis+cluster://127.0.0.1:30001,127.0.0.1:30002,127.0.0.1:30003".to_string())
}

/// Two logs on the cluster whose streams live on different masters, with those masters.
fn logs_on_two_masters(params: &str) -> [(RedisEventLog, String); 2] {
    let base = cluster_url();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut found: Vec<(RedisEventLog, String)> = Vec::new();
    for i in 0..64 {
        let url = format!("{base}/test-cluster-{}-{nanos}-{i}{params}", std::process::id());
        let log = RedisEventLog::open(&url)
            .unwrap_or_else(|e| panic!("no Redis Cluster answers at {url} ({e}): run scripts/test.sh, which starts one, or set REDIS_CLUSTER_URL"));
        let master = log.master().unwrap().expect("a cluster names the master of a key");
        if found.iter().all(|(_, m)| *m != master) {
            found.push((log, master));
        }
        if found.len() == 2 {
            break;
        }
    }
    found.try_into().unwrap_or_else(|f: Vec<_>| panic!("64 stream names all hashed to {} master(s)", f.len()))
}

#[test]
fn on_a_cluster_streams_on_two_masters_append_consume_and_count() {
    let logs = logs_on_two_masters("?claim_idle_ms=200");
    assert_ne!(logs[0].1, logs[1].1);
    for (k, (log, master)) in logs.iter().enumerate() {
        let first_id = 1000 * k as u64;
        assert_eq!(log.append(&(first_id..first_id + 25).map(event).collect::<Vec<_>>()).unwrap(), 0, "on {master}");
        let batch: Vec<Vec<u8>> = vec![event(first_id + 25).to_bytes()];
        assert_eq!(log.append_batch("once", &batch).unwrap(), 25);
        assert_eq!(log.append_batch("once", &batch).unwrap(), 25, "an append retried by batch id is not doubled");
        log.append_raw(&[b"garbage".to_vec()]).unwrap();
        assert_eq!(log.end_offset().unwrap(), 27);
        assert_eq!(log.read(24, 2).unwrap().iter().map(|d| (d.offset, d.event.id)).collect::<Vec<_>>(), vec![(24, first_id + 24), (25, first_id + 25)]);
        // Two consumers split the group's work; the undecodable entry is dead-lettered.
        let (mut a, mut b) = (log.consumer("g", "a").unwrap(), log.consumer("g", "b").unwrap());
        let mut seen = BTreeSet::new();
        for _ in 0..10 {
            for consumer in [&mut a, &mut b] {
                let got = consumer.poll(4, Duration::from_millis(10)).unwrap();
                for d in &got {
                    assert!(seen.insert(d.offset), "offset {} delivered twice", d.offset);
                }
                consumer.commit(&got.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
            }
        }
        assert_eq!(seen, (0..26).collect::<BTreeSet<u64>>());
        let stats = log.stats().unwrap();
        assert_eq!((stats.end_offset, stats.records, stats.dead_letters), (27, 27, 1));
        assert_eq!((stats.groups[0].committed, stats.groups[0].lag), (27, 0));
        assert_eq!(log.dead_letters(0, 10).unwrap()[0].offset, 26);
        log.delete().unwrap();
        assert_eq!(log.end_offset().unwrap(), 0);
    }
}

/// Every master drops the log's connections (a failover or a restarted proxy looks like this):
/// the next call reconnects from the seeds, reads the slot map again and succeeds.
#[test]
fn on_a_cluster_dropped_connections_on_every_master_are_replaced() {
    let [(log, _), (other, _)] = logs_on_two_masters("");
    log.append(&(0..3).map(event).collect::<Vec<_>>()).unwrap();
    let ids = log.client_ids().unwrap();
    assert!(ids.len() >= 2, "one connection per master: {ids:?}");
    for (node, id) in &ids {
        let mut admin = redis::Client::open(format!("redis://{node}")).unwrap().get_connection().unwrap();
        let killed: u64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(*id).query(&mut admin).unwrap();
        assert_eq!(killed, 1, "connection {id} on {node}");
    }
    assert_eq!(log.append(&[event(3)]).unwrap(), 3);
    assert_eq!(log.read(0, 10).unwrap().iter().map(|d| d.event.id).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    log.delete().unwrap();
    other.delete().unwrap();
}
