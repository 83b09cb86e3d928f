//! `recforge predict` and self-contained model folders, end to end: a folder scores the same
//! after it moves and its training data is deleted; unseen categories score as OOV; a
//! malformed row is an error naming file, line and field (or skipped and counted); the numpy
//! reference (`bench/python/score_reference.py`) matches to 1e-5; numeric-only data trains.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use predicates::str::contains;
use serde_json::Value;

mod common;
use common::Workspace;

/// A small config over the synthetic log for `model` (a `[model]` TOML body).
fn config(ws: &Workspace, name: &str, schema: &str, model: &str) -> PathBuf {
    let path = ws.path(&format!("{name}.toml"));
    let text = format!(
        "[data]\nschema = \"{schema}\"\n\n[model]\n{model}\n\n[train]\nepochs = 2\nbatch_size = 256\nlr = 0.003\npatience = 0\n"
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn train(ws: &Workspace, config: &Path, out: &Path) {
    ws.recforge().arg("train").arg(config).args(["--seed", "5", "--out"]).arg(out).assert().success();
}

fn predict(ws: &Workspace, run: &Path, data: &Path, out: &Path) -> Value {
    let output =
        ws.recforge().arg("predict").arg(run).arg("--data").arg(data).arg("--out").arg(out).arg("--json").assert().success();
    serde_json::from_slice(&output.get_output().stdout).expect("predict --json prints JSON")
}

/// (id, score) rows of a scores CSV.
fn read_scores(path: &Path) -> Vec<(u64, f64)> {
    let text = std::fs::read_to_string(path).expect("scores file");
    text.lines()
        .skip(1)
        .map(|line| {
            let (id, score) = line.split_once(',').expect("id,score");
            (id.parse().expect("id"), score.parse().expect("score"))
        })
        .collect()
}

#[test]
fn a_model_folder_scores_identically_after_it_moves_and_the_training_data_is_deleted() {
    let ws = Workspace::new();
    ws.synth(2_000);
    let config = config(&ws, "mlp", "synth/schema.toml", "kind = \"mlp\"\nembedding_dim = 4\nhidden = [16]");
    train(&ws, &config, &ws.path("run"));
    for file in ["schema.toml", "encoder.json", "model.safetensors", "metadata.json", "config.toml"] {
        assert!(ws.path("run").join(file).is_file(), "model folder lacks {file}");
    }
    let config_text = std::fs::read_to_string(ws.path("run/config.toml")).expect("config");
    assert!(config_text.contains("schema = \"schema.toml\""), "relative schema path: {config_text}");
    let metadata: Value = serde_json::from_slice(&std::fs::read(ws.path("run/metadata.json")).expect("metadata")).expect("json");
    assert_eq!(metadata["format_version"], 1);
    assert_eq!(metadata["model"], "mlp");
    for key in ["recforge_version", "created", "build_profile", "tables", "dense"] {
        assert!(!metadata[key].is_null(), "metadata.json lacks {key}: {metadata}");
    }

    let rows = ws.path("rows.csv");
    std::fs::copy(ws.path("synth/synthetic.csv"), &rows).expect("copy rows");
    let before = predict(&ws, &ws.path("run"), &rows, &ws.path("before.csv"));
    assert_eq!(before["rows_scored"], 2_000);
    assert_eq!(before["id_column"], "example_id");

    let moved = ws.path("elsewhere/model");
    std::fs::create_dir_all(ws.path("elsewhere")).expect("mkdir");
    std::fs::rename(ws.path("run"), &moved).expect("move the folder");
    std::fs::remove_dir_all(ws.path("synth")).expect("delete the training data");
    let _ = std::fs::remove_dir_all(ws.path("data"));
    predict(&ws, &moved, &rows, &ws.path("after.parquet"));
    predict(&ws, &moved, &rows, &ws.path("after.csv"));
    let (a, b) = (read_scores(&ws.path("before.csv")), read_scores(&ws.path("after.csv")));
    assert_eq!(a.len(), 2_000);
    assert_eq!(a, b, "the moved folder scores exactly as before");
    assert!(a.iter().all(|&(_, s)| (0.0..=1.0).contains(&s)));
    assert!(std::fs::metadata(ws.path("after.parquet")).expect("parquet").len() > 0);
}

#[test]
fn unseen_categories_score_as_oov_and_a_malformed_row_names_file_line_and_field() {
    let ws = Workspace::new();
    ws.synth(1_000);
    let config = config(&ws, "lr", "synth/schema.toml", "kind = \"lr\"");
    train(&ws, &config, &ws.path("run"));
    // No label or timestamp column; users never seen in training.
    let rows = ws.path("new.csv");
    std::fs::write(
        &rows,
        "example_id,user_id,item_id,category,tags,price,age\n\
         1,never-seen-a,i1,c1,t1|t2,10.5,30\n\
         2,never-seen-b,i1,c1,t1|t2,10.5,30\n\
         3,,i1,c1,t1|t2,10.5,30\n",
    )
    .expect("rows");
    let report = predict(&ws, &ws.path("run"), &rows, &ws.path("new_scores.csv"));
    assert_eq!(report["rows_scored"], 3);
    let scores = read_scores(&ws.path("new_scores.csv"));
    assert_eq!(scores.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(scores[0].1, scores[1].1, "two unseen users both take the OOV row");
    assert_eq!(scores[0].1, scores[2].1, "a missing user is OOV too");
    // The same rows as TSV (the training file was CSV): the extension decides the format.
    let tsv = ws.path("new.tsv");
    std::fs::write(&tsv, std::fs::read_to_string(&rows).expect("rows").replace(',', "\t")).expect("tsv");
    predict(&ws, &ws.path("run"), &tsv, &ws.path("tsv_scores.csv"));
    assert_eq!(read_scores(&ws.path("tsv_scores.csv")), scores);

    let bad = ws.path("bad.csv");
    std::fs::write(
        &bad,
        "example_id,user_id,item_id,category,tags,price,age\n1,u1,i1,c1,t1,10.5,30\n2,u1,i1,c1,t1,abc,30\n3,u2,i2,c2,t2,3.0,40\n",
    )
    .expect("rows");
    ws.recforge()
        .arg("predict")
        .arg(ws.path("run"))
        .arg("--data")
        .arg(&bad)
        .arg("--out")
        .arg(ws.path("bad_scores.csv"))
        .assert()
        .failure()
        .stderr(contains("bad.csv:3"))
        .stderr(contains("price"))
        .stderr(contains("abc"));
    let output = ws
        .recforge()
        .arg("predict")
        .arg(ws.path("run"))
        .arg("--data")
        .arg(&bad)
        .arg("--out")
        .arg(ws.path("bad_scores.csv"))
        .args(["--skip-bad-rows", "--json"])
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&output.get_output().stdout).expect("json");
    assert_eq!((report["rows_read"].as_u64(), report["rows_scored"].as_u64(), report["rows_skipped"].as_u64()), (Some(3), Some(2), Some(1)));
    assert!(report["skipped_messages"][0].as_str().is_some_and(|m| m.contains("bad.csv:3")), "{report}");
    assert_eq!(read_scores(&ws.path("bad_scores.csv")).iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 3]);
    ws.recforge()
        .arg("predict")
        .arg(ws.path("run"))
        .arg("--data")
        .arg(&bad)
        .arg("--out")
        .arg(ws.path("bad_scores.csv"))
        .arg("--skip-bad-rows")
        .assert()
        .success()
        .stdout(contains("scored 2 rows"))
        .stdout(contains("skipped 1 malformed rows"))
        .stdout(contains("bad.csv:3"));
}

#[test]
fn an_old_run_folder_is_a_clear_error_that_says_how_to_re_export() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path("old")).expect("mkdir");
    std::fs::write(ws.path("old/config.toml"), "[data]\nschema = \"/gone/schema.toml\"\n[model]\nkind = \"lr\"\n").expect("config");
    std::fs::write(ws.path("rows.csv"), "a\n1\n").expect("rows");
    ws.recforge()
        .arg("predict")
        .arg(ws.path("old"))
        .arg("--data")
        .arg(ws.path("rows.csv"))
        .assert()
        .failure()
        .stderr(contains("older recforge"))
        .stderr(contains("--resave"));

    // A folder as an older recforge wrote it (absolute schema path, no model-folder files)
    // becomes self-contained with `eval --resave` while its training data is there.
    ws.synth(600);
    let config = config(&ws, "lr", "synth/schema.toml", "kind = \"lr\"");
    train(&ws, &config, &ws.path("legacy"));
    for file in ["schema.toml", "encoder.json", "model.safetensors", "metadata.json"] {
        std::fs::remove_file(ws.path("legacy").join(file)).expect("strip the folder");
    }
    let text = std::fs::read_to_string(ws.path("legacy/config.toml")).expect("config");
    let absolute = ws.path("synth/schema.toml").display().to_string();
    std::fs::write(ws.path("legacy/config.toml"), text.replace("schema = \"schema.toml\"", &format!("schema = {absolute:?}"))).expect("config");
    let rows = ws.path("synth/synthetic.csv");
    ws.recforge().arg("predict").arg(ws.path("legacy")).arg("--data").arg(&rows).assert().failure().stderr(contains("--resave"));
    ws.recforge().arg("eval").arg(ws.path("legacy")).arg("--resave").assert().success();
    let report = predict(&ws, &ws.path("legacy"), &rows, &ws.path("legacy_scores.csv"));
    assert_eq!(report["rows_scored"], 600);
}

/// Fails (never skips) when python3 with numpy and safetensors is missing: scripts/test.sh
/// installs them.
fn python_with_numpy() -> &'static str {
    let ok = Process::new("python3").args(["-c", "import numpy, safetensors"]).status().is_ok_and(|s| s.success());
    assert!(ok, "python3 with numpy and safetensors is required: python3 -m pip install numpy safetensors");
    "python3"
}

#[test]
fn the_numpy_reference_matches_predict_for_lr_mlp_and_dcn_v2() {
    let python = python_with_numpy();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/python/score_reference.py");
    let ws = Workspace::new();
    ws.synth(1_500);
    let rows = ws.path("synth/synthetic.csv");
    let models = [
        ("lr", "kind = \"lr\""),
        ("mlp", "kind = \"mlp\"\nembedding_dim = 4\nhidden = [16, 8]"),
        ("dcn", "kind = \"dcn_v2\"\nembedding_dim = 4\ncross_layers = 2\nhidden = [16]"),
        ("dcn_stacked", "kind = \"dcn_v2\"\nembedding_dim = 4\ncross_layers = 2\nlow_rank = 3\nstructure = \"stacked\"\nhidden = [8]"),
    ];
    for (name, model) in models {
        let config = config(&ws, name, "synth/schema.toml", model);
        let run = ws.path(&format!("run_{name}"));
        train(&ws, &config, &run);
        let ours = ws.path(&format!("{name}_scores.csv"));
        predict(&ws, &run, &rows, &ours);
        let reference = ws.path(&format!("{name}_reference.csv"));
        let status = Process::new(python).arg(&script).arg(&run).arg("--data").arg(&rows).arg("--out").arg(&reference).status();
        assert!(status.is_ok_and(|s| s.success()), "{name}: score_reference.py failed");
        let (a, b) = (read_scores(&ours), read_scores(&reference));
        assert_eq!(a.len(), 1_500, "{name}");
        assert_eq!(a.iter().map(|r| r.0).collect::<Vec<_>>(), b.iter().map(|r| r.0).collect::<Vec<_>>(), "{name}: ids");
        let worst = a.iter().zip(&b).map(|(x, y)| (x.1 - y.1).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-5, "{name}: numpy and recforge differ by {worst}");
        let spread = a.iter().map(|r| r.1).fold(f64::MIN, f64::max) - a.iter().map(|r| r.1).fold(f64::MAX, f64::min);
        assert!(spread > 1e-3, "{name}: scores vary across rows ({spread}), so the comparison means something");
    }
}

/// `rows` numeric-only examples with a planted signal: click ~ Bernoulli(sigmoid(2 x1 − x2)).
fn numeric_only_csv(path: &Path, rows: usize) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("x1,x2,x3,click\n");
    for _ in 0..rows {
        let (x1, x2, x3) = (uniform() * 2.0 - 1.0, uniform() * 2.0 - 1.0, uniform() * 10.0);
        let p = 1.0 / (1.0 + (-(3.0 * x1 - 2.0 * x2)).exp());
        let click = u8::from(uniform() < p);
        text.push_str(&format!("{x1:.4},{x2:.4},{x3:.3},{click}\n"));
    }
    std::fs::write(path, text).expect("write numeric data");
}

#[test]
fn numeric_only_data_trains_lr_mlp_and_dcn_v2_end_to_end() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path("numeric")).expect("mkdir");
    numeric_only_csv(&ws.path("numeric/rows.csv"), 3_000);
    let features: String =
        ["x1", "x2", "x3"].iter().map(|n| format!("[[features]]\nname = \"{n}\"\nkind = \"numeric\"\n\n")).collect();
    std::fs::write(
        ws.path("numeric/schema.toml"),
        format!("name = \"numeric\"\n[source]\npath = \"rows.csv\"\n[label]\ncolumn = \"click\"\n\n{features}"),
    )
    .expect("schema");
    for (name, model) in [("lr", "kind = \"lr\""), ("mlp", "kind = \"mlp\"\nhidden = [16]"), ("dcn", "kind = \"dcn_v2\"\nhidden = [16]")] {
        // Longer than `config`'s two epochs: 3 numbers carry less signal per step than ids.
        let config = ws.path(&format!("{name}.toml"));
        std::fs::write(
            &config,
            format!("[data]\nschema = \"numeric/schema.toml\"\n[model]\n{model}\n[train]\nepochs = 8\nbatch_size = 128\nlr = 0.01\npatience = 0\n"),
        )
        .expect("write config");
        let run = ws.path(&format!("run_{name}"));
        train(&ws, &config, &run);
        let metrics: Value = serde_json::from_slice(&std::fs::read(run.join("metrics.json")).expect("metrics")).expect("json");
        let auc = metrics["auc"].as_f64().expect("auc");
        assert!(auc > 0.7, "{name}: test AUC {auc} on a planted numeric signal");
        assert_eq!(metrics["embedding_parameters"], 0, "{name}: no embedding tables");
        let report = predict(&ws, &run, &ws.path("numeric/rows.csv"), &ws.path(&format!("{name}.csv")));
        assert_eq!(report["rows_scored"], 3_000);
        assert_eq!(report["id_column"], "row");
    }
    // Attention models still need feature tokens, and say so.
    let config = config(&ws, "autoint", "numeric/schema.toml", "kind = \"autoint\"");
    ws.recforge().arg("train").arg(&config).assert().failure().stderr(contains("train lr, mlp or dcn_v2"));
}

/// POST `body` to `/v1/score` on `port` over a plain TCP connection; (status line, body).
#[cfg(feature = "serve")]
fn post_score(port: u16, body: &str) -> std::io::Result<(String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "POST /v1/score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((head.lines().next().unwrap_or("").to_string(), body.to_string()))
}

#[cfg(feature = "serve")]
#[test]
fn serve_ranker_scores_rows_over_http_like_predict() {
    let ws = Workspace::new();
    ws.synth(800);
    let config = config(&ws, "lr", "synth/schema.toml", "kind = \"lr\"");
    train(&ws, &config, &ws.path("run"));
    let rows = ws.path("one.csv");
    std::fs::write(&rows, "example_id,user_id,item_id,category,tags,price,age\n1,u1,i1,c1,t1|t2,10.5,30\n").expect("rows");
    predict(&ws, &ws.path("run"), &rows, &ws.path("one_scores.csv"));
    let expected = read_scores(&ws.path("one_scores.csv"))[0].1;

    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let mut server = std::process::Command::new(assert_cmd::cargo::cargo_bin("recforge"))
        .current_dir(ws.dir.path())
        .args(["--log", "warn", "serve", "--ranker"])
        .arg(ws.path("run"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .spawn()
        .expect("start recforge serve");
    let body = r#"{"rows": [{"user_id": "u1", "item_id": "i1", "category": "c1", "tags": "t1|t2", "price": 10.5, "age": 30}]}"#;
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(response) = post_score(port, body) {
            answer = Some(response);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    let (status, body) = answer.expect("the server answered");
    assert!(status.contains("200"), "{status}: {body}");
    let value: Value = serde_json::from_str(&body).expect("JSON");
    let score = value["scores"][0].as_f64().expect("score");
    assert!((score - expected).abs() < 1e-6, "served {score}, predict wrote {expected}");
    assert_eq!(value["model"]["name"], "lr");
}
