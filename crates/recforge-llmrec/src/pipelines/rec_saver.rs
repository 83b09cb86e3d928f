//! Rec-SAVER ([`crate::rec_saver`]) over the chains of thought in a predictions file of the
//! reasoning pipeline: N reference explanations per example, self-verification, BLEU-4 /
//! ROUGE-L / embedding-cosine scores. Writes `scored.jsonl`, `summary.json`
//! ([`RecSaverRun`]) and `report.html` (examples a person can read to judge whether the scores
//! track quality). Generations are cached in `cache.jsonl`: a rerun is free.

use std::path::{Path, PathBuf};
use std::time::Instant;

use recforge_data::{Phase, Progress, Unit};
use recforge_llm::{Backend, CausalLm, LoadOptions, SentenceEncoder};
use recforge_train::report::{escape, page};
use serde::{Deserialize, Serialize};

use super::reason::default_model;
use super::{create_dir, write_json};
use crate::error::{LlmRecError, Result};
use crate::generation_cache::GenerationCache;
use crate::jsonl::write_jsonl;
use crate::reasoning::read_predictions;
use crate::rec_saver::{RecSaverConfig, RecSaverSummary, ScoredExample, score_prediction};

/// What to score, with which models.
#[derive(Debug, Clone)]
pub struct RecSaverRequest {
    /// A predictions JSONL of the reasoning pipeline (rows without reasoning are skipped).
    pub predictions: PathBuf,
    pub out: PathBuf,
    /// The model that writes and verifies references; None: SmolLM2-135M-Instruct.
    pub model: Option<PathBuf>,
    /// The engine running a .gguf model (directories always run on candle).
    pub backend: Backend,
    /// The sentence encoder; None: all-MiniLM-L6-v2 under $RECFORGE_DATA/models.
    pub encoder: Option<PathBuf>,
    /// Score the first N examples with reasoning only.
    pub limit: Option<usize>,
    pub config: RecSaverConfig,
    /// Examples shown in report.html.
    pub html_examples: usize,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecSaverRun {
    pub predictions: PathBuf,
    pub model: String,
    pub encoder: String,
    pub config: RecSaverConfig,
    pub skipped_without_reasoning: usize,
    pub seconds: f64,
    pub summary: RecSaverSummary,
}

/// all-MiniLM-L6-v2 as `recforge data fetch` places it.
pub fn default_encoder() -> PathBuf {
    recforge_data::paths::data_dir().join("models").join("all-minilm-l6-v2")
}

/// Scores every prediction with reasoning and writes the output folder. Bad input (no
/// reasoning, malformed rows) is refused before any model loads.
pub fn run_rec_saver(request: &RecSaverRequest, progress: &dyn Progress) -> Result<RecSaverRun> {
    if request.config.references == 0 {
        return Err(LlmRecError::Invalid("--references must be at least 1".into()));
    }
    let all = read_predictions(&request.predictions)?;
    let with_reasoning: Vec<_> =
        all.iter().filter(|p| !p.reasoning.trim().is_empty()).take(request.limit.unwrap_or(usize::MAX)).collect();
    let skipped = all.iter().filter(|p| p.reasoning.trim().is_empty()).count();
    if with_reasoning.is_empty() {
        return Err(LlmRecError::Invalid(format!(
            "{}: no prediction carries reasoning ({} rows, all with an empty `reasoning`); use predictions_cot.jsonl of `recforge llm reason`",
            request.predictions.display(),
            all.len()
        )));
    }
    create_dir(&request.out)?;
    let cache = GenerationCache::open(&request.out.join("cache.jsonl"))?;
    let options = LoadOptions { backend: request.backend, ..LoadOptions::default() };
    let model = CausalLm::load_with(&request.model.clone().unwrap_or_else(default_model), options)?;
    let encoder = SentenceEncoder::load(&request.encoder.clone().unwrap_or_else(default_encoder))?;
    let config = &request.config;
    tracing::info!(
        "{} predictions with reasoning ({skipped} without, skipped) × {} references; model {}",
        with_reasoning.len(),
        config.references,
        model.model_id()
    );
    let started = Instant::now();
    let phase = Phase::begin(progress, "rec-saver", Some(with_reasoning.len() as u64), Unit::Items);
    let mut scored: Vec<ScoredExample> = Vec::with_capacity(with_reasoning.len());
    for prediction in &with_reasoning {
        scored.push(score_prediction(&model, &encoder, prediction, config, Some(&cache))?);
        let kept: usize = scored.iter().map(|e| e.references.iter().filter(|r| r.kept).count()).sum();
        phase.update(scored.len() as u64, &format!("kept {kept}/{}", scored.len() * config.references));
    }
    drop(phase);
    let run = RecSaverRun {
        predictions: request.predictions.clone(),
        model: model.model_id().to_string(),
        encoder: encoder.model_id().to_string(),
        config: config.clone(),
        skipped_without_reasoning: skipped,
        seconds: started.elapsed().as_secs_f64(),
        summary: RecSaverSummary::of(&scored),
    };
    write_jsonl(&request.out.join("scored.jsonl"), &scored)?;
    write_json(&request.out.join("summary.json"), &run)?;
    let html = render(&run.summary, &scored, request.html_examples, &request.predictions);
    let path = request.out.join("report.html");
    std::fs::write(&path, html).map_err(|e| LlmRecError::io(&path, e))?;
    Ok(run)
}

fn score_cell(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.3}"))
}

/// The HTML page: summary tables, then examples (highest ROUGE-L first, unscored last).
pub fn render(s: &RecSaverSummary, scored: &[ScoredExample], shown: usize, source: &Path) -> String {
    let mut body = format!(
        "<p class=\"headline\">{} examples from <code>{}</code> · references kept <b>{}/{}</b> ({:.1}%) · {} dropped for stating the rating · {} examples scored</p>",
        s.examples,
        escape(&source.display().to_string()),
        s.kept,
        s.references,
        100.0 * s.kept_share,
        s.leaking,
        s.scored
    );
    body += "<h2>Score distributions</h2><table><tr><th>score</th><th>mean</th><th>std</th><th>min</th><th>p10</th><th>median</th><th>p90</th><th>max</th></tr>";
    for (name, d) in [("BLEU-4", &s.bleu4), ("ROUGE-L", &s.rouge_l), ("MiniLM cosine", &s.embedding)] {
        body += &format!(
            "<tr><td>{name}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            d.mean, d.std, d.min, d.p10, d.p50, d.p90, d.max
        );
    }
    body += "</table><h2>Do the scores track the prediction?</h2><table><tr><th>prediction</th><th>examples</th><th>BLEU-4</th><th>ROUGE-L</th><th>cosine</th></tr>";
    for (name, n, m) in [("right (= true rating)", s.correct_examples, s.correct), ("wrong", s.wrong_examples, s.wrong)] {
        body += &format!(
            "<tr><td>{name}</td><td>{n}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            score_cell(m.map(|x| x.bleu4)),
            score_cell(m.map(|x| x.rouge_l)),
            score_cell(m.map(|x| x.embedding))
        );
    }
    body += "</table><h2>References kept by true rating</h2><table><tr><th>true rating</th><th>references</th><th>kept</th></tr>";
    for (i, (n, k)) in s.kept_by_rating.iter().enumerate() {
        body += &format!("<tr><td>{}</td><td>{n}</td><td>{k}</td></tr>", i + 1);
    }
    body += "</table><h2>Examples</h2><p class=\"note\">Sorted by ROUGE-L (highest first); examples without a kept reference last. Kept references are marked ✓, dropped ones ✗ with the rating the model recovered from them.</p>";
    let mut order: Vec<&ScoredExample> = scored.iter().collect();
    order.sort_by(|a, b| {
        let key = |e: &ScoredExample| e.scores.map_or(f64::NEG_INFINITY, |s| s.rouge_l);
        key(b).total_cmp(&key(a))
    });
    for e in order.into_iter().take(shown) {
        let history: Vec<String> = e.history.iter().map(|h| format!("{} ({})", escape(&h.title), h.rating)).collect();
        body += &format!(
            "<div style=\"border:1px solid #ccc;padding:.6em 1em;margin:1em 0\"><p><b>{}</b> · true rating <b>{}</b> · predicted <b>{}</b> · BLEU-4 {} · ROUGE-L {} · cosine {}</p>\
             <p class=\"note\">history: {}</p><p><b>reasoning:</b> {}</p><ul>",
            escape(&e.item),
            e.true_rating,
            e.predicted_rating,
            score_cell(e.scores.map(|s| s.bleu4)),
            score_cell(e.scores.map(|s| s.rouge_l)),
            score_cell(e.scores.map(|s| s.embedding)),
            history.join("; "),
            escape(&e.reasoning)
        );
        for r in &e.references {
            let mark = if r.kept {
                "✓".to_string()
            } else if r.leaks_rating {
                "✗ states the rating".to_string()
            } else {
                format!("✗ recovers {}", r.verified_rating)
            };
            body += &format!("<li>{mark}: {}</li>", escape(&r.text));
        }
        body += "</ul></div>";
    }
    page("Rec-SAVER", &body)
}
