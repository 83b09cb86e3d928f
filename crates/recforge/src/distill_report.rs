//! The `recforge distill` report: teacher versions and their labeling cost, students per KD mode
//! and teacher (mean ± std over seeds), the cost of shared labels against per-student teacher
//! inference, and the teacher-search frontier (teacher seconds vs student AUC gain).

use recforge_distill::SearchOutcome;
use serde_json::Value;

use crate::report::{curve_chart, escape, page};

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn pm(v: &Value) -> String {
    format!("{:.4} ± {:.4}", f(&v["mean"]), f(&v["std"]))
}

/// The students table as Markdown (also printed by the command).
pub fn markdown(results: &Value) -> String {
    let mut out = String::from(
        "| student | model | KD mode | teacher | seeds | test AUC | test logloss | valid AUC |\n|---|---|---|---|---|---|---|---|\n",
    );
    for s in results["students"].as_array().into_iter().flatten() {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s["student"].as_str().unwrap_or("?"),
            s["model"].as_str().unwrap_or("?"),
            s["mode"].as_str().unwrap_or("?"),
            s["teacher"].as_str().unwrap_or("?"),
            s["seeds"],
            pm(&s["test_auc"]),
            pm(&s["test_logloss"]),
            pm(&s["valid_auc"]),
        );
    }
    out += "\n| teacher | version | valid AUC | test AUC | labels | teacher ran | labeling s |\n|---|---|---|---|---|---|---|\n";
    for v in results["teacher"]["variants"].as_array().into_iter().flatten() {
        out += &format!(
            "| {} | {} | {:.4} | {:.4} | {} | {} | {:.1} |\n",
            v["refresh"].as_str().unwrap_or("?"),
            v["version"],
            f(&v["valid"]["auc"]),
            f(&v["test"]["auc"]),
            v["labeling"]["examples"],
            if v["labeling"]["skipped"].as_bool() == Some(true) { "no (labels stored)" } else { "once" },
            f(&v["labeling"]["seconds"]),
        );
    }
    let c = &results["cost"];
    out += &format!(
        "\nteacher forward passes: shared labels {} ({:.1}s) · per-student labeling {} (≈{:.1}s) · teacher in every training loop {} (≈{:.1}s), over {} KD student trainings\n",
        c["shared_labels_forward_passes"],
        f(&c["shared_labels_seconds"]),
        c["per_student_labeling_forward_passes"],
        f(&c["per_student_labeling_seconds_est"]),
        c["teacher_in_loop_forward_passes"],
        f(&c["teacher_in_loop_seconds_est"]),
        c["kd_student_trainings"],
    );
    if let Some(search) = results["search"].as_object() {
        out += "\n| candidate | rung | steps | teacher params | teacher s | teacher valid AUC | student valid AUC | gain |\n|---|---|---|---|---|---|---|---|\n";
        for p in search.get("points").and_then(Value::as_array).into_iter().flatten() {
            out += &format!(
                "| {} | {} | {} | {} | {:.1} | {:.4} | {:.4} | {:+.4} |\n",
                p["candidate"].as_str().unwrap_or("?"),
                p["rung"],
                p["steps"],
                p["teacher_parameters"],
                f(&p["teacher_seconds"]),
                f(&p["teacher_valid_auc"]),
                f(&p["student_valid_auc"]),
                f(&p["student_gain"]),
            );
        }
        out += &format!(
            "\nbaseline student valid AUC {:.4}; teacher seconds spent {:.1} of {:.0} (budget exhausted: {})\n",
            f(&search["baseline_student_valid_auc"]),
            f(&search["teacher_seconds_spent"]),
            f(&search["budget_seconds"]),
            search["budget_exhausted"],
        );
    }
    out
}

/// The HTML report.
pub fn render(name: &str, results: &Value, search: Option<&SearchOutcome>) -> String {
    let mut body = format!(
        "<p class=\"headline\">{} · teacher <b>{}</b> trained on {} older rows; students on the {} newer rows; \
         validation {} and test {} rows · labels in <code>{}</code></p>",
        escape(results["dataset"].as_str().unwrap_or("?")),
        escape(results["teacher"]["model"].as_str().unwrap_or("?")),
        results["teacher_rows"],
        results["student_rows"],
        results["valid_examples"],
        results["test_examples"],
        escape(results["labels"].as_str().unwrap_or("?")),
    );
    body += "<h2>Students, teachers and cost</h2><pre>";
    body += &escape(&markdown(results));
    body += "</pre>";
    if let Some(search) = search {
        body += "<h2>Teacher search frontier</h2><div class=\"plots\">";
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for p in &search.points {
            match series.iter_mut().find(|s| s.0 == p.candidate) {
                Some(s) => s.1.push((p.teacher_seconds, p.student_gain)),
                None => series.push((p.candidate.clone(), vec![(p.teacher_seconds, p.student_gain)])),
            }
        }
        series.push(("frontier".into(), search.frontier.iter().map(|p| (p.teacher_seconds, p.student_gain)).collect()));
        body += &curve_chart("Student AUC gain vs teacher training cost", "teacher training seconds", "student valid AUC gain", &series);
        body += "</div>";
    }
    page(&format!("distill · {name}"), &body)
}

fn fx(v: &Value, digits: usize) -> String {
    let x = f(v);
    if x.is_finite() { format!("{x:.digits$}") } else { "-".into() }
}

/// The tables of the `committee`, `talking` and `levi` modes as Markdown.
pub fn markdown_modes(results: &Value) -> String {
    let mut out = String::new();
    if let Some(rows) = results["rows"].as_array() {
        let p = &results["pretrained"];
        out += &format!(
            "pre-trained model {} ({}, {} parameters, top {} layers read); task {} rows, ID test {} rows, OOD test {} rows (shift: {})\n\n",
            p["name"].as_str().unwrap_or("?"),
            p["model"].as_str().unwrap_or("?"),
            p["parameters"],
            p["layers_read"],
            results["task_rows"],
            results["id_test_rows"],
            results["ood_test_rows"],
            results["shift"].as_str().unwrap_or("time"),
        );
        out += "| method | seeds | trainable params | ID AUC | ID logloss | OOD AUC | OOD logloss |\n|---|---|---|---|---|---|---|\n";
        for r in rows {
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                r["method"].as_str().unwrap_or("?"),
                r["seeds"],
                r["trainable_parameters"],
                pm(&r["id_auc"]),
                pm(&r["id_logloss"]),
                pm(&r["ood_auc"]),
                pm(&r["ood_logloss"]),
            );
        }
        return out;
    }
    let student_params = f(&results["student"]["parameters"]);
    out += "| teacher | model | parameters | compression vs student | test AUC | test logloss |\n|---|---|---|---|---|---|\n";
    for t in results["teachers"].as_array().into_iter().flatten() {
        out += &format!(
            "| {} | {} | {} | {:.1}x | {} | {} |\n",
            t["name"].as_str().unwrap_or("?"),
            t["model"].as_str().unwrap_or("?"),
            t["parameters"],
            f(&t["parameters"]) / student_params,
            fx(&t["test"]["auc"], 4),
            fx(&t["test"]["logloss"], 4),
        );
    }
    out += &format!(
        "\nstudent {} ({}, {} parameters)\n\n| method | seeds | test AUC | test logloss | valid AUC | gap closed |\n|---|---|---|---|---|---|\n",
        results["student"]["name"].as_str().unwrap_or("?"),
        results["student"]["model"].as_str().unwrap_or("?"),
        results["student"]["parameters"],
    );
    for m in results["methods"].as_array().into_iter().flatten() {
        let gap = f(&m["gap_closed"]);
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            m["method"].as_str().unwrap_or("?"),
            m["seeds"],
            pm(&m["test_auc"]),
            pm(&m["test_logloss"]),
            pm(&m["valid_auc"]),
            if m["method"] == "no KD" || !gap.is_finite() { "-".into() } else { format!("{:.0}%", 100.0 * gap) },
        );
    }
    if let Some(dd) = results["methods"].as_array().into_iter().flatten().find(|m| m["method"] == "DiverseDistill") {
        let e = &dd["extra"];
        out += &format!(
            "\nDiverseDistill teacher forward passes (seed 1): {} of {} ({:.1}% saved; filter_share {}, warm-up {} steps); QA module {} parameters (training only)\n",
            e["pairs_run"], e["pairs_total"], 100.0 * f(&e["saved_share"]), e["filter_share"], e["warmup_steps"], e["qa_parameters"],
        );
    }
    let s = &results["serving"];
    if s.is_object() {
        out += &format!(
            "\nserved student: {} parameters ({} dense) vs plain student {} ({} dense); latency p50/p99 at batch {}: {:.3}/{:.3} ms vs plain {:.3}/{:.3} ms\n",
            s["served_parameters"], s["served_dense_parameters"], s["plain_parameters"], s["plain_dense_parameters"], s["batch"],
            f(&s["served_p50_ms"]), f(&s["served_p99_ms"]), f(&s["plain_p50_ms"]), f(&s["plain_p99_ms"]),
        );
    }
    out
}

/// The HTML report of the `committee`, `talking` and `levi` modes.
pub fn render_modes(name: &str, results: &Value) -> String {
    let mut body = format!(
        "<p class=\"headline\">{} · mode <b>{}</b> · teachers on {} older rows; students on {} newer rows; validation {} and test {} rows</p>",
        escape(results["dataset"].as_str().unwrap_or("?")),
        escape(results["mode"].as_str().unwrap_or("?")),
        results["teacher_rows"],
        results["student_rows"],
        results["valid_examples"],
        results["test_examples"],
    );
    body += "<h2>Results</h2><pre>";
    body += &escape(&markdown_modes(results));
    body += "</pre>";
    page(&format!("distill · {name}"), &body)
}
