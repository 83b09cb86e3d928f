//! `recforge select` end to end on generated documents: sharded scoring merged equals a
//! single run (Density over the hashed embedder, random), and bad input fails clearly.

use std::path::Path;

use assert_cmd::Command;
use predicates::str::contains;

fn write_docs(path: &Path) {
    let topics = ["stock markets fell sharply today", "the striker scored twice in the final", "bake the bread for forty minutes", "win a free prize click here now"];
    let lines: Vec<String> = (0..60)
        .map(|i| serde_json::json!({"id": i, "source": if i % 4 == 3 { "spam" } else { "clean" }, "text": format!("{} {}", topics[i % 4], "word ".repeat(i % 5))}).to_string())
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn recforge() -> Command {
    Command::cargo_bin("recforge").unwrap()
}

fn ids(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_u64().unwrap()).collect()
}

#[test]
fn sharded_runs_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("docs.jsonl");
    write_docs(&input);
    for sampler in ["density", "random"] {
        let single = dir.path().join(format!("{sampler}-single.jsonl"));
        let common = ["select", "--input", input.to_str().unwrap(), "--sampler", sampler, "--encoder", "hashed", "--keep", "0.25", "--seed", "5"];
        recforge().args(common).args(["--out", single.to_str().unwrap()]).assert().success().stdout(contains("kept 15 of 60"));
        let mut shards = Vec::new();
        for i in 0..3 {
            let out = dir.path().join(format!("{sampler}-{i}.scores.jsonl"));
            recforge().args(common).args(["--shard", &format!("{i}/3"), "--out", out.to_str().unwrap()]).assert().success();
            shards.push(out.to_str().unwrap().to_string());
        }
        let merged = dir.path().join(format!("{sampler}-merged.jsonl"));
        recforge().args(["select", "merge", "--keep", "0.25", "--seed", "5", "--out", merged.to_str().unwrap(), "--scores"]).args(&shards).assert().success();
        assert_eq!(ids(&single), ids(&merged), "{sampler}");
        assert_eq!(std::fs::read_to_string(&single).unwrap(), std::fs::read_to_string(&merged).unwrap());
    }
}

#[test]
fn bad_input_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "{\"text\": \"fine\"}\n{\"body\": \"x\"}\n").unwrap();
    recforge()
        .args(["select", "--input", input.to_str().unwrap(), "--out", dir.path().join("o.jsonl").to_str().unwrap()])
        .assert()
        .failure()
        .stderr(contains("bad.jsonl:2: field \"text\": missing"));
    recforge()
        .args(["select", "--input", input.to_str().unwrap(), "--out", "o.jsonl", "--shard", "3/3"])
        .assert()
        .failure()
        .stderr(contains("--shard must be i/n"));
}
