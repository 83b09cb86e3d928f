//! The Redis store against a real redis-server: two replicas adding Diag-LinUCB partial sums
//! concurrently end with exactly the sequential state, a retried feedback counts once across
//! replicas, and feedback sent to one replica for a request issued by the other is accepted.
//!
//! Needs a Redis server at `REDIS_URL` (default redis://127.0.0.1:6379) and fails without one:
//! `scripts/test.sh` starts one.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use recforge_bandit::{ClusterContext, DiagLinUcb};
use recforge_serve::store::{IssuedRequest, now_ms};
use recforge_serve::{BanditStore, RedisStore};

/// A store on a fresh key prefix on the Redis server at `REDIS_URL` (default
/// redis://127.0.0.1:6379); fails when no server answers.
fn store() -> RedisStore {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let prefix = format!("recforge-test:{:016x}:", rand::rng().random::<u64>());
    let url = format!("{}?prefix={prefix}", url.trim_end_matches('/'));
    RedisStore::open(&url).unwrap_or_else(|e| panic!("no Redis server answers at {url} ({e}): run scripts/test.sh, which starts one, or set REDIS_URL"))
}

fn same_prefix(store: &RedisStore) -> RedisStore {
    RedisStore::open(store.url()).expect("second replica connects")
}

#[test]
fn two_replicas_merge_to_the_sequential_state() {
    let a = store();
    let b = same_prefix(&a);
    let far = now_ms() + 600_000;
    let mut rng = SmallRng::seed_from_u64(9);
    let events: Vec<(ClusterContext, u32, f64)> = (0..400)
        .map(|_| {
            let ctx = ClusterContext::new((0..rng.random_range(1..4)).map(|_| (rng.random_range(0..6u32), rng.random_range(0.05..1.0))));
            (ctx, rng.random_range(0..15u32), f64::from(rng.random::<f64>() < 0.3))
        })
        .collect();
    let mut sequential = DiagLinUcb::new(1.0);
    for (ctx, item, reward) in &events {
        use recforge_bandit::Scorer;
        sequential.update(ctx, *item, *reward);
    }
    let replicas: [Arc<dyn BanditStore>; 2] = [Arc::new(a), Arc::new(b)];
    std::thread::scope(|scope| {
        for (r, replica) in replicas.iter().enumerate() {
            let events = &events;
            scope.spawn(move || {
                for (k, (ctx, item, reward)) in events.iter().enumerate().filter(|(k, _)| k % 2 == r) {
                    let deltas: Vec<_> = DiagLinUcb::deltas(ctx, *item, *reward).collect();
                    assert!(replica.apply_feedback(&format!("req{k}/{item}"), &deltas, far).expect("apply"));
                }
            });
        }
    });
    let clusters: Vec<u32> = (0..6).collect();
    for replica in &replicas {
        let stored = replica.edges(&clusters).expect("read edges");
        assert_eq!(stored.len(), sequential.num_edges());
        for (&(c, i), s) in &stored {
            let e = sequential.edge(c, i);
            assert!((e.sum_w2 - s.sum_w2).abs() < 1e-9 && (e.sum_wr - s.sum_wr).abs() < 1e-9, "edge ({c},{i}): {s:?} vs {e:?}");
        }
    }
    // A retry on the other replica changes nothing.
    let (ctx, item, reward) = &events[0];
    let deltas: Vec<_> = DiagLinUcb::deltas(ctx, *item, *reward).collect();
    assert!(!replicas[1].apply_feedback(&format!("req0/{item}"), &deltas, far).unwrap());
    assert_eq!(replicas[0].edges(&clusters).unwrap().len(), sequential.num_edges());
}

#[test]
fn requests_issued_by_one_replica_are_known_to_the_other_and_expire() {
    let a = store();
    let b = same_prefix(&a);
    let request = IssuedRequest { context: ClusterContext::new([(1, 0.5), (2, 0.5)]), items: vec![3, 4], expires_ms: now_ms() + 60_000 };
    a.put_request("r-1", &request).unwrap();
    assert_eq!(b.get_request("r-1").unwrap(), Some(request));
    let short = IssuedRequest { context: ClusterContext::one_hot(0), items: vec![1], expires_ms: now_ms() + 50 };
    a.put_request("r-2", &short).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(b.get_request("r-2").unwrap(), None);
    assert!(b.ping().is_ok());
}

/// A paused Redis (`CLIENT PAUSE`, like `DEBUG SLEEP` or a stalled server) fails calls after the timeout instead of hanging them, and
/// the store recovers by itself when Redis answers again; pooled connections Redis killed are
/// replaced without an error reaching the caller.
#[test]
fn a_paused_redis_times_out_and_killed_connections_are_replaced() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let prefix = format!("recforge-test:{:016x}:", rand::rng().random::<u64>());
    let store = RedisStore::open(&format!("{}?prefix={prefix}&timeout_ms=150", url.trim_end_matches('/'))).expect("open");
    store.ping().unwrap();
    let admin = redis::Client::open(url.as_str()).unwrap();
    let pauser = std::thread::spawn(move || {
        let mut c = admin.get_connection().unwrap();
        // CLIENT PAUSE (unlike DEBUG SLEEP) needs no enable-debug-command: every client's
        // commands wait, as with a stalled server.
        let _: String = redis::cmd("CLIENT").arg("PAUSE").arg(1200).arg("ALL").query(&mut c).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1300));
    });
    std::thread::sleep(std::time::Duration::from_millis(100));
    let started = std::time::Instant::now();
    let paused = store.ping();
    let waited = started.elapsed();
    assert!(paused.is_err(), "a call to a paused Redis fails");
    assert!(waited < std::time::Duration::from_millis(1100), "it failed after {waited:?}, not when Redis woke");
    pauser.join().unwrap();
    store.ping().expect("answers again once Redis does");
    // Redis drops the store's pooled connection (only this store's: other tests share the
    // server): the next call finds it dead and redials.
    let mut admin = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let ids = store.connection_ids().unwrap();
    assert!(!ids.is_empty());
    for id in ids {
        let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut admin).unwrap();
    }
    let request = IssuedRequest { context: ClusterContext::one_hot(0), items: vec![1], expires_ms: now_ms() + 60_000 };
    store.put_request("after-kill", &request).expect("a stale pooled connection is replaced");
    assert_eq!(store.get_request("after-kill").unwrap(), Some(request));
}

#[test]
fn the_redis_url_password_never_shows() {
    let err = RedisStore::open("redis://:hunter2@127.0.0.1:1/?timeout_ms=100").err().expect("nothing listens on port 1");
    let text = err.to_string();
    assert!(!text.contains("hunter2") && text.contains(":***@127.0.0.1"), "{text}");
}
