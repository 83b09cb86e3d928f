//! The Redis store against a real redis-server: two replicas adding Diag-LinUCB partial sums
//! concurrently end with exactly the sequential state, a retried feedback counts once across
//! replicas, and feedback sent to one replica for a request issued by the other is accepted.
//!
//! Each runs on one server and on a Redis Cluster. Needs a Redis server at `REDIS_URL` (default
//! redis://127.0.0.1:6379) and the 3-master cluster at `REDIS_CLUSTER_URL` (default
//! redis+cluster://127.0.0.1:30001,127.0.0.1:30002,127.0.0.1:30003) and fails without them:
//! `scripts/test.sh` starts both.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use recforge_bandit::{ClusterContext, DiagLinUcb};
use recforge_serve::store::{IssuedRequest, now_ms};
use recforge_serve::{BanditStore, RedisStore};

/// Held by every test that uses the cluster: one of them pauses a master, which must not
/// time out another's calls.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cluster_lock() -> std::sync::MutexGuard<'static, ()> {
    CLUSTER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The Redis server at `REDIS_URL` (default redis://127.0.0.1:6379).
fn server_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string()).trim_end_matches('/').to_string()
}

/// The Redis Cluster at `REDIS_CLUSTER_URL` (default: the three masters `scripts/test.sh` starts).
fn cluster_url() -> String {
    std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| "redis+cluster://127.0.0.1:30001,127.0.0.1:30002,127.0.0.1:30003".to_string())
}

/// A store on a fresh key prefix at `base` (`params` appended to the query); fails when no
/// server answers.
fn store_at(base: &str, params: &str) -> RedisStore {
    let prefix = format!("recforge-test:{:016x}:", rand::rng().random::<u64>());
    let url = format!("{base}?prefix={prefix}{params}");
    RedisStore::open(&url).unwrap_or_else(|e| panic!("no Redis answers at {url} ({e}): run scripts/test.sh, which starts a server and a cluster, or set REDIS_URL / REDIS_CLUSTER_URL"))
}

fn same_prefix(store: &RedisStore) -> RedisStore {
    RedisStore::open(store.url()).expect("second replica connects")
}

#[test]
fn two_replicas_merge_to_the_sequential_state() {
    two_replicas_merge(&server_url());
}

/// The same on a Redis Cluster, with the clusters' edge hashes spread over several masters.
#[test]
fn on_a_cluster_two_replicas_merge_to_the_sequential_state() {
    let _cluster = cluster_lock();
    let store = store_at(&cluster_url(), "");
    let masters: std::collections::BTreeSet<String> = (0..6).map(|c| store.edge_master(c).unwrap().expect("a cluster names the master of a key")).collect();
    assert!(masters.len() >= 2, "the edges of clusters 0..6 all live on {masters:?}");
    two_replicas_merge(&cluster_url());
}

fn two_replicas_merge(base: &str) {
    let a = store_at(base, "");
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
    requests_are_shared(&server_url());
    let _cluster = cluster_lock();
    requests_are_shared(&cluster_url());
}

fn requests_are_shared(base: &str) {
    let a = store_at(base, "");
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
    for (_, id) in ids {
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

/// On a Redis Cluster: the master holding a cluster's edges paused (`CLIENT PAUSE` on that node)
/// makes reads of those edges fail after the timeouts instead of hanging until it wakes, and
/// they work again once it does; every master dropping the store's pooled connections
/// (a restarted node looks like this to a client) costs the caller nothing.
#[test]
fn on_a_cluster_a_paused_master_times_out_and_killed_connections_are_replaced() {
    let _cluster = cluster_lock();
    let store = store_at(&cluster_url(), "&timeout_ms=150");
    let far = now_ms() + 600_000;
    let deltas: Vec<_> = DiagLinUcb::deltas(&ClusterContext::one_hot(0), 1, 1.0).collect();
    assert!(store.apply_feedback("before/1", &deltas, far).unwrap());
    let master = store.edge_master(0).unwrap().expect("a cluster names the master of a key");
    const PAUSE_MS: u64 = 3000;
    let mut admin = redis::Client::open(format!("redis://{master}")).unwrap().get_connection().unwrap();
    let _: String = redis::cmd("CLIENT").arg("PAUSE").arg(PAUSE_MS).arg("ALL").query(&mut admin).unwrap();
    let paused_at = std::time::Instant::now();
    let paused = store.edges(&[0]);
    let waited = paused_at.elapsed();
    assert!(paused.is_err(), "reading edges on the paused master {master} fails");
    assert!(waited < std::time::Duration::from_millis(PAUSE_MS - 300), "it failed after {waited:?}, not when the master woke");
    std::thread::sleep(std::time::Duration::from_millis(PAUSE_MS + 100).saturating_sub(paused_at.elapsed()));
    let edges = store.edges(&[0]).expect("answers again once the master does");
    assert_eq!(edges[&(0, 1)].sum_wr, 1.0);
    // Every master drops this store's pooled connections: the next calls redial.
    let ids = store.connection_ids().unwrap();
    assert!(ids.len() >= 2, "one connection per master: {ids:?}");
    for (node, id) in ids {
        let mut admin = redis::Client::open(format!("redis://{node}")).unwrap().get_connection().unwrap();
        let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut admin).unwrap();
    }
    assert!(store.apply_feedback("after/1", &deltas, far).expect("stale pooled connections are replaced"));
    assert_eq!(store.edges(&[0]).unwrap()[&(0, 1)].sum_wr, 2.0);
}

/// A `redis-server` of this test's own on `port`, with every write fsynced to its append-only
/// file in `dir` before it answers (`appendfsync always`, what a durable deployment runs), so
/// what it acknowledged survives a `kill -9`. Fails when no `redis-server` is installed.
fn start_private_redis(port: u16, dir: &std::path::Path) -> std::process::Child {
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always"])
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test.sh installs it)");
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    for _ in 0..100 {
        if client.get_connection().and_then(|mut c| redis::cmd("PING").query::<String>(&mut c)).is_ok() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the private redis-server on port {port} did not answer within 5 s");
}

/// Redis restarted under the store: the server is killed (`kill -9`) after acknowledging
/// feedback, calls while it is down fail within their timeouts instead of hanging, and once a
/// new server is up on the same port and data folder the same store (no reopen) answers again
/// with every acknowledged update intact — and a retried feedback still counts once.
#[test]
fn a_restarted_redis_keeps_acknowledged_feedback_and_the_store_redials() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = start_private_redis(port, dir.path());
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}?prefix=restart:&timeout_ms=200")).expect("open");
    let far = now_ms() + 600_000;
    let mut sequential = DiagLinUcb::new(1.0);
    let mut applied = Vec::new();
    for k in 0..40u32 {
        let (ctx, item, reward) = (ClusterContext::new([(k % 3, 0.6), (3, 0.8)]), k % 5, f64::from(k % 4 == 0));
        let deltas: Vec<_> = DiagLinUcb::deltas(&ctx, item, reward).collect();
        assert!(store.apply_feedback(&format!("req{k}/{item}"), &deltas, far).expect("acknowledged"));
        use recforge_bandit::Scorer;
        sequential.update(&ctx, item, reward);
        applied.push((format!("req{k}/{item}"), deltas));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let started = std::time::Instant::now();
    assert!(store.ping().is_err(), "a call while Redis is down fails");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "it failed after {:?}", started.elapsed());

    let mut server = start_private_redis(port, dir.path());
    store.ping().expect("the same store answers once Redis is back");
    let clusters: Vec<u32> = (0..4).collect();
    let stored = store.edges(&clusters).expect("read edges after the restart");
    assert_eq!(stored.len(), sequential.num_edges(), "every acknowledged edge survived");
    for (&(c, i), s) in &stored {
        let e = sequential.edge(c, i);
        assert!((e.sum_w2 - s.sum_w2).abs() < 1e-9 && (e.sum_wr - s.sum_wr).abs() < 1e-9, "edge ({c},{i}): {s:?} vs {e:?}");
    }
    let (key, deltas) = &applied[7];
    assert!(!store.apply_feedback(key, deltas, far).unwrap(), "a retry after the restart is a duplicate");
    server.kill().unwrap();
    server.wait().unwrap();
}
