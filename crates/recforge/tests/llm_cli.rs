//! End-to-end runs of `recforge llm make-data`, `finetune` and `evaluate` on a generated
//! RecBole-format movie log and a tiny random llama: files and keys as documented,
//! deterministic data, clear errors, a resumable run folder, and results for every task.

mod common;

use std::path::Path;

use common::Workspace;
use predicates::str::contains;
use serde_json::Value;

const SCHEMA: &str = r#"
name = "tiny-movies"
timestamp = "timestamp"
user = "user_id"
item = "item_id"

[source]
path = "movies.inter"
format = "recbole"

[[joins]]
path = "movies.item"
format = "recbole"
on = "item_id"

[[features]]
name = "user_id"
kind = "categorical"
side = "user"

[[features]]
name = "item_id"
kind = "categorical"
side = "item"

[[features]]
name = "genre"
kind = "multi_categorical"
separator = " "
side = "item"
"#;

/// 24 users × 8 of 16 films, RecBole atomic files with short titles.
fn write_movies(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let title = |i: u32| format!("F{i} ({})", 1980 + i);
    let mut items = String::from("item_id:token\tmovie_title:token\trelease_year:float\tgenre:token_seq\n");
    for i in 1..=16 {
        items.push_str(&format!("{}\tF{i}\t{}\t{}\n", title(i), 1980 + i, if i % 2 == 0 { "Drama" } else { "Comedy Action" }));
    }
    let mut inter = String::from("user_id:token\titem_id:token\trating:float\ttimestamp:float\n");
    for u in 0..24u32 {
        for j in 0..8u32 {
            let item = (u * 3 + j) % 16 + 1;
            inter.push_str(&format!("u{u}\t{}\t{}\t{}\n", title(item), (u + j) % 5 + 1, 1000 * u + j));
        }
    }
    std::fs::write(dir.join("movies.item"), items).unwrap();
    std::fs::write(dir.join("movies.inter"), inter).unwrap();
    std::fs::write(dir.join("schema.toml"), SCHEMA).unwrap();
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn make_data_finetune_evaluate_end_to_end() {
    let ws = Workspace::new();
    write_movies(&ws.path("movies"));
    let schema = ws.path("movies/schema.toml");
    let model = recforge_llm::tiny::write_tiny_llama(ws.dir.path(), 5).unwrap();
    let make = |out: &str| {
        ws.recforge()
            .args(["llm", "make-data", "--dataset"])
            .arg(&schema)
            .args(["--history", "3", "--eval-users", "4", "--seed", "9", "--out"])
            .arg(ws.path(out))
            .assert()
            .success();
    };
    make("data-a");
    make("data-b");
    let a = std::fs::read_to_string(ws.path("data-a/train.jsonl")).unwrap();
    assert_eq!(a, std::fs::read_to_string(ws.path("data-b/train.jsonl")).unwrap(), "same seed, same file");
    let first: Value = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    for key in ["task", "prompt", "target"] {
        assert!(first[key].is_string(), "{key} in {first}");
    }
    let meta = json(&ws.path("data-a/meta.json"));
    assert_eq!(meta["per_task"].as_object().unwrap().len(), 6, "{meta}");
    assert_eq!(meta["eval_users"], 4);
    assert_eq!(std::fs::read_to_string(ws.path("data-a/eval_users.jsonl")).unwrap().lines().count(), 4);
    ws.recforge()
        .args(["llm", "make-data", "--dataset"])
        .arg(&schema)
        .args(["--tasks", "retrieval,summarise", "--out"])
        .arg(ws.path("bad"))
        .assert()
        .failure()
        .stderr(contains("unknown task \"summarise\""));

    let finetune = |extra: &[&str]| {
        let mut cmd = ws.recforge();
        cmd.args(["llm", "finetune", "--data"])
            .arg(ws.path("data-a"))
            .arg("--model")
            .arg(&model)
            .args(["--lora-rank", "2", "--steps", "2", "--batch-size", "2", "--grad-accum", "1", "--warmup", "1", "--quiet", "--out"])
            .arg(ws.path("run"))
            .args(extra);
        cmd
    };
    finetune(&[]).assert().success();
    for file in ["adapter.safetensors", "adapter_config.json", "optimizer.safetensors", "trainer_state.json", "train_log.jsonl"] {
        assert!(ws.path("run").join(file).exists(), "{file}");
    }
    let summary = json(&ws.path("run/summary.json"));
    assert_eq!(summary["steps"], 2);
    assert!(summary["tokens_per_second"].as_f64().unwrap() > 0.0);
    finetune(&[]).assert().failure().stderr(contains("--resume"));

    ws.recforge()
        .args(["llm", "evaluate", "--model"])
        .arg(&model)
        .arg("--adapters")
        .arg(ws.path("run"))
        .arg("--dataset")
        .arg(&schema)
        .arg("--eval-set")
        .arg(ws.path("data-a/eval_users.jsonl"))
        .args(["--users", "3", "--history", "3", "--beam", "3", "--quiet", "--out"])
        .arg(ws.path("eval"))
        .assert()
        .success();
    let results = json(&ws.path("eval/results.json"));
    assert_eq!(results["users"], 3);
    for task in ["retrieval", "ranking"] {
        let m = &results["metrics"][task];
        for key in ["recall_5", "recall_10", "ndcg_5", "ndcg_10"] {
            let v = m[key].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{task}.{key} = {m}");
        }
        assert!(results["popularity"][task]["recall_10"].is_number());
    }
    assert!(results["metrics"]["rating"]["rmse"].as_f64().unwrap() >= 0.0);
    let outputs = std::fs::read_to_string(ws.path("eval/outputs.jsonl")).unwrap();
    assert_eq!(outputs.lines().count(), 3);
    for line in outputs.lines() {
        let o: Value = serde_json::from_str(line).unwrap();
        assert_eq!(o["ranked"].as_array().unwrap().len(), 1 + 12.min(16 - 8));
        for t in o["retrieved_titles"].as_array().unwrap() {
            assert!(t.as_str().unwrap().starts_with('F'), "{t}");
        }
    }
}
