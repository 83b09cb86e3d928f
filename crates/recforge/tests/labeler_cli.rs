//! The label pipeline with real processes: a tiny teacher trained in the test, a synthetic
//! dataset replayed into an event log, `recforge labeler` killed with SIGKILL mid-stream and
//! restarted — every event ends with exactly one label per teacher version, on the file
//! backends (segmented log + redb), on Redis (at `REDIS_URL`, default
//! redis://127.0.0.1:6379) and on a Redis Cluster (at `REDIS_CLUSTER_URL`); the tests fail
//! without them. Also: Redis unreachable is a clear error after retries, and a
//! refreshing labeler swaps teacher versions without losing or doubling a label.

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use recforge_data::{EventLog, open_event_log};
use recforge_distill::{LabelStore, RedbLabelStore, open_label_store};

const EVENTS: u64 = 4000;

mod common;
use common::Workspace;

impl Workspace {
    /// Synthesises a log and trains a small teacher on it.
    fn with_teacher() -> Self {
        let ws = Workspace::new();
        ws.synth_with_seed(EVENTS, 5);
        std::fs::write(
            ws.path("teacher.toml"),
            "[data]\nschema = \"synth/schema.toml\"\n\n[model]\nkind = \"mlp\"\nembedding_dim = 8\nhidden = [16]\n\n[train]\nepochs = 1\nbatch_size = 256\nlr = 0.003\npatience = 0\neval_batch_size = 64\n",
        )
        .expect("write config");
        ws.recforge().arg("train").arg(ws.path("teacher.toml")).arg("--out").arg(ws.path("teacher")).assert().success();
        ws
    }

    fn replay(&self, to: &str) {
        self.recforge().args(["events", "replay"]).arg(self.path("synth/schema.toml")).args(["--to", to, "--batch", "500"]).assert().success().stdout(contains(format!("appended {EVENTS} events")));
    }

    /// A labeler process, started in the background.
    fn spawn_labeler(&self, events: &str, labels: &str, extra: &[&str]) -> Child {
        Process::new(cargo_bin("recforge"))
            .current_dir(self.dir.path())
            .env("RECFORGE_DATA", self.path("data"))
            .args(["--log", "warn", "labeler", "--events", events, "--labels", labels, "--teacher"])
            .arg(self.path("teacher"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start labeler")
    }
}

/// Waits until `progress()` passes `at_least`, then SIGKILLs the child; returns the progress.
fn kill_when(child: &mut Child, at_least: u64, progress: impl Fn() -> u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = progress();
        if done >= at_least {
            child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
            let _ = child.wait();
            return done;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("labeler exited ({status}) before it could be killed");
        }
        assert!(Instant::now() < deadline, "labeler made no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn finish(child: Child) {
    let out = child.wait_with_output().expect("labeler output");
    assert!(out.status.success(), "labeler failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every example id in the log has exactly one label under `version`, and nothing else does.
fn assert_exactly_once(log: &dyn EventLog, store: &dyn LabelStore, version: u64) {
    let ids: Vec<u64> = log.read(0, EVENTS as usize + 10).expect("read log").iter().map(|d| d.event.id).collect();
    assert_eq!(ids.len() as u64, EVENTS);
    let labels = store.get(version, &ids).expect("labels");
    let missing: Vec<u64> = ids.iter().zip(&labels).filter(|(_, l)| l.is_none()).map(|(id, _)| *id).collect();
    assert!(missing.is_empty(), "{} events lack a v{version} label, e.g. {:?}", missing.len(), &missing[..missing.len().min(5)]);
    assert!(labels.iter().flatten().all(|l| l.is_finite()));
    assert_eq!(store.count(version).expect("count"), EVENTS, "one label per event, no strays");
}

fn committed(path: &Path) -> u64 {
    std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn file_backends_survive_kill_9_with_exactly_one_label_per_event() {
    let ws = Workspace::with_teacher();
    let events = format!("file://{}", ws.path("log").display());
    let labels = format!("file://{}", ws.path("labels.redb").display());
    ws.replay(&events);
    let args = ["--batch", "16", "--workers", "2", "--idle-exit", "1"];
    let mut child = ws.spawn_labeler(&events, &labels, &args);
    let offset_file = ws.path("log/groups/labelers.offset");
    let at_kill = kill_when(&mut child, 200, || committed(&offset_file));
    assert!(at_kill < EVENTS, "the labeler was killed mid-stream (at offset {at_kill})");
    // Restart: it resumes from the committed offset and finishes the stream.
    finish(ws.spawn_labeler(&events, &labels, &args));
    assert_eq!(committed(&offset_file), EVENTS);
    let log = open_event_log(&events).unwrap();
    let store = RedbLabelStore::open(&ws.path("labels.redb")).unwrap();
    assert_exactly_once(log.as_ref(), &store, 1);
    assert_eq!(store.versions().unwrap(), vec![1]);
}

#[test]
fn a_refreshing_labeler_swaps_versions_and_labels_each_event_once() {
    let ws = Workspace::with_teacher();
    let events = format!("file://{}", ws.path("log").display());
    let labels = format!("file://{}", ws.path("labels.redb").display());
    ws.replay(&events);
    let refresh = ws.path("teachers");
    let out = ws
        .recforge()
        .args(["labeler", "--events", &events, "--labels", &labels, "--teacher"])
        .arg(ws.path("teacher"))
        .args(["--batch-size", "250", "--refresh-every", "1500", "--refresh-window", "1000", "--refresh-steps", "3", "--idle-exit", "1", "--out", "stats.json", "--refresh-dir"])
        .arg(&refresh)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(ws.path("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["refreshes"], 2, "{}", String::from_utf8_lossy(&out));
    assert_eq!(stats["versions"], serde_json::json!([1, 2, 3]));
    assert!(refresh.join("v2/model.bpk").is_file() && refresh.join("v3/teacher.json").is_file());
    let pointer: serde_json::Value = serde_json::from_slice(&std::fs::read(refresh.join("CURRENT")).unwrap()).unwrap();
    assert_eq!(pointer["version"], 3);
    // Each event was labelled exactly once, by the version current when it arrived.
    let store = RedbLabelStore::open(&ws.path("labels.redb")).unwrap();
    let counts: Vec<u64> = (1..=3).map(|v| store.count(v).unwrap()).collect();
    assert_eq!(counts, vec![1500, 1500, 1000]);
    assert_eq!(stats["forward_passes"].as_u64().unwrap(), (EVENTS / 250) * 4, "250-event batches in 64-example passes");
}

#[test]
fn unreachable_redis_fails_with_a_clear_error_after_backoff() {
    let ws = Workspace::with_teacher();
    ws.recforge()
        .args(["labeler", "--events", "redis://127.0.0.1:1/ev?retries=3&backoff_ms=20", "--labels", "mem://", "--teacher"])
        .arg(ws.path("teacher"))
        .assert()
        .failure()
        .stderr(contains("redis://127.0.0.1:1/ev").and(contains("3 attempts")).and(contains("redis-server")));
}

fn redis_base() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    url.trim_end_matches('/').to_string()
}

#[test]
fn redis_labelers_share_a_group_and_survive_kill_9() {
    let base = redis_base();
    let tag = unique_tag();
    labelers_share_a_group(&format!("{base}/test-ev-{tag}"), &format!("{base}/test-lb-{tag}"));
}

/// The same on the 3-master Redis Cluster at `REDIS_CLUSTER_URL` (`scripts/test.sh` starts it;
/// the test fails without it), with the event stream and the label set on different masters.
#[test]
fn on_a_cluster_redis_labelers_share_a_group_and_survive_kill_9() {
    let base = std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| "redis+cluster://127.0.0.1:30001,127.0.0.1:30002,127.0.0.1:30003".to_string());
    let tag = unique_tag();
    let events = format!("{base}/test-ev-{tag}");
    let log = recforge_data::event_log::RedisEventLog::open(&events)
        .unwrap_or_else(|e| panic!("no Redis Cluster answers at {base} ({e}): run scripts/test.sh, which starts one, or set REDIS_CLUSTER_URL"));
    let events_master = log.master().unwrap().expect("a cluster names the master of a key");
    let labels = (0..64)
        .map(|i| format!("{base}/test-lb-{tag}-{i}"))
        .find(|url| recforge_distill::RedisLabelStore::open(url).unwrap().master().unwrap().as_ref() != Some(&events_master))
        .expect("a label-set name on another master than the events");
    labelers_share_a_group(&events, &labels);
}

fn unique_tag() -> String {
    format!("{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()))
}

/// Two labelers share the group on `events`; one is killed mid-stream and the survivor claims
/// its pending events; the killed one is restarted under its name and helps finish: every event
/// has exactly one label in `labels`.
fn labelers_share_a_group(events: &str, labels: &str) {
    let ws = Workspace::with_teacher();
    let events = format!("{events}?claim_idle_ms=300");
    ws.replay(&events);
    let log = open_event_log(&events).unwrap();
    let store = open_label_store(labels).unwrap();
    let mut doomed = ws.spawn_labeler(&events, labels, &["--batch", "16", "--consumer", "doomed", "--idle-exit", "2"]);
    let survivor = ws.spawn_labeler(&events, labels, &["--batch", "16", "--consumer", "survivor", "--idle-exit", "2"]);
    let at_kill = kill_when(&mut doomed, 300, || store.count(1).unwrap_or(0));
    assert!(at_kill < EVENTS, "killed mid-stream (at {at_kill} labels)");
    let restarted = ws.spawn_labeler(&events, labels, &["--batch", "16", "--consumer", "doomed", "--idle-exit", "2"]);
    finish(survivor);
    finish(restarted);
    assert_exactly_once(log.as_ref(), store.as_ref(), 1);
    // Clean up this test's keys.
    if let (Ok(l), Ok(s)) = (recforge_data::event_log::RedisEventLog::open(&events), recforge_distill::RedisLabelStore::open(labels)) {
        let _ = l.delete();
        let _ = s.delete();
    }
}

#[test]
fn replay_takes_a_schema_with_data_and_limit_and_prints_json() {
    let ws = Workspace::new();
    ws.synth(500);
    let to = format!("file://{}", ws.path("log").display());
    let out = ws.recforge().args(["events", "replay", "--data", "synth/schema.toml", "--to", &to, "--limit", "120", "--json"]).assert().success();
    let printed: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("stdout is JSON only");
    assert_eq!(printed["events"], 120);
    assert_eq!(printed["first_offset"], 0);
    ws.recforge().args(["events", "replay", "--dataset", "nope", "--to", &to]).assert().failure().stderr(contains("ml-1m, ml-100k or obd"));
}

#[test]
fn poison_events_are_dead_lettered_and_the_commands_see_inside() {
    let ws = Workspace::with_teacher();
    let events = format!("file://{}", ws.path("log").display());
    let labels = format!("file://{}", ws.path("labels.redb").display());
    ws.replay(&events);
    {
        let log = open_event_log(&events).unwrap();
        // An undecodable record and an event the teacher's encoder rejects (no features).
        log.append_raw(&[b"{broken".to_vec()]).unwrap();
        let bare = recforge_data::Event { v: recforge_data::event_log::EVENT_FORMAT_VERSION, id: 9_999_999, ts: 0, label: 1.0, features: Default::default() };
        log.append(&[bare]).unwrap();
    }
    let out = ws.recforge().args(["labeler", "--events", &events, "--labels", &labels, "--batch-size", "500", "--idle-exit", "0.5", "--json", "--teacher"]).arg(ws.path("teacher")).assert().success();
    let stats: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!((stats["events"].as_u64(), stats["dead_letters"].as_u64()), (Some(EVENTS), Some(2)), "{stats}");

    let out = ws.recforge().args(["events", "stats", "--events", &events, "--json"]).assert().success();
    let log_stats: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(log_stats["end_offset"].as_u64(), Some(EVENTS + 2));
    assert_eq!(log_stats["dead_letters"].as_u64(), Some(2));
    assert_eq!(log_stats["groups"][0]["group"], "labelers");
    assert_eq!((log_stats["groups"][0]["committed"].as_u64(), log_stats["groups"][0]["lag"].as_u64()), (Some(EVENTS + 2), Some(0)));

    ws.recforge().args(["events", "dead-letter", "--events", &events]).assert().success().stdout(contains(format!("offset {EVENTS} ")).and(contains("not an event")).and(contains("missing")).and(contains("2 dead letter(s)")));
    ws.recforge().args(["events", "verify", "--events", &events]).assert().success().stdout(contains("0 corrupt segment(s)"));

    let out = ws.recforge().args(["labels", "stats", "--labels", &labels, "--events", &events, "--json"]).assert().success();
    let label_stats: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let v1 = &label_stats["versions"][0];
    assert_eq!((v1["version"].as_u64(), v1["labels"].as_u64()), (Some(1), Some(EVENTS)));
    assert_eq!((v1["missing"].as_u64(), v1["strays"].as_u64()), (Some(1), Some(0)), "only the rejected event lacks a label: {label_stats}");
    assert_eq!(v1["missing_sample"][0].as_u64(), Some(9_999_999));
    assert_eq!(label_stats["events"]["undecodable"].as_u64(), Some(1));
    ws.recforge().args(["labels", "export", "--labels", &labels, "--version", "1", "--out"]).arg(ws.path("v1.parquet")).assert().success().stdout(contains(format!("wrote {EVENTS} labels")));
    assert!(ws.path("v1.parquet").is_file());
    ws.recforge().args(["labels", "stats", "--labels", "file:///nonexistent/x.redb"]).assert().failure().stderr(contains("does not exist"));
}
