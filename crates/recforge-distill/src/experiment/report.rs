//! The `recforge distill` report of every mode, as Markdown tables (printed by the command)
//! and a self-contained HTML page: teacher versions and their labeling cost, students per KD
//! mode and teacher (mean ± std over seeds), the cost of shared labels against per-student
//! teacher inference, and the teacher-search frontier (teacher seconds vs student AUC gain, an
//! inline plotters SVG); the committee / talking method tables; LEVI's ID/OOD table.

use recforge_train::report::{curve_chart, escape, page};

use super::Stat;
use super::labels::LabelsResults;
use super::levi::LeviResults;
use super::panel::{MethodExtra, PanelResults};
use crate::teacher_search::SearchOutcome;

fn pm(s: &Stat) -> String {
    format!("{:.4} ± {:.4}", s.mean, s.std)
}

fn fx(x: f64, digits: usize) -> String {
    if x.is_finite() { format!("{x:.digits$}") } else { "-".into() }
}

/// The students, teacher versions, cost and search tables of the label pipeline.
pub fn labels_markdown(r: &LabelsResults) -> String {
    let mut out = String::from(
        "| student | model | KD mode | teacher | seeds | test AUC | test logloss | valid AUC |\n|---|---|---|---|---|---|---|---|\n",
    );
    for s in &r.students {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.student,
            s.model,
            s.mode,
            s.teacher,
            s.seeds,
            pm(&s.test_auc),
            pm(&s.test_logloss),
            pm(&s.valid_auc)
        );
    }
    out += "\n| teacher | version | valid AUC | test AUC | labels | teacher ran | labeling s |\n|---|---|---|---|---|---|---|\n";
    for v in &r.teacher.variants {
        out += &format!(
            "| {} | {} | {:.4} | {:.4} | {} | {} | {:.1} |\n",
            v.refresh,
            v.version,
            v.valid.auc,
            v.test.auc,
            v.labeling.examples,
            if v.labeling.skipped { "no (labels stored)" } else { "once" },
            v.labeling.seconds,
        );
    }
    let c = &r.cost;
    out += &format!(
        "\nteacher forward passes: shared labels {} ({:.1}s) · per-student labeling {} (≈{:.1}s) · teacher in every training loop {} (≈{:.1}s), over {} KD student trainings\n",
        c.shared_labels_forward_passes,
        c.shared_labels_seconds,
        c.per_student_labeling_forward_passes,
        c.per_student_labeling_seconds_est,
        c.teacher_in_loop_forward_passes,
        c.teacher_in_loop_seconds_est,
        c.kd_student_trainings,
    );
    if let Some(search) = &r.search {
        out += "\n| candidate | rung | steps | teacher params | teacher s | teacher valid AUC | student valid AUC | gain |\n|---|---|---|---|---|---|---|---|\n";
        for p in &search.points {
            out += &format!(
                "| {} | {} | {} | {} | {:.1} | {:.4} | {:.4} | {:+.4} |\n",
                p.candidate, p.rung, p.steps, p.teacher_parameters, p.teacher_seconds, p.teacher_valid_auc, p.student_valid_auc, p.student_gain,
            );
        }
        out += &format!(
            "\nbaseline student valid AUC {:.4}; teacher seconds spent {:.1} of {:.0} (budget exhausted: {})\n",
            search.baseline_student_valid_auc, search.teacher_seconds_spent, search.budget_seconds, search.budget_exhausted,
        );
    }
    out
}

/// The label pipeline's HTML report.
pub fn labels_html(r: &LabelsResults) -> String {
    let d = &r.data;
    let mut body = format!(
        "<p class=\"headline\">{} · teacher <b>{}</b> trained on {} older rows; students on the {} newer rows; \
         validation {} and test {} rows · labels in <code>{}</code></p>",
        escape(&d.dataset),
        escape(&r.teacher.model),
        d.teacher_rows,
        d.student_rows,
        d.valid_examples,
        d.test_examples,
        escape(&r.labels),
    );
    body += "<h2>Students, teachers and cost</h2><pre>";
    body += &escape(&labels_markdown(r));
    body += "</pre>";
    if let Some(search) = &r.search {
        body += "<h2>Teacher search frontier</h2><div class=\"plots\">";
        body += &frontier_chart(search);
        body += "</div>";
    }
    page(&format!("distill · {}", d.name), &body)
}

/// The teacher and method tables of the committee and talking modes.
pub fn panel_markdown(r: &PanelResults) -> String {
    let mut out = String::from("| teacher | model | parameters | compression vs student | test AUC | test logloss |\n|---|---|---|---|---|---|\n");
    let student_params = r.student.parameters.unwrap_or(0) as f64;
    for t in &r.teachers {
        out += &format!(
            "| {} | {} | {} | {:.1}x | {} | {} |\n",
            t.name,
            t.model,
            t.parameters,
            t.parameters as f64 / student_params,
            fx(t.test.auc, 4),
            fx(t.test.logloss, 4),
        );
    }
    out += &format!(
        "\nstudent {} ({}, {} parameters)\n\n| method | seeds | test AUC | test logloss | valid AUC | gap closed |\n|---|---|---|---|---|---|\n",
        r.student.name,
        r.student.model,
        r.student.parameters.unwrap_or(0),
    );
    for m in &r.methods {
        let gap = if m.method == super::panel::NO_KD || !m.gap_closed.is_finite() { "-".into() } else { format!("{:.0}%", 100.0 * m.gap_closed) };
        out += &format!("| {} | {} | {} | {} | {} | {} |\n", m.method, m.seeds, pm(&m.test_auc), pm(&m.test_logloss), pm(&m.valid_auc), gap);
    }
    if let Some(MethodExtra::Committee(e)) = r.methods.iter().find(|m| m.method == "DiverseDistill").map(|m| &m.extra) {
        out += &format!(
            "\nDiverseDistill teacher forward passes (seed 1): {} of {} ({:.1}% saved; filter_share {}, warm-up {} steps); QA module {} parameters (training only)\n",
            e.pairs_run,
            e.pairs_total,
            100.0 * e.saved_share,
            e.filter_share,
            e.warmup_steps,
            e.qa_parameters,
        );
    }
    if let Some(s) = &r.serving {
        out += &format!(
            "\nserved student: {} parameters ({} dense) vs plain student {} ({} dense); latency p50/p99 at batch {}: {:.3}/{:.3} ms vs plain {:.3}/{:.3} ms\n",
            s.served_parameters,
            s.served_dense_parameters,
            s.plain_parameters,
            s.plain_dense_parameters,
            s.batch,
            s.served_p50_ms,
            s.served_p99_ms,
            s.plain_p50_ms,
            s.plain_p99_ms,
        );
    }
    out
}

/// LEVI's ID / OOD table.
pub fn levi_markdown(r: &LeviResults) -> String {
    let p = &r.pretrained;
    let mut out = format!(
        "pre-trained model {} ({}, {} parameters, top {} layers read); task {} rows, ID test {} rows, OOD test {} rows (shift: {})\n\n",
        p.name, p.model, p.parameters, p.layers_read, r.task_rows, r.id_test_rows, r.ood_test_rows, r.shift,
    );
    if let (Some(target), Some(known)) = (&r.transfer_to, &r.transfer_known) {
        out += &format!(
            "transfer target {target}: known to the pre-trained vocabulary: items {:.1}%, users {:.1}%\n\n",
            100.0 * known.items,
            100.0 * known.users
        );
    }
    out += "| method | seeds | trainable params | ID AUC | ID logloss | OOD AUC | OOD logloss |\n|---|---|---|---|---|---|---|\n";
    for row in &r.rows {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            row.method,
            row.seeds,
            row.trainable_parameters,
            pm(&row.id_auc),
            pm(&row.id_logloss),
            pm(&row.ood_auc),
            pm(&row.ood_logloss),
        );
    }
    out
}

pub fn panel_html(r: &PanelResults) -> String {
    modes_html(&r.data, r.mode, &panel_markdown(r))
}

pub fn levi_html(r: &LeviResults) -> String {
    modes_html(&r.data, r.mode, &levi_markdown(r))
}

fn modes_html(d: &super::DataSummary, mode: &str, markdown: &str) -> String {
    let body = format!(
        "<p class=\"headline\">{} · mode <b>{}</b> · teachers on {} older rows; students on {} newer rows; validation {} and test {} rows</p>\
         <h2>Results</h2><pre>{}</pre>",
        escape(&d.dataset),
        escape(mode),
        d.teacher_rows,
        d.student_rows,
        d.valid_examples,
        d.test_examples,
        escape(markdown),
    );
    page(&format!("distill · {}", d.name), &body)
}

/// Student AUC gain against teacher training seconds: one line per candidate, and the frontier.
fn frontier_chart(search: &SearchOutcome) -> String {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for p in &search.points {
        match series.iter_mut().find(|s| s.0 == p.candidate) {
            Some(s) => s.1.push((p.teacher_seconds, p.student_gain)),
            None => series.push((p.candidate.clone(), vec![(p.teacher_seconds, p.student_gain)])),
        }
    }
    series.push(("frontier".into(), search.frontier.iter().map(|p| (p.teacher_seconds, p.student_gain)).collect()));
    curve_chart("Student AUC gain vs teacher training cost", "teacher training seconds", "student valid AUC gain", &series)
}
