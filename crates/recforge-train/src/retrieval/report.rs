//! What the multi-interest retrieval experiment ([`super::experiment`]) writes for people:
//! two markdown tables (full-corpus ranking, sampled negatives; rows × HR@K overall/head/tail,
//! plus overall NDCG@10/50 under full-corpus ranking; mean ± std over seeds) and an HTML page adding, per seed, tail vs head validation HR@200
//! across IDW rounds (round 0 = MUR before density weighting).

use super::evaluate::KS;
use super::experiment::{ROWS, RowResult, ZooResults};
use crate::report::{STYLE, escape, marked_curve_chart as line_chart};
use crate::metrics::mean_std;

/// Which protocol a table shows.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Full,
    Sampled,
}

/// NDCG cut-offs shown in the full-corpus table.
const NDCG_KS: [usize; 2] = [10, 50];

/// The training seeds that have results, in order.
fn seeds(results: &ZooResults) -> Vec<u64> {
    let mut seeds: Vec<u64> = results.results.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    seeds
}

/// Two markdown tables (full corpus, sampled negatives): rows × HR@K overall/head/tail (and
/// NDCG@10/50 overall for the full corpus).
pub fn markdown_tables(results: &ZooResults) -> String {
    let mut md = format!(
        "{}: {} users, {} interactions; seeds {:?}; d = {}, H = {}, τ = {}; mean ± std over seeds\n",
        results.dataset,
        results.users,
        results.interactions,
        seeds(results),
        results.config.dim,
        results.interests,
        results.config.temperature
    );
    // With 100 candidates HR@100 and HR@200 are 1 by construction: the sampled table stops at 50.
    for (protocol, title, ks) in
        [(Protocol::Full, "full-corpus ranking", &KS[..]), (Protocol::Sampled, "target + 99 popularity-sampled negatives", &KS[..2])]
    {
        md += &format!("\n**{title}** (test)\n\n| model | seeds |");
        for k in ks {
            md += &format!(" HR@{k} | head | tail |");
        }
        let ndcg_ks: &[usize] = if protocol == Protocol::Full { &NDCG_KS } else { &[] };
        for k in ndcg_ks {
            md += &format!(" NDCG@{k} |");
        }
        md += "\n|---|---|";
        md += &"---|".repeat(3 * ks.len() + ndcg_ks.len());
        md += "\n";
        for row in ROWS {
            let rows: Vec<&RowResult> = results.results.iter().filter(|r| r.row == row).collect();
            if rows.is_empty() {
                continue;
            }
            md += &format!("| {row} | {} |", rows.len());
            for &k in ks {
                for group in ["overall", "head", "tail"] {
                    let values: Vec<f64> = rows
                        .iter()
                        .map(|r| match protocol {
                            Protocol::Full => r.test.full.get(group, k),
                            Protocol::Sampled => r.test.sampled.get(group, k),
                        })
                        .collect();
                    let (m, s) = mean_std(&values);
                    md += &format!(" {m:.4} ± {s:.4} |");
                }
            }
            for &k in ndcg_ks {
                let (m, s) = mean_std(&rows.iter().map(|r| r.test.full.ndcg_at(k)).collect::<Vec<_>>());
                md += &format!(" {m:.4} ± {s:.4} |");
            }
            md += "\n";
        }
    }
    md
}

/// The HTML report: IDW-round charts and table, then the test tables (`table_markdown`).
pub fn render_html(results: &ZooResults, table_markdown: &str) -> String {
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>recforge · retrieval zoo · {0}</title>\
         <style>{STYLE}</style></head><body><h1>recforge retrieval zoo · {0}</h1>\
         <p class=\"headline\">{1} users · {2} items · {3} interactions · seeds {4:?}</p>",
        escape(&results.dataset),
        results.users,
        results.items,
        results.interactions,
        seeds(results)
    );
    html += "<h2>Tail vs head across IDW rounds (validation, full-corpus HR@200)</h2><div class=\"plots\">";
    let series = |value: fn(&super::IdwRound) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        results
            .idw_rounds
            .iter()
            .map(|(seed, rounds)| (format!("seed {seed}"), rounds.iter().map(|r| (r.round as f64, value(r))).collect()))
            .collect()
    };
    html += &line_chart("Tail HR@200 per IDW round", "IDW round", "tail HR@200", &series(|r| r.valid_tail_hr200));
    html += &line_chart("Head HR@200 per IDW round", "IDW round", "head HR@200", &series(|r| r.valid_head_hr200));
    html += "</div><table><tr><th>seed</th><th>round</th><th>‖Δw‖∞</th><th>converged</th><th>head HR@200</th><th>tail HR@200</th><th>overall HR@200</th></tr>";
    for (seed, rounds) in &results.idw_rounds {
        for r in rounds {
            html += &format!(
                "<tr><td>{seed}</td><td>{}</td><td>{:.2e}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                r.round, r.delta_inf, r.converged, r.valid_head_hr200, r.valid_tail_hr200, r.valid_overall_hr200
            );
        }
    }
    html += "</table><h2>Test hit rates</h2><pre>";
    html += &escape(table_markdown);
    html += "</pre><p class=\"note\">Generated by recforge retrieval-zoo; every figure is recomputed by rerunning it.</p></body></html>";
    html
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::retrieval::evaluate::{HitRates, RetrievalMetrics};
    use crate::retrieval::{IdwRound, RetrievalTrainConfig};

    fn row(row: &str, seed: u64, hr10: f64) -> RowResult {
        let full = HitRates { overall: [hr10, 0.6, 0.8, 1.0], ndcg: [hr10 / 2.0, 0.3, 0.4, 0.5], ..HitRates::default() };
        RowResult { row: row.into(), seed, test: RetrievalMetrics { full, sampled: HitRates::default() }, seconds: 1.0 }
    }

    #[test]
    fn tables_give_mean_and_sample_std_over_seeds_in_row_order() {
        let round = |r: usize, tail: f64| IdwRound {
            round: r,
            delta_inf: 0.1,
            converged: false,
            valid_head_hr200: 0.9,
            valid_tail_hr200: tail,
            valid_overall_hr200: 0.8,
        };
        let results = ZooResults {
            dataset: "tiny".into(),
            config: RetrievalTrainConfig::default(),
            interests: 3,
            users: 10,
            items: 5,
            interactions: 50,
            // Listed out of table order: the table still shows sur before mur.
            results: vec![row("mur", 1, 0.5), row("sur", 1, 0.2), row("sur", 2, 0.4)],
            idw_rounds: BTreeMap::from([(1, vec![round(0, 0.1), round(1, 0.3)])]),
        };
        let md = markdown_tables(&results);
        // HR@10 of sur over seeds: mean 0.3, sample std √0.02 ≈ 0.1414.
        assert!(md.contains("| sur | 2 | 0.3000 ± 0.1414 |"), "{md}");
        assert!(md.contains("| mur | 1 | 0.5000 ± 0.0000 |"), "{md}");
        // NDCG@10 and NDCG@50 close the full-corpus row: sur's NDCG@10 is half its HR@10.
        assert!(md.contains("| 0.1500 ± 0.0707 | 0.3000 ± 0.0000 |\n| mur |"), "{md}");
        assert!(md.contains("seeds [1, 2]"), "{md}");
        assert!(md.find("| sur |") < md.find("| mur |"));
        let html = render_html(&results, &md);
        assert!(html.contains("<svg") && html.contains("IDW round") && html.contains("0.3000"));
    }
}
