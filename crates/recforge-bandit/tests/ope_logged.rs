//! `recforge bandit ope --log FILE --schema S.toml` at the library level: a generic logged-
//! bandit CSV with a target-policy file gives the hand-computed IPS value; undefined estimates
//! are NaN with a warning; DM/DR intervals are labelled as refitting the reward model; errors
//! name the file and line.

use recforge_bandit::PolicyConfig;
use recforge_bandit::ope::logged::{LogSchema, run_logged};
use recforge_bandit::ope::protocol::BootstrapOptions;

const OPTIONS: BootstrapOptions = BootstrapOptions { resamples: 50, confidence: 0.9, seed: 7 };

fn write(dir: &std::path::Path, log: &str, target: Option<&str>) -> LogSchema {
    std::fs::write(dir.join("log.csv"), log).unwrap();
    let mut schema = String::from("action = \"a\"\nreward = \"r\"\npropensity = \"p\"\ncontext = [\"x\"]\n");
    if let Some(target) = target {
        std::fs::write(dir.join("pi.csv"), target).unwrap();
        schema += "[target]\nfile = \"pi.csv\"\n";
    }
    std::fs::write(dir.join("schema.toml"), schema).unwrap();
    LogSchema::from_file(&dir.join("schema.toml")).unwrap()
}

#[test]
fn a_target_file_is_evaluated_with_every_estimator() {
    let dir = tempfile::tempdir().unwrap();
    // Two actions logged uniformly; the target always picks "b".
    let log = "x,a,r,p\nu,a,0,0.5\nu,b,1,0.5\nv,b,1,0.5\nv,a,1,0.5\n";
    let target = "round,action,probability\n0,b,1\n1,b,1\n2,b,1\n3,b,1\n";
    let schema = write(dir.path(), log, Some(target));
    let report = run_logged(&dir.path().join("log.csv"), &schema, &[], &PolicyConfig::DEFAULT, OPTIONS).unwrap();
    assert_eq!((report.rows, report.actions), (4, 2));
    let estimates = report.target.expect("the target policy's estimates");
    let get = |name: &str| estimates.iter().find(|e| e.estimator == name).unwrap();
    // IPS: (0 + 2·1 + 2·1 + 0) / 4 = 1; replay keeps the two rows logged with "b": mean 1.
    assert!((get("ips").interval.estimate - 1.0).abs() < 1e-12);
    assert!((get("replay").interval.estimate - 1.0).abs() < 1e-12);
    assert_eq!(get("dr").reward_model.as_deref(), Some("refit per resample"));
    assert!(get("ips").reward_model.is_none());
    assert!(report.policies.is_empty());
}

#[test]
fn an_estimate_with_no_matching_round_is_nan_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    // The target takes "a"; three rows logged "a": replay averages those three.
    let log = "x,a,r,p\nu,a,1,0.5\nu,a,0,0.5\nv,a,1,0.5\nv,c,0,0.5\n";
    let target = "round,action,probability\n0,c,0\n0,a,1\n1,a,1\n2,a,1\n3,a,1\n";
    let schema = write(dir.path(), log, Some(target));
    let report = run_logged(&dir.path().join("log.csv"), &schema, &[], &PolicyConfig::DEFAULT, OPTIONS).unwrap();
    let replay = report.target.as_ref().unwrap().iter().find(|e| e.estimator == "replay").unwrap();
    assert!((replay.interval.estimate - 2.0 / 3.0).abs() < 1e-12);
    // A target that never takes the logged action: no round to average, so NaN.
    let target = "round,action,probability\n0,c,1\n1,c,1\n2,c,1\n3,a,1\n";
    let schema = write(dir.path(), log, Some(target));
    let report = run_logged(&dir.path().join("log.csv"), &schema, &[], &PolicyConfig::DEFAULT, OPTIONS).unwrap();
    let replay = report.target.as_ref().unwrap().iter().find(|e| e.estimator == "replay").unwrap();
    assert!(replay.interval.estimate.is_nan() && replay.interval.lower.is_nan());
    assert!(replay.warning.as_deref().is_some_and(|w| w.contains("undefined")), "{replay:?}");
    assert!(report.to_markdown().contains("warning: replay: undefined"));
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["target"][0]["estimate"].is_null());
}

#[test]
fn without_a_target_the_policies_are_trained_on_the_first_half() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::from("x,a,r,p\n");
    for i in 0..200 {
        let x = if i % 2 == 0 { "u" } else { "v" };
        let a = ["a", "b", "c"][i % 3];
        let r = u8::from((x == "u") == (a == "a"));
        log += &format!("{x},{a},{r},0.3333333333\n");
    }
    let schema = write(dir.path(), &log, None);
    let names = vec!["diag_linucb".to_string(), "random".to_string()];
    let report = run_logged(&dir.path().join("log.csv"), &schema, &names, &PolicyConfig::DEFAULT, OPTIONS).unwrap();
    assert_eq!(report.policies.len(), 2);
    assert_eq!((report.policies[0].train_rows, report.policies[0].eval_rows), (100, 100));
    assert!(report.policies.iter().all(|p| p.estimates.len() == 5));
}

#[test]
fn bad_files_name_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let schema = write(dir.path(), "x,a,r,p\nu,a,zero,0.5\n", None);
    let err = run_logged(&dir.path().join("log.csv"), &schema, &["random".into()], &PolicyConfig::DEFAULT, OPTIONS).err().unwrap().to_string();
    assert!(err.contains("log.csv:2") && err.contains("\"r\"") && err.contains("zero"), "{err}");
    let schema = write(dir.path(), "x,a,r,p\nu,a,1,0.5\n", Some("round,action,probability\n0,zzz,1\n"));
    let err = run_logged(&dir.path().join("log.csv"), &schema, &[], &PolicyConfig::DEFAULT, OPTIONS).err().unwrap().to_string();
    assert!(err.contains("pi.csv:2") && err.contains("zzz"), "{err}");
    let schema = write(dir.path(), "x,a,r,p\nu,a,1,0.5\n", Some("round,action,probability\n0,a,0.5\n"));
    let err = run_logged(&dir.path().join("log.csv"), &schema, &[], &PolicyConfig::DEFAULT, OPTIONS).err().unwrap().to_string();
    assert!(err.contains("sum to 0.5"), "{err}");
}
