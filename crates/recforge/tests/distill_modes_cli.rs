//! End-to-end `recforge distill` with `mode = "committee" | "talking" | "levi"` on a generated
//! CTR log (no text model: the zoo teachers only): results files, teacher-pass accounting of
//! DiverseDistill's filtering, the served student's size, LEVI's ID/OOD table and its transfer
//! to a second dataset, reuse of a trained teacher from its run folder.

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::Value;

mod common;
use common::Workspace;

const TRAIN: &str = "{ epochs = 1, batch_size = 256, lr = 0.01, patience = 0 }";

fn config(mode: &str, extra: &str) -> String {
    format!(
        "name = \"{mode}\"\nmode = \"{mode}\"\nseeds = [1]\n\n[data]\nschema = \"synth/schema.toml\"\n\
         teacher_window = [0.0, 0.5]\nstudent_window = [0.5, 1.0]\n\n\
         [[teachers]]\nname = \"big_mlp\"\nrun = \"teachers/big_mlp\"\nmodel = {{ kind = \"mlp\", embedding_dim = 8, hidden = [32, 16] }}\ntrain = {TRAIN}\n\
         [[teachers]]\nname = \"big_dcn\"\nrun = \"teachers/big_dcn\"\nmodel = {{ kind = \"dcn_v2\", embedding_dim = 8, cross_layers = 1, hidden = [16] }}\ntrain = {TRAIN}\n\
         {extra}\n[[students]]\nname = \"small\"\nmodel = {{ kind = \"mlp\", embedding_dim = 4, hidden = [8] }}\ntrain = {TRAIN}\n"
    )
}

fn results(ws: &Workspace, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(ws.path(&format!("runs/{name}/results.json"))).unwrap()).unwrap()
}

#[test]
fn committee_talking_and_levi_run_end_to_end() {
    let ws = Workspace::new();
    ws.synth(12_000);
    std::fs::write(ws.path("committee.toml"), config("committee", "[committee]\nfilter_share = 0.5\nwarmup_steps = 2\n")).unwrap();
    ws.recforge().args(["distill", "committee.toml"]).assert().success().stdout(contains("| DiverseDistill | 1 |"));
    let r = results(&ws, "committee");
    let methods: Vec<&str> = r["methods"].as_array().unwrap().iter().map(|m| m["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["no KD", "KD from big_mlp", "KD from big_dcn", "naive multi-teacher KD (averaged soft labels)", "DiverseDistill"]);
    let dd = &r["methods"][4]["extra"];
    // Filtering skipped half of the (sample, teacher) pairs after 2 warm-up batches of 256.
    let (total, run) = (dd["pairs_total"].as_u64().unwrap(), dd["pairs_run"].as_u64().unwrap());
    let student_rows = r["student_rows"].as_u64().unwrap();
    assert_eq!(total, 2 * student_rows);
    let warm = 2 * 2 * 256;
    let skipped = total - run;
    assert!(skipped.abs_diff((total - warm) / 2) <= 64, "skipped {skipped} of {total}");
    // The served student is the plain student: same parameters.
    assert_eq!(r["serving"]["served_parameters"], r["serving"]["plain_parameters"]);
    for m in r["methods"].as_array().unwrap() {
        let auc = m["test_auc"]["mean"].as_f64().unwrap();
        assert!(auc > 0.55 && auc <= 1.0, "{m}");
    }
    // Teachers were saved to their run folders and are loaded, not retrained, by the next config.
    assert!(ws.path("teachers/big_dcn/model.bpk").exists());
    std::fs::write(ws.path("talking.toml"), config("talking", "[talking]\nteacher = \"big_dcn\"\n")).unwrap();
    ws.recforge().args(["distill", "talking.toml"]).assert().success().stdout(contains("| talking | 1 |"));
    let r = results(&ws, "talking");
    assert!(r["teachers"].as_array().unwrap().iter().all(|t| t["train_seconds"].as_f64() == Some(0.0)));
    let methods: Vec<&str> = r["methods"].as_array().unwrap().iter().map(|m| m["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["no KD", "output_kd", "feature_kd", "talking"]);

    std::fs::write(ws.path("levi.toml"), config("levi", "[levi]\nid_holdout = 0.2\n")).unwrap();
    ws.recforge().args(["distill", "levi.toml"]).assert().success().stdout(contains("| LEVI (frozen layers + small model) | 1 |"));
    let r = results(&ws, "levi");
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);

    // Transfer: a target dataset with the same features, read with the pre-trained model's
    // encoder (here the same log).
    let transfer = config("levi", "[levi]\nid_holdout = 0.2\ntarget_schema = \"synth/schema.toml\"\n").replacen("name = \"levi\"", "name = \"transfer\"", 1);
    std::fs::write(ws.path("transfer.toml"), transfer).unwrap();
    ws.recforge().args(["distill", "transfer.toml"]).assert().success().stdout(contains("known to the pre-trained vocabulary: items"));
    let r = results(&ws, "transfer");
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);
    assert!(r["shift"].as_str().unwrap().starts_with("transfer to"), "{}", r["shift"]);
}

#[test]
fn levi_needs_one_epoch_and_modes_need_teachers() {
    let ws = Workspace::new();
    ws.synth(2_000);
    let text = config("levi", "").replacen("[[students]]\nname = \"small\"\nmodel = { kind = \"mlp\", embedding_dim = 4, hidden = [8] }\ntrain = { epochs = 1", "[[students]]\nname = \"small\"\nmodel = { kind = \"mlp\", embedding_dim = 4, hidden = [8] }\ntrain = { epochs = 2", 1);
    std::fs::write(ws.path("levi.toml"), text).unwrap();
    ws.recforge().args(["distill", "levi.toml"]).assert().failure().stderr(contains("epochs = 1"));
    std::fs::write(ws.path("none.toml"), "mode = \"talking\"\n[data]\nschema = \"synth/schema.toml\"\n[[students]]\nname = \"s\"\nmodel = { kind = \"mlp\" }\n").unwrap();
    ws.recforge().args(["distill", "none.toml"]).assert().failure().stderr(contains("[[teachers]]"));
    // The committee's old `kd_weight` (a second spelling of the student's KD weight) is a clear error.
    std::fs::write(ws.path("old.toml"), config("committee", "[committee]\nkd_weight = 0.5\n")).unwrap();
    ws.recforge().args(["distill", "old.toml"]).assert().failure().stderr(contains("[committee] kd_weight = 0.5").and(contains("kd_weight = 0.5, temperature")));
}
