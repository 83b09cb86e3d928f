//! End-to-end runs of `recforge train` on sequential configs, on a tiny generated log with a
//! planted structure (two taste groups): SUR, MUR and SASRec train a couple of epochs into run
//! folders that `recforge eval` reloads to the same numbers; BPR-MF and EASE beat random
//! ranking clearly; `recforge retrieve` serves the folders.

use std::path::Path;

use assert_cmd::Command;
use recforge_train::retrieval::SeqEvalReport;

mod common;

const SCHEMA: &str = r#"
name = "planted-seq"
timestamp = "ts"
user = "user_id"
item = "item_id"

[source]
path = "interactions.csv"
format = "csv"

[[features]]
name = "user_id"
kind = "categorical"
side = "user"

[[features]]
name = "item_id"
kind = "categorical"
side = "item"
"#;

const ITEMS: usize = 40;
const HISTORY: usize = 15;

/// 100 users × 15 distinct items over 40; odd users draw 80% of their items from i20..i39,
/// even users from i0..i19. Ranking at random puts a held-out item in the top 10 of the ~26
/// unseen items about 10/26 ≈ 0.38 of the time; knowing the groups, about 0.8.
fn write_planted_log(dir: &Path) {
    std::fs::write(dir.join("interactions.csv"), common::two_group_histories(5, 100, HISTORY, ITEMS)).unwrap();
    std::fs::write(dir.join("schema.toml"), SCHEMA).unwrap();
}

fn write_config(dir: &Path, name: &str, model: &str, train: &str) {
    let text = format!("[data]\nschema = \"schema.toml\"\n\n[model]\n{model}\n\n[train]\nmin_interactions = 3\nseed = 7\n{train}\n");
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

fn recforge(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("recforge").expect("binary");
    cmd.current_dir(dir).env("RECFORGE_DATA", dir.join("data")).args(["--log", "warn"]);
    cmd
}

fn json_report(cmd: &mut Command) -> SeqEvalReport {
    let output = cmd.output().expect("run recforge");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn assert_metrics_are_rates(report: &SeqEvalReport) {
    assert_eq!(report.ks, [10, 50, 200]);
    for protocol in [&report.full, &report.sampled] {
        assert_eq!(protocol.overall.users, 100);
        assert_eq!(protocol.head.users + protocol.tail.users, 100);
        for group in [&protocol.overall, &protocol.head, &protocol.tail] {
            for v in group.hr.iter().chain(&group.recall).chain(&group.ndcg) {
                assert!((0.0..=1.0).contains(v), "{report:?}");
            }
            assert_eq!(group.hr, group.recall);
            assert!(group.hr[0] <= group.hr[1] && group.hr[1] <= group.hr[2]);
        }
    }
}

#[test]
fn sequential_configs_train_evaluate_and_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_planted_log(dir);
    write_config(dir, "sur", "kind = \"sur\"", "dim = 8\nbatch_size = 64\nseq_len = 10");
    write_config(dir, "bpr", "kind = \"bpr\"", "dim = 16\nlr = 0.05\nbatch_size = 64\nepochs = 15\npatience = 15");
    write_config(dir, "ease", "kind = \"ease\"\nlambda = 10.0", "");

    // SUR, 2 epochs: the run folder reloads to the very numbers training reported.
    let trained = json_report(recforge(dir).args(["train", "sur.toml", "--epochs", "2", "--json"]));
    assert_eq!((trained.model.as_str(), trained.dataset.as_str(), trained.split.as_str()), ("sur", "planted-seq", "test"));
    assert_metrics_are_rates(&trained);
    let reloaded = json_report(recforge(dir).args(["eval", "runs/sur", "--json"]));
    assert_eq!(reloaded, trained);
    for file in ["config.toml", "model.bpk", "retrieval.json", "metrics.json", "history.json", "histories.json", "item_vectors.json"] {
        assert!(dir.join("runs/sur").join(file).is_file(), "runs/sur/{file} missing");
    }

    // MUR and SASRec take the same path: a couple of epochs, reloaded to the same numbers,
    // served from a bare history.
    write_config(dir, "mur", "kind = \"mur\"\ninterests = 2", "dim = 8\nbatch_size = 64\nseq_len = 10");
    write_config(dir, "sasrec", "kind = \"sasrec\"\nblocks = 1", "dim = 8\nbatch_size = 32\nseq_len = 10");
    for name in ["mur", "sasrec"] {
        let trained = json_report(recforge(dir).args(["train", &format!("{name}.toml"), "--epochs", "2", "--json"]));
        assert_eq!(trained.model, name);
        assert_metrics_are_rates(&trained);
        assert_eq!(json_report(recforge(dir).args(["eval", &format!("runs/{name}"), "--json"])), trained);
        let output = recforge(dir).args(["retrieve", &format!("runs/{name}"), "--history", "i1,i2,i3", "-k", "4", "--json"]).output().unwrap();
        let found: recforge_train::retrieval::run::Retrieved = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!((found.items.len(), found.history_len), (4, 3));
        assert!(found.items.iter().all(|h| !["i1", "i2", "i3"].contains(&h.item.as_str())));
    }

    // BPR-MF and EASE learn the groups: full-corpus HR@10 far above random (≈ 0.38).
    let random = 10.0 / (ITEMS - (HISTORY - 1)) as f64;
    for name in ["bpr", "ease"] {
        let report = json_report(recforge(dir).args(["train", &format!("{name}.toml"), "--json"]));
        assert_metrics_are_rates(&report);
        assert!(report.full.overall.hr[0] > random + 0.15, "{name}: HR@10 {} vs random {random:.3}", report.full.overall.hr[0]);
        let valid = json_report(recforge(dir).args(["eval", &format!("runs/{name}"), "--split", "valid", "--json"]));
        assert_eq!(valid.split, "valid");
    }

    // The table names every cut-off; retrieve serves a stored user and skips their history.
    let table = recforge(dir).args(["eval", "runs/ease"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("NDCG@200") && table.contains("sampled"), "{table}");
    for run in ["runs/bpr", "runs/ease", "runs/sur"] {
        let output = recforge(dir).args(["retrieve", run, "--user", "u1", "-k", "5", "--json"]).output().unwrap();
        assert!(output.status.success(), "{run}: {}", String::from_utf8_lossy(&output.stderr));
        let found: recforge_train::retrieval::run::Retrieved = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(found.items.len(), 5);
        assert_eq!(found.history_len, HISTORY);
    }
    // EASE answers a bare history with items of the same group; BPR-MF needs a stored user.
    let history: Vec<String> = (0..8).map(|i| format!("i{i}")).collect();
    let output = recforge(dir).args(["retrieve", "runs/ease", "--history", &history.join(","), "-k", "5", "--json"]).output().unwrap();
    let found: recforge_train::retrieval::run::Retrieved = serde_json::from_slice(&output.stdout).unwrap();
    let same_group = found.items.iter().filter(|h| h.item[1..].parse::<usize>().is_ok_and(|i| i < 20)).count();
    assert!(same_group >= 4, "{:?}", found.items);
    let output = recforge(dir).args(["retrieve", "runs/bpr", "--history", "i1,i2"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--user"));
}
