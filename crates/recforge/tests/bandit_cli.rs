//! End-to-end runs of `recforge bandit simulate | ope` on small logs the tests write: a
//! RecBole rating file with planted tastes, and an Open Bandit Dataset-shaped folder.

use std::fmt::Write as _;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

fn recforge(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("recforge").expect("binary");
    cmd.current_dir(dir).env("RECFORGE_DATA", dir.join("data")).args(["--log", "warn"]);
    cmd
}

/// 60 users × 40 items; users in group g rate items of group g high. Timestamps interleave.
fn write_ratings(path: &Path) {
    let mut text = String::from("user_id:token\titem_id:token\trating:float\ttimestamp:float\n");
    let mut t = 0;
    for round in 0..12u32 {
        for user in 0..60u32 {
            let item = (user * 7 + round * 13) % 40;
            let rating = if user % 2 == item % 2 { 5 } else { 1 };
            t += 1;
            let _ = writeln!(text, "u{user}\tm{item}\t{rating}\t{t}");
        }
    }
    std::fs::write(path, text).expect("write ratings");
}

#[test]
fn simulate_runs_every_policy_and_writes_the_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ratings = dir.path().join("tiny.inter");
    write_ratings(&ratings);
    let out = recforge(dir.path())
        .args(["bandit", "simulate", "--data"])
        .arg(&ratings)
        .args(["--rounds", "3000", "--clusters", "4", "--width", "10", "--top-k", "2", "--mf-epochs", "5", "--fresh-window", "1000"])
        .args(["--policies", "diag_linucb,linucb,egreedy,thompson,beta_thompson,random", "--json", "--out", "sim", "--save-model", "om.json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).expect("JSON report");
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 6);
    for run in runs {
        let regret = run["cumulative_regret"].as_f64().expect("regret");
        assert!(regret.is_finite() && regret >= 0.0, "{run}");
        assert_eq!(run["regret_curve"].as_array().expect("curve").last().expect("point")[0], 3000);
    }
    assert!(report["fresh_items"].as_u64().expect("fresh") > 0);
    let html = std::fs::read_to_string(dir.path().join("sim/report.html")).expect("report");
    assert!(html.contains("Cumulative regret") && html.contains("<svg"));
    let model: Value = serde_json::from_slice(&std::fs::read(dir.path().join("om.json")).expect("artifact")).expect("artifact JSON");
    assert_eq!(model["centroids"].as_array().expect("centroids").len(), 4);
}

#[test]
fn simulate_refuses_an_unknown_policy_and_a_missing_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    recforge(dir.path()).args(["bandit", "simulate", "--data", "nope.inter"]).assert().failure().stderr(contains("nope.inter").and(contains("not found")));
    let ratings = dir.path().join("tiny.inter");
    write_ratings(&ratings);
    recforge(dir.path()).args(["bandit", "simulate", "--policies", "ucb2", "--data"]).arg(&ratings).assert().failure().stderr(contains("unknown policy \"ucb2\""));
}

/// An OBD-shaped folder: 6 items, a uniform-random log and a "BTS" log favouring item 2.
fn write_obd(dir: &Path) {
    let header = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user_feature_2,user_feature_3\n";
    for (policy, favour) in [("random", None), ("bts", Some(2u32))] {
        let folder = dir.join(policy).join("all");
        std::fs::create_dir_all(&folder).expect("mkdir");
        let mut text = String::from(header);
        for row in 0..600u32 {
            let item = match favour {
                Some(f) if row % 2 == 0 => f,
                _ => (row * 5 + row / 7) % 6,
            };
            let position = row % 3 + 1;
            let click = u32::from((item == 2 && row % 5 == 0) || row % 47 == 0);
            let pscore = if favour.is_some() { 0.5 } else { 1.0 / 6.0 };
            let _ = writeln!(text, "{row},2019-11-24 00:00:00+00:00,{item},{position},{click},{pscore},a{},b{},c,d", row % 3, row % 2);
        }
        std::fs::write(folder.join("all.csv"), text).expect("log");
        let mut items = String::from(",item_id,item_feature_0\n");
        for i in 0..6 {
            let _ = writeln!(items, "{i},{i},0.5");
        }
        std::fs::write(folder.join("item_context.csv"), items).expect("items");
    }
}

#[test]
fn ope_validates_bts_and_evaluates_trained_policies() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_obd(&dir.path().join("obd"));
    let out = recforge(dir.path()).args(["bandit", "ope", "--data", "obd", "--resamples", "50", "--json"]).env("RECFORGE_DATA", dir.path()).assert().success().get_output().stdout.clone();
    let report: Value = serde_json::from_slice(&out).expect("JSON");
    let validation = &report["bts_validation"];
    assert_eq!(validation["random_rows"], 600);
    let estimates = validation["estimates"].as_array().expect("estimates");
    assert_eq!(estimates.iter().map(|e| e["estimator"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["replay", "ips", "snips", "dm", "dr"]);
    for e in estimates {
        assert!(e["lower"].as_f64().unwrap() <= e["estimate"].as_f64().unwrap() && e["estimate"].as_f64().unwrap() <= e["upper"].as_f64().unwrap(), "{e}");
    }
    let policies: Vec<&str> = report["policies"].as_array().expect("policies").iter().map(|p| p["policy"].as_str().unwrap_or("")).collect();
    assert_eq!(policies, ["diag_linucb", "linucb", "egreedy", "random"]);
    // The table form prints both experiments.
    recforge(dir.path()).args(["bandit", "ope", "--resamples", "20"]).env("RECFORGE_DATA", dir.path()).assert().success().stdout(contains("on-policy (BTS log)").and(contains("| diag_linucb |")));
}

#[test]
fn ope_names_the_missing_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    recforge(dir.path()).args(["bandit", "ope", "--data", "nowhere"]).assert().failure().stderr(contains("nowhere").and(contains("recforge data fetch --only obd")));
}

#[test]
fn ope_evaluates_a_generic_log_through_a_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("log.csv"), "user,arm,clicked,prob\nu,a,0,0.5\nu,b,1,0.5\nv,b,1,0.5\nv,a,1,0.5\n").unwrap();
    std::fs::write(dir.path().join("pi.csv"), "round,action,probability\n0,b,1\n1,b,1\n2,b,1\n3,b,1\n").unwrap();
    std::fs::write(dir.path().join("schema.toml"), "action = \"arm\"\nreward = \"clicked\"\npropensity = \"prob\"\ncontext = [\"user\"]\n[target]\nfile = \"pi.csv\"\n").unwrap();
    let out = recforge(dir.path()).args(["bandit", "ope", "--data", "log.csv", "--schema", "schema.toml", "--resamples", "20", "--json"]).assert().success().get_output().stdout.clone();
    let report: Value = serde_json::from_slice(&out).expect("JSON");
    let ips = report["target"].as_array().unwrap().iter().find(|e| e["estimator"] == "ips").unwrap();
    assert_eq!(ips["estimate"].as_f64(), Some(1.0));
    recforge(dir.path()).args(["bandit", "ope", "--data", "log.csv", "--schema", "missing.toml"]).assert().failure().stderr(contains("missing.toml"));
}
