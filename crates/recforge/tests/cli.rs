//! End-to-end runs of the `recforge` binary on data the tests generate: synthesise a CTR log,
//! prepare it, train, evaluate, and feed it malformed input.

use std::path::{Path, PathBuf};

use predicates::str::contains;
use serde_json::Value;

mod common;
use common::Workspace;

impl Workspace {
    /// Write a synthetic log and a small training config for `model` (a `[model]` TOML body).
    fn synthetic_run_config(&self, rows: u64, model: &str) -> PathBuf {
        self.synth(rows);
        let config = self.path("run.toml");
        std::fs::write(
            &config,
            format!(
                "[data]\nschema = \"synth/schema.toml\"\n\n[model]\n{model}\n\n[train]\nepochs = 3\nbatch_size = 256\nlr = 0.003\npatience = 0\n"
            ),
        )
        .expect("write config");
        config
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("valid json")
}

#[test]
fn train_then_eval_learns_the_planted_signal() {
    let ws = Workspace::new();
    let config = ws.synthetic_run_config(20_000, "kind = \"mlp\"\nembedding_dim = 8\nhidden = [32]");
    ws.recforge().arg("train").arg(&config).args(["--seed", "3", "--out"]).arg(ws.path("run")).assert().success();

    for file in ["config.toml", "model.bpk", "embeddings.bin", "metrics.json", "history.json", "report.html", "model.safetensors", "metadata.json"] {
        assert!(ws.path("run").join(file).is_file(), "run directory lacks {file}");
    }
    let metrics = read_json(&ws.path("run/metrics.json"));
    let auc = metrics["auc"].as_f64().expect("auc");
    assert!(auc > 0.62, "test AUC {auc} should beat 0.5 by a clear margin on the planted signal");
    assert!(metrics["logloss"].as_f64().expect("logloss") < 0.69);
    assert!(metrics["train_examples_per_sec"].as_f64().expect("throughput") > 0.0);
    let report = std::fs::read_to_string(ws.path("run/report.html")).expect("report");
    assert!(report.contains("<svg") && report.contains("Calibration"), "report has its plots");

    // Evaluating the saved run reproduces the test metrics exactly.
    let out = ws.recforge().arg("eval").arg(ws.path("run")).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).expect("utf8");
    let eval: Value = serde_json::from_str(&text).expect("eval prints JSON");
    assert!((eval["auc"].as_f64().expect("auc") - auc).abs() < 1e-9, "eval {eval} vs train {metrics}");

    // Scoring a new file with the run's vocabularies works too.
    ws.recforge()
        .arg("eval")
        .arg(ws.path("run"))
        .arg("--data")
        .arg(ws.path("synth/synthetic.csv"))
        .assert()
        .success()
        .stdout(contains("\"examples\": 20000"));
}

#[test]
fn logistic_regression_trains_and_same_seed_gives_same_metrics() {
    let ws = Workspace::new();
    let config = ws.synthetic_run_config(10_000, "kind = \"lr\"");
    for out in ["a", "b"] {
        ws.recforge().arg("train").arg(&config).args(["--seed", "9", "--out"]).arg(ws.path(out)).assert().success();
    }
    let (a, b) = (read_json(&ws.path("a/metrics.json")), read_json(&ws.path("b/metrics.json")));
    assert!(a["auc"].as_f64().expect("auc") > 0.6);
    assert_eq!(a["auc"], b["auc"], "same seed, same AUC");
    assert_eq!(a["logloss"], b["logloss"], "same seed, same logloss");
}

#[test]
fn malformed_numeric_cell_names_file_line_and_field() {
    let ws = Workspace::new();
    ws.synth(50);
    let csv = ws.path("synth/synthetic.csv");
    let text = std::fs::read_to_string(&csv).expect("csv");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Line 3 of the file (the second data row): its price becomes "abc".
    let mut cells: Vec<String> = lines[2].split(',').map(str::to_string).collect();
    cells[6] = "abc".into();
    lines[2] = cells.join(",");
    std::fs::write(&csv, lines.join("\n") + "\n").expect("write");

    ws.recforge()
        .args(["data", "prepare"])
        .arg(ws.path("synth/schema.toml"))
        .assert()
        .failure()
        .stderr(contains("synthetic.csv:3: field \"price\": expected a number, found \"abc\""));

    ws.recforge()
        .args(["data", "prepare", "--skip-bad-rows"])
        .arg(ws.path("synth/schema.toml"))
        .assert()
        .success()
        .stdout(contains("49 rows"))
        .stdout(contains("skipped 1 malformed rows of 50"));

    // The cache built while skipping never serves a caller that did not ask to skip.
    ws.recforge()
        .args(["data", "prepare"])
        .arg(ws.path("synth/schema.toml"))
        .assert()
        .failure()
        .stderr(contains("expected a number, found \"abc\""));
}

#[test]
fn missing_schema_and_unknown_config_fields_are_clear_errors() {
    let ws = Workspace::new();
    ws.recforge()
        .args(["data", "prepare", "nope.toml"])
        .assert()
        .failure()
        .stderr(contains("nope.toml"));
    std::fs::write(ws.path("bad.toml"), "[data]\nschema = \"x.toml\"\n[model]\nkind = \"mlp\"\nwidth = 3\n").expect("write");
    ws.recforge()
        .arg("train")
        .arg(ws.path("bad.toml"))
        .assert()
        .failure()
        .stderr(contains("bad.toml"))
        .stderr(contains("width"));
}

#[test]
fn a_diverging_run_stops_with_advice() {
    let ws = Workspace::new();
    ws.synth(2_000);
    let config = ws.path("diverge.toml");
    std::fs::write(
        &config,
        "[data]\nschema = \"synth/schema.toml\"\n[model]\nkind = \"mlp\"\n[train]\nlr = 1e30\nsparse_optimizer = { kind = \"sgd\", lr = 1e30 }\n",
    )
    .expect("write");
    ws.recforge()
        .arg("train")
        .arg(&config)
        .assert()
        .failure()
        .stderr(contains("the training loss became"))
        .stderr(contains("lower [train] lr"));
}

#[test]
fn a_schema_without_sparse_features_is_refused_by_attention_models_before_training() {
    let ws = Workspace::new();
    ws.synth(500);
    std::fs::write(
        ws.path("synth/numeric.toml"),
        "[source]\npath = \"synthetic.csv\"\n[label]\ncolumn = \"click\"\n[[features]]\nname = \"price\"\nkind = \"numeric\"\n",
    )
    .expect("write schema");
    std::fs::write(ws.path("numeric.toml"), "[data]\nschema = \"synth/numeric.toml\"\n[model]\nkind = \"hiformer\"\n")
        .expect("write config");
    ws.recforge()
        .arg("train")
        .arg(ws.path("numeric.toml"))
        .assert()
        .failure()
        .stderr(contains("numeric.toml"))
        .stderr(contains("no categorical, multi-categorical or sequence feature"));
}

#[test]
fn inspect_reports_columns_and_label_rate() {
    let ws = Workspace::new();
    ws.synth(500);
    ws.recforge()
        .args(["data", "inspect"])
        .arg(ws.path("synth/synthetic.csv"))
        .arg("--schema")
        .arg(ws.path("synth/schema.toml"))
        .assert()
        .success()
        .stdout(contains("price"))
        .stdout(contains("tags"))
        .stdout(contains("label: click, positive rate"));
}

/// A small Hiformer on the synthetic log (4 sparse fields incl. a bag, 2 numeric features).
const SMALL_HIFORMER: &str =
    "kind = \"hiformer\"\nembedding_dim = 4\nlayers = 2\nheads = 2\nd_head = 2\nd_ff = 8\ntask_tokens = 2\nhidden = [8]";

#[test]
fn export_writes_low_rank_pruned_runs_that_eval_reads() {
    let ws = Workspace::new();
    let config = ws.synthetic_run_config(3_000, SMALL_HIFORMER);
    ws.recforge().arg("train").arg(&config).args(["--epochs", "1", "--out"]).arg(ws.path("run")).assert().success();
    let trained = read_json(&ws.path("run/metrics.json"));

    // Full rank (8 tokens × 4 = 32) and pruning only: the logits, hence the AUC, are unchanged.
    ws.recforge()
        .arg("export")
        .arg(ws.path("run"))
        .args(["--low-rank", "32", "--prune-last-layer", "--latency-calls", "3", "--out"])
        .arg(ws.path("full"))
        .assert()
        .success()
        .stdout(contains("hiformer-r32-pruned"));
    let full = read_json(&ws.path("full/metrics.json"));
    let auc = trained["auc"].as_f64().expect("auc");
    assert!((full["auc"].as_f64().expect("auc") - auc).abs() < 1e-4, "{full} vs {trained}");
    let out = ws.recforge().arg("eval").arg(ws.path("full")).assert().success().get_output().stdout.clone();
    let eval: Value = serde_json::from_slice(&out).expect("eval prints JSON");
    assert!((eval["auc"].as_f64().expect("auc") - auc).abs() < 1e-4);

    // A sweep with fine-tuning writes one run per rank and a summary.
    ws.recforge()
        .arg("export")
        .arg(ws.path("run"))
        .args(["--ranks", "2,4", "--prune-last-layer", "--finetune-steps", "3", "--latency-calls", "3", "--out"])
        .arg(ws.path("sweep"))
        .assert()
        .success();
    let summary = read_json(&ws.path("sweep/export.json"));
    assert_eq!(summary.as_array().expect("rows").len(), 3, "original + two ranks: {summary}");
    for variant in ["hiformer-r2-pruned-ft3", "hiformer-r4-pruned-ft3"] {
        ws.recforge().arg("eval").arg(ws.path("sweep").join(variant)).assert().success();
    }

    // Exporting a model that is not a Hiformer is a clear error.
    let mlp = ws.path("mlp.toml");
    std::fs::write(&mlp, std::fs::read_to_string(&config).expect("config").replace(SMALL_HIFORMER, "kind = \"mlp\"\nhidden = [8]"))
        .expect("write");
    ws.recforge().arg("train").arg(&mlp).args(["--epochs", "1", "--out"]).arg(ws.path("mlp")).assert().success();
    ws.recforge()
        .arg("export")
        .arg(ws.path("mlp"))
        .args(["--low-rank", "4"])
        .assert()
        .failure()
        .stderr(contains("Hiformer"));
}

#[test]
fn zoo_trains_every_requested_model_and_writes_table_json_and_report() {
    let ws = Workspace::new();
    ws.synth(2_000);
    let configs = ws.path("configs");
    std::fs::create_dir_all(&configs).expect("configs dir");
    for (model, body) in [("lr", "kind = \"lr\""), ("dcn_v2", "kind = \"dcn_v2\"\nembedding_dim = 4\nhidden = [8]"), ("hiformer", SMALL_HIFORMER)] {
        std::fs::write(
            configs.join(format!("synth_ctr_{model}.toml")),
            format!("[data]\nschema = \"../synth/schema.toml\"\n\n[model]\n{body}\n\n[train]\nepochs = 1\nbatch_size = 256\n"),
        )
        .expect("write config");
    }
    let out = ws
        .recforge()
        .args(["zoo", "--dataset", "synth", "--models", "lr,dcn_v2,hiformer", "--seeds", "1,2", "--ranks", "4"])
        .args(["--latency-calls", "3", "--configs"])
        .arg(&configs)
        .arg("--out")
        .arg(ws.path("zoo"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).expect("utf8");
    for row in ["| lr |", "| dcn_v2 |", "| hiformer |", "| hiformer-pruned |", "| hiformer-r4-pruned |"] {
        assert!(table.contains(row), "table lacks {row}:\n{table}");
    }
    let results = read_json(&ws.path("zoo/results.json"));
    assert_eq!(results["runs"].as_array().expect("runs").len(), 2 * 5, "3 models + 2 variants, 2 seeds");
    let summary = results["summary"].as_array().expect("summary");
    assert!(summary.iter().all(|s| s["auc"]["mean"].as_f64().is_some_and(|a| a > 0.5)), "{results}");
    let report = std::fs::read_to_string(ws.path("zoo/report.html")).expect("report");
    assert!(report.contains("<svg") && report.contains("hiformer-r4-pruned"));
    assert!(ws.path("zoo/hiformer/seed-2/metrics.json").is_file());

    // A model without a config is a clear error naming the file it looked for.
    ws.recforge()
        .args(["zoo", "--dataset", "synth", "--models", "autoint", "--configs"])
        .arg(&configs)
        .assert()
        .failure()
        .stderr(contains("synth_ctr_autoint.toml"));
}

#[test]
fn runs_list_show_and_compare_two_runs() {
    let ws = Workspace::new();
    let config = ws.synthetic_run_config(3_000, "kind = \"mlp\"\nembedding_dim = 4\nhidden = [8]");
    // Two runs that differ in one config value (set with --set) and in the seed.
    ws.recforge().arg("train").arg(&config).args(["--epochs", "2", "--seed", "1", "--out"]).arg(ws.path("runs/a")).assert().success();
    let out = ws
        .recforge()
        .arg("train")
        .arg(&config)
        .args(["--epochs", "2", "--seed", "2", "--set", "train.lr=0.01", "--json", "--out"])
        .arg(ws.path("runs/b"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let printed: Value = serde_json::from_slice(&out).expect("train --json prints only the metrics JSON");
    assert_eq!(printed, read_json(&ws.path("runs/b/metrics.json")));
    let saved = std::fs::read_to_string(ws.path("runs/b/config.toml")).expect("config");
    assert!(saved.contains("lr = 0.01"), "--set reached the saved config:\n{saved}");

    let listed = ws.recforge().args(["runs", "list", "--json"]).arg(ws.path("runs")).assert().success().get_output().stdout.clone();
    let listed: Value = serde_json::from_slice(&listed).expect("list --json");
    let names: Vec<&str> = listed.as_array().expect("entries").iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, vec!["a", "b"]);
    assert_eq!(listed[0]["model"], "mlp");
    assert_eq!(listed[1]["auc"], printed["auc"]);

    let shown = ws.recforge().args(["runs", "show", "--json"]).arg(ws.path("runs/a")).assert().success().get_output().stdout.clone();
    let shown: Value = serde_json::from_slice(&shown).expect("show --json");
    assert_eq!(shown["metrics"], read_json(&ws.path("runs/a/metrics.json")));
    assert_eq!(shown["config"]["train"]["seed"], 1);

    let html = ws.path("compare.html");
    let compared = ws
        .recforge()
        .args(["runs", "compare", "--json", "--out"])
        .arg(&html)
        .arg(ws.path("runs/a"))
        .arg(ws.path("runs/b"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let compared: Value = serde_json::from_slice(&compared).expect("compare --json");
    let diff: Vec<&str> = compared["config_diff"].as_array().expect("diff").iter().filter_map(|r| r["key"].as_str()).collect();
    assert_eq!(diff, vec!["train.lr", "train.seed"], "only the keys that differ: {compared}");
    let auc_row = compared["metrics"].as_array().expect("metrics").iter().find(|r| r["key"] == "auc").expect("auc row");
    assert_eq!(auc_row["values"].as_array().expect("values").len(), 2);
    let page = std::fs::read_to_string(&html).expect("comparison page");
    assert!(page.contains("<svg") && page.contains("Validation AUC per epoch") && page.contains("train.lr"));

    // The text form names both runs; one run is not a comparison.
    ws.recforge().args(["runs", "compare"]).arg(ws.path("runs/a")).arg(ws.path("runs/b")).assert().success().stdout(contains("train.seed"));
    ws.recforge().args(["runs", "compare"]).arg(ws.path("runs/a")).assert().failure();
}
