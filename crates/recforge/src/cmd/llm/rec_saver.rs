//! `recforge llm rec-saver --predictions FILE --out DIR`: Rec-SAVER (arXiv 2408.00802) over the
//! chains of thought in a predictions file of `recforge llm reason`: N reference explanations per
//! example given the true rating, self-verification (keep those from which the model recovers
//! the true rating), and BLEU-4 / ROUGE-L / MiniLM-cosine scores of each candidate reasoning
//! against the kept references. Writes `scored.jsonl`, `summary.json` (share of references kept,
//! score distributions, mean scores of right vs wrong predictions) and `report.html` (examples a
//! person can read to judge whether the scores track quality). Generations are cached in
//! `DIR/cache.jsonl`: a rerun is free.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use recforge_llm::{CausalLm, SentenceEncoder};
use recforge_llmrec::GenerationCache;
use recforge_llmrec::jsonl::write_jsonl;
use recforge_llmrec::rec_saver::{Distribution, RecSaverConfig, RecSaverSummary, ScoredExample, score_prediction};
use recforge_llmrec::reasoning::read_predictions;
use serde_json::json;

use crate::report::{escape, page};

#[derive(clap::Args)]
pub struct Args {
    /// A predictions JSONL of `recforge llm reason` (rows with an empty `reasoning` are skipped
    /// and counted).
    #[arg(long)]
    predictions: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// The model that writes and verifies references (.gguf or Hugging Face directory); default
    /// SmolLM2-135M-Instruct under $RECFORGE_DATA/models.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The sentence encoder of the embedding similarity (Hugging Face BERT directory); default
    /// all-MiniLM-L6-v2 under $RECFORGE_DATA/models.
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Reference explanations generated per example.
    #[arg(long, default_value_t = 3)]
    references: usize,
    /// Score the first N examples with reasoning only.
    #[arg(long)]
    limit: Option<usize>,
    /// Sampling temperature of the references.
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Most tokens per reference.
    #[arg(long, default_value_t = 80)]
    max_tokens: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keep references that state the rating outright ("4 out of 5") instead of dropping them.
    #[arg(long)]
    keep_leaking: bool,
    /// Examples shown in report.html.
    #[arg(long, default_value_t = 30)]
    html_examples: usize,
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.references == 0 {
        bail!("--references must be at least 1");
    }
    let all = read_predictions(&args.predictions)?;
    let with_reasoning: Vec<_> = all.iter().filter(|p| !p.reasoning.trim().is_empty()).take(args.limit.unwrap_or(usize::MAX)).collect();
    let skipped = all.iter().filter(|p| p.reasoning.trim().is_empty()).count();
    if with_reasoning.is_empty() {
        bail!(
            "{}: no prediction carries reasoning ({} rows, all with an empty `reasoning`); use predictions_cot.jsonl of `recforge llm reason`",
            args.predictions.display(),
            all.len()
        );
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let cache = GenerationCache::open(&args.out.join("cache.jsonl"))?;
    let model_path = args.model.clone().unwrap_or_else(super::reason::default_model);
    let encoder_path = args.encoder.clone().unwrap_or_else(|| recforge_data::paths::data_dir().join("models").join("all-minilm-l6-v2"));
    let model = CausalLm::load(&model_path).with_context(|| format!("loading the model {}", model_path.display()))?;
    let encoder = SentenceEncoder::load(&encoder_path).with_context(|| format!("loading the sentence encoder {}", encoder_path.display()))?;
    let config = RecSaverConfig {
        references: args.references,
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        seed: args.seed,
        drop_leaking: !args.keep_leaking,
        ..RecSaverConfig::default()
    };
    println!(
        "{} predictions with reasoning ({} without, skipped) × {} references; model {}",
        with_reasoning.len(),
        skipped,
        config.references,
        model.model_id()
    );
    let started = Instant::now();
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(with_reasoning.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("rec-saver [{bar:30}] {pos}/{len} · {elapsed} · ETA {eta} · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut scored: Vec<ScoredExample> = Vec::with_capacity(with_reasoning.len());
    for prediction in &with_reasoning {
        scored.push(score_prediction(&model, &encoder, prediction, &config, Some(&cache))?);
        let kept: usize = scored.iter().map(|e| e.references.iter().filter(|r| r.kept).count()).sum();
        bar.inc(1);
        bar.set_message(format!("kept {kept}/{}", scored.len() * config.references));
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let summary = RecSaverSummary::of(&scored);
    write_jsonl(&args.out.join("scored.jsonl"), &scored)?;
    let summary_json = json!({
        "predictions": args.predictions,
        "model": model.model_id(),
        "encoder": encoder.model_id(),
        "config": config,
        "skipped_without_reasoning": skipped,
        "seconds": seconds,
        "summary": summary,
    });
    std::fs::write(args.out.join("summary.json"), serde_json::to_string_pretty(&summary_json)?)?;
    std::fs::write(args.out.join("report.html"), render(&summary, &scored, args.html_examples, &args.predictions.display().to_string()))?;
    print_summary(&summary);
    println!("{seconds:.0}s; wrote {0}/scored.jsonl, {0}/summary.json, {0}/report.html", args.out.display());
    Ok(())
}

fn print_summary(s: &RecSaverSummary) {
    println!(
        "references kept {}/{} ({:.1}%; {} dropped for stating the rating); {} of {} examples scored",
        s.kept,
        s.references,
        100.0 * s.kept_share,
        s.leaking,
        s.scored,
        s.examples
    );
    for (name, d) in [("BLEU-4", &s.bleu4), ("ROUGE-L", &s.rouge_l), ("MiniLM cos", &s.embedding)] {
        println!("{name:<11} {}", distribution_line(d));
    }
    if let (Some(c), Some(w)) = (s.correct, s.wrong) {
        println!(
            "mean scores, right prediction ({}) vs wrong ({}): BLEU-4 {:.4} vs {:.4}, ROUGE-L {:.4} vs {:.4}, cos {:.4} vs {:.4}",
            s.correct_examples, s.wrong_examples, c.bleu4, w.bleu4, c.rouge_l, w.rouge_l, c.embedding, w.embedding
        );
    }
}

fn distribution_line(d: &Distribution) -> String {
    format!(
        "mean {:.4} ± {:.4} · min {:.4} · p10 {:.4} · median {:.4} · p90 {:.4} · max {:.4} (n = {})",
        d.mean, d.std, d.min, d.p10, d.p50, d.p90, d.max, d.n
    )
}

fn score_cell(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.3}"))
}

/// The HTML page: summary tables, then examples (highest ROUGE-L first, unscored last).
fn render(s: &RecSaverSummary, scored: &[ScoredExample], shown: usize, source: &str) -> String {
    let mut body = format!(
        "<p class=\"headline\">{} examples from <code>{}</code> · references kept <b>{}/{}</b> ({:.1}%) · {} dropped for stating the rating · {} examples scored</p>",
        s.examples,
        escape(source),
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
