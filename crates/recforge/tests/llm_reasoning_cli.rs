//! `recforge llm rec-saver` and `recforge llm reason` refuse bad input with errors that say
//! what and where, before loading any model.

mod common;

use common::Workspace;
use predicates::prelude::*;
use predicates::str::contains;

fn prediction(true_rating: f32, reasoning: &str) -> String {
    serde_json::json!({
        "user": "u1", "history": [{"title": "Heat (1995)", "rating": 4.0}], "item": "Babe (1995)",
        "true_rating": true_rating, "predicted_rating": 4.0, "reasoning": reasoning, "mode": "cot"
    })
    .to_string()
}

/// `recforge llm rec-saver` on `path`, expected to fail before any model is loaded.
fn rec_saver_fails(ws: &Workspace, path: &std::path::Path) -> assert_cmd::assert::Assert {
    ws.recforge().args(["llm", "rec-saver", "--predictions"]).arg(path).arg("--out").arg(ws.path("out")).assert().failure()
}

#[test]
fn malformed_predictions_name_file_line_and_field() {
    let ws = Workspace::new();
    let path = ws.path("predictions.jsonl");
    std::fs::write(&path, format!("{}\n{{\"user\": \"u2\", \"history\": []}}\n", prediction(4.0, "fits"))).unwrap();
    rec_saver_fails(&ws, &path)
        .stderr(contains("predictions.jsonl:2").and(contains("missing field `item`")));
}

#[test]
fn out_of_range_ratings_and_missing_reasoning_are_refused() {
    let ws = Workspace::new();
    let path = ws.path("p.jsonl");
    std::fs::write(&path, format!("{}\n", prediction(9.0, "fits"))).unwrap();
    rec_saver_fails(&ws, &path)
        .stderr(contains("p.jsonl:1").and(contains("true_rating")));
    std::fs::write(&path, format!("{}\n", prediction(4.0, ""))).unwrap();
    rec_saver_fails(&ws, &path)
        .stderr(contains("no prediction carries reasoning"));
}

#[test]
fn unknown_modes_are_refused() {
    let ws = Workspace::new();
    ws.recforge()
        .args(["llm", "reason", "--modes", "direct,tree"])
        .assert()
        .failure()
        .stderr(contains("unknown mode `tree`"));
}
