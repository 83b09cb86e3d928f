//! End-to-end `recforge distill` on a generated CTR log: a teacher (frozen and refreshed), labels
//! written once per version, students under no / direct / auxiliary-head KD, a tiny teacher
//! search; checks the results file, the forward-pass accounting and the report.


use predicates::str::contains;
use serde_json::Value;

mod common;
use common::Workspace;

const TRAIN: &str = "epochs = 2\nbatch_size = 256\nlr = 0.01\npatience = 0\n";

fn config(search: bool) -> String {
    let mut text = format!(
        "name = \"kd\"\nlabels = \"mem://\"\nseeds = [1, 2]\n\n[data]\nschema = \"synth/schema.toml\"\n\
         teacher_window = [0.0, 0.6]\nstudent_window = [0.6, 1.0]\n\n\
         [teacher]\nversion = 5\nrefresh = [\"frozen\", \"refreshed\"]\n\
         [teacher.model]\nkind = \"mlp\"\nembedding_dim = 8\nhidden = [32, 16]\n[teacher.train]\n{TRAIN}\n\
         [[students]]\nname = \"small_mlp\"\nmodes = [\"none\", \"direct\", \"aux\"]\n\
         kd = {{ form = \"bce\", temperature = 2.0, kd_weight = 0.5 }}\n\
         [students.model]\nkind = \"mlp\"\nembedding_dim = 4\nhidden = [8]\n[students.train]\n{TRAIN}\n\
         [[students]]\nname = \"small_dcn\"\nmodes = [\"aux\"]\nkd = {{ form = \"mse\" }}\n\
         [students.model]\nkind = \"dcn_v2\"\nembedding_dim = 4\ncross_layers = 1\nhidden = [8]\n[students.train]\n{TRAIN}\n"
    );
    if search {
        text += "\n[search]\nbudget_seconds = 1000\neta = 2\nsteps = [2, 4]\nwidths = [4, 16]\ndepths = [1]\n\
                 student = \"small_mlp\"\nstudent_epochs = 1\n[search.model]\nkind = \"mlp\"\nembedding_dim = 4\n\
                 [search.train]\nbatch_size = 256\n";
    }
    text
}

#[test]
fn distill_labels_once_per_version_and_trains_every_student() {
    let ws = Workspace::new();
    ws.synth(20_000);
    std::fs::write(ws.path("kd.toml"), config(true)).unwrap();
    ws.recforge().args(["distill", "kd.toml"]).assert().success().stdout(contains("| small_mlp | mlp | aux | refreshed |"));

    let results: Value = serde_json::from_slice(&std::fs::read(ws.path("runs/kd/results.json")).unwrap()).unwrap();
    let student_rows = results["student_rows"].as_u64().unwrap();
    assert!(student_rows > 0);
    // Two teacher versions (5 frozen, 6 refreshed), each ran over the student window once.
    let variants = results["teacher"]["variants"].as_array().unwrap();
    let versions: Vec<u64> = variants.iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, vec![5, 6]);
    assert_eq!(results["teacher_forward_passes"].as_u64().unwrap(), 2 * student_rows);
    // 2 seeds × (none + direct×2 teachers + aux×2 teachers) for the MLP, 2 × aux×2 for DCN-v2.
    assert_eq!(results["runs"].as_array().unwrap().len(), 2 * 5 + 2 * 2);
    assert_eq!(results["students"].as_array().unwrap().len(), 5 + 2);
    let kd_trainings = results["cost"]["kd_student_trainings"].as_u64().unwrap();
    assert_eq!(kd_trainings, 2 * 4 + 2 * 2);
    assert_eq!(results["cost"]["per_student_labeling_forward_passes"].as_u64().unwrap(), kd_trainings * student_rows);
    // Every student learns the planted signal.
    for student in results["students"].as_array().unwrap() {
        let auc = student["test_auc"]["mean"].as_f64().unwrap();
        assert!(auc > 0.55 && auc <= 1.0, "{student}");
    }
    // Search: two candidates at rung 0, the best one at rung 1.
    let points = results["search"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    let report = std::fs::read_to_string(ws.path("runs/kd/report.html")).unwrap();
    assert!(report.contains("Teacher search frontier") && report.contains("<svg"));

    // The saved teacher loads back (no retraining) and labels identically.
    let loaded = config(false).replace("[teacher]\n", "[teacher]\nrun = \"runs/kd/teacher\"\n").replace("seeds = [1, 2]", "seeds = [1]");
    std::fs::write(ws.path("loaded.toml"), loaded).unwrap();
    let run = |out: &str| {
        ws.recforge().args(["distill", "loaded.toml", "--labels", "file://labels.redb", "--out", out]).assert().success();
        serde_json::from_slice::<Value>(&std::fs::read(ws.path(&format!("{out}/results.json"))).unwrap()).unwrap()
    };
    let first = run("runs/loaded");
    assert_eq!(first["teacher"]["train_seconds"].as_f64(), Some(0.0));
    assert_eq!(first["teacher"]["variants"][0]["valid"], results["teacher"]["variants"][0]["valid"]);
    assert_eq!(first["teacher_forward_passes"].as_u64().unwrap(), 2 * student_rows);
    // A durable store already holds both versions: the teacher does not run again.
    let second = run("runs/loaded-again");
    assert_eq!(second["teacher_forward_passes"].as_u64(), Some(0));
    assert_eq!(second["teacher"]["variants"][1]["labeling"]["skipped"].as_bool(), Some(true));
    assert_eq!(second["runs"][0]["test"], first["runs"][0]["test"]);
}

#[test]
fn bad_distill_configs_are_clear_errors() {
    let ws = Workspace::new();
    ws.synth(200);
    let bad_window = config(false).replace("student_window = [0.6, 1.0]", "student_window = [0.9, 0.2]");
    std::fs::write(ws.path("bad.toml"), bad_window).unwrap();
    ws.recforge().args(["distill", "bad.toml"]).assert().failure().stderr(contains("student_window"));

    let no_bottom = config(false).replace("kind = \"dcn_v2\"\nembedding_dim = 4\ncross_layers = 1\nhidden = [8]", "kind = \"lr\"");
    std::fs::write(ws.path("lr.toml"), no_bottom).unwrap();
    ws.recforge().args(["distill", "lr.toml", "--seeds", "1"]).assert().failure().stderr(contains("no shared bottom"));
}

#[test]
fn distill_json_prints_the_results_file_and_set_overrides_the_config() {
    let ws = Workspace::new();
    ws.synth(3_000);
    std::fs::write(ws.path("kd.toml"), config(false)).unwrap();
    let out = ws
        .recforge()
        .args(["distill", "kd.toml", "--json", "--set", "seeds=[3]", "--set", "teacher.refresh=[\"frozen\"]", "--out", "runs/json"])
        .assert()
        .success();
    let printed: Value = serde_json::from_slice(&out.get_output().stdout).expect("stdout is the results JSON and nothing else");
    let written: Value = serde_json::from_slice(&std::fs::read(ws.path("runs/json/results.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    // The overrides reached the run: one seed (3), one teacher version.
    assert!(printed["runs"].as_array().unwrap().iter().all(|r| r["seed"] == 3));
    assert_eq!(printed["teacher"]["variants"].as_array().unwrap().len(), 1);
    for key in ["name", "config", "labels", "dataset", "teacher_rows", "student_rows", "valid_examples", "test_examples", "teacher_forward_passes", "cost", "students", "search"] {
        assert!(printed.get(key).is_some(), "results.json lost {key}");
    }
    // A bad override names itself.
    ws.recforge().args(["distill", "kd.toml", "--set", "seeds"]).assert().failure().stderr(contains("key.path=value"));
}
