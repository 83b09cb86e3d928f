//! The model-zoo report: the results table and the AUC-vs-serving-latency plot (every model
//! and the low-rank / pruned Hiformer serving variants), as one self-contained HTML page.

use plotters::prelude::*;

use super::{STYLE, escape};

/// One point of the plot: a model's mean serving latency and mean test AUC.
pub struct Point {
    pub label: String,
    pub latency_ms: f64,
    pub auc: f64,
}

/// The page: a title, the markdown table rendered as preformatted text, one plot per batch size.
pub fn render(title: &str, table_markdown: &str, plots: &[(String, Vec<Point>)], command: &str) -> String {
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>recforge · {0}</title><style>{STYLE}</style></head><body>\
         <h1>recforge model zoo · {0}</h1><p class=\"note\">regenerate: <code>{1}</code></p><h2>Results</h2><pre>{2}</pre>\
         <h2>AUC against serving latency</h2><div class=\"plots\">",
        escape(title),
        escape(command),
        escape(table_markdown)
    );
    for (caption, points) in plots {
        html += &scatter(caption, points);
    }
    html + "</div><p class=\"note\">Latency: one request of the given batch size, embedding lookup to probabilities, \
            p50 over repeated requests on this machine; AUC on the test split, mean over seeds.</p></body></html>"
}

/// AUC (y) against latency (x, log scale) with a labelled point per model.
fn scatter(caption: &str, points: &[Point]) -> String {
    let finite: Vec<&Point> = points.iter().filter(|p| p.auc.is_finite() && p.latency_ms > 0.0).collect();
    if finite.is_empty() {
        return String::new();
    }
    let (x_lo, x_hi, y_lo, y_hi) = finite.iter().fold((f64::MAX, f64::MIN, f64::MAX, f64::MIN), |(a, b, c, d), p| {
        (a.min(p.latency_ms), b.max(p.latency_ms), c.min(p.auc), d.max(p.auc))
    });
    let pad = ((y_hi - y_lo) * 0.15).max(2e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (620, 420)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((x_lo * 0.7..x_hi * 1.6).log_scale(), (y_lo - pad)..(y_hi + pad));
        if let Ok(mut chart) = chart {
            let _ = chart.configure_mesh().x_desc("p50 latency (ms, log scale)").y_desc("test AUC").draw();
            let _ = chart.draw_series(finite.iter().map(|p| {
                let color = if p.label.starts_with("hiformer") { RED } else { BLUE };
                EmptyElement::at((p.latency_ms, p.auc))
                    + Circle::new((0, 0), 4, color.filled())
                    + Text::new(p.label.clone(), (6, -12), ("sans-serif", 12))
            }));
        }
        let _ = root.present();
    }
    svg
}
