//! End-to-end runs of the retrieval commands on a tiny generated sequence log: the zoo
//! trains every row and writes its results, `recforge retrieve` serves a stored user, and
//! `recforge bench retrieval` measures a small corpus.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

mod common;

const SCHEMA: &str = r#"
name = "tiny-seq"
timestamp = "ts"
user = "user_id"
item = "item_id"

[source]
path = "interactions.csv"
format = "csv"

[[joins]]
path = "items.csv"
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
separator = "|"
side = "item"

[[features]]
name = "year"
kind = "categorical"
side = "item"
"#;

/// 60 users × 12 interactions over 40 items in two taste groups; items carry genres.
fn write_tiny_log(dir: &Path) {
    let mut items = String::from("item_id,genre,year\n");
    for i in 0..40 {
        items += &format!("i{i},{}|g{},{}\n", if i < 20 { "drama" } else { "comedy" }, i % 5, 1990 + i % 7);
    }
    std::fs::write(dir.join("items.csv"), items).unwrap();
    std::fs::write(dir.join("interactions.csv"), common::two_group_histories(11, 60, 12, 40)).unwrap();
    std::fs::write(dir.join("schema.toml"), SCHEMA).unwrap();
}

fn recforge(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("recforge").expect("binary");
    cmd.current_dir(dir).env("RECFORGE_DATA", dir.join("data")).args(["--log", "warn"]);
    cmd
}

#[test]
fn zoo_trains_every_row_and_retrieve_serves_a_user() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_tiny_log(dir);
    recforge(dir)
        .args(["retrieval-zoo", "--dataset", "schema.toml", "--seeds", "1,2", "--epochs", "2", "--stage-epochs", "1"])
        .args(["--patience", "1", "--quiet", "--out", "zoo"])
        .assert()
        .success()
        .stdout(contains("mur-idw-cal"));
    let results: Value = serde_json::from_slice(&std::fs::read(dir.join("zoo/results.json")).unwrap()).unwrap();
    let rows = results["results"].as_array().unwrap();
    assert_eq!(rows.len(), 12, "6 rows × 2 seeds");
    for row in rows {
        let hr = row["test"]["full"]["overall"].as_array().unwrap();
        let values: Vec<f64> = hr.iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "HR@K grows with K: {values:?}");
        // 40 items: every target is within the top 200.
        assert_eq!(values[3], 1.0);
    }
    assert_eq!(results["idw_rounds"].as_object().unwrap().len(), 2);
    let report = std::fs::read_to_string(dir.join("zoo/report.html")).unwrap();
    assert!(report.contains("IDW round") && report.contains("<svg"));

    let output = recforge(dir).args(["retrieve", "zoo/mur-idw-cal", "--user", "u1", "-k", "5", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let items: Vec<&str> = answer["items"].as_array().unwrap().iter().map(|i| i["item"].as_str().unwrap()).collect();
    assert_eq!(items.len(), 5);
    let log = std::fs::read_to_string(dir.join("interactions.csv")).unwrap();
    for item in &items {
        assert!(!log.lines().any(|l| l.starts_with("u1,") && l.split(',').nth(1) == Some(item)), "{item} is in u1's history");
    }
    recforge(dir).args(["retrieve", "zoo/sur", "--history", "i1,i2,i3", "-k", "3"]).assert().success();
    recforge(dir)
        .args(["retrieve", "zoo/mur", "--user", "nobody"])
        .assert()
        .failure()
        .stderr(contains("user \"nobody\" is not in"));
}

#[test]
fn zoo_runs_only_the_named_rows_and_puts_sasrec_on_the_same_protocols() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_tiny_log(dir);
    recforge(dir)
        .args(["retrieval-zoo", "--dataset", "schema.toml", "--seeds", "1", "--epochs", "1", "--rows", "popularity,sasrec"])
        .args(["--quiet", "--out", "zoo", "--json"])
        .assert()
        .success();
    let results: Value = serde_json::from_slice(&std::fs::read(dir.join("zoo/results.json")).unwrap()).unwrap();
    let rows: Vec<&str> = results["results"].as_array().unwrap().iter().map(|r| r["row"].as_str().unwrap()).collect();
    assert_eq!(rows, ["popularity", "sasrec"]);
    let sasrec = &results["results"][1]["test"]["full"];
    // 40 items: every target is within the top 200; NDCG@K is reported beside HR@K.
    assert_eq!(sasrec["overall"][3].as_f64(), Some(1.0));
    let ndcg: Vec<f64> = sasrec["ndcg"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(ndcg.windows(2).all(|w| w[0] <= w[1]) && ndcg[0] > 0.0, "{ndcg:?}");
    recforge(dir)
        .args(["retrieval-zoo", "--dataset", "schema.toml", "--rows", "sur,bogus", "--out", "zoo2"])
        .assert()
        .failure()
        .stderr(contains("unknown row \"bogus\""));
}

#[test]
fn bench_retrieval_reports_exact_and_hnsw() {
    let tmp = tempfile::tempdir().unwrap();
    recforge(tmp.path())
        .args(["bench", "retrieval", "--items", "3000", "--dim", "8", "--queries", "50", "--ef", "32"])
        .assert()
        .success()
        .stdout(contains("| exact |").and(contains("hnsw ef=32")));
}
