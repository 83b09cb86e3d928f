//! `recforge llm rec-saver --predictions FILE --out DIR`: Rec-SAVER scores of the chains of
//! thought in a predictions file of `recforge llm reason`
//! ([`recforge_llmrec::pipelines::rec_saver`]).

use std::path::PathBuf;

use anyhow::Result;
use recforge_llmrec::pipelines::rec_saver::{RecSaverRequest, run_rec_saver};
use recforge_llmrec::rec_saver::{Distribution, RecSaverConfig, RecSaverSummary};

#[derive(clap::Args)]
pub struct Args {
    /// A predictions JSONL of `recforge llm reason` (rows with an empty `reasoning` are skipped
    /// and counted).
    #[arg(long, alias = "data")]
    predictions: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// The model that writes and verifies references (.gguf or Hugging Face directory); default
    /// SmolLM2-135M-Instruct under $RECFORGE_DATA/models.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Engine for a .gguf model: llama-cpp (default when built in: faster generation) or candle.
    #[arg(long, default_value_t = recforge_llm::Backend::for_generation())]
    backend: recforge_llm::Backend,
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
    /// Print summary.json on stdout instead of the summary lines.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let request = RecSaverRequest {
        predictions: args.predictions,
        out: args.out,
        model: args.model,
        backend: args.backend,
        encoder: args.encoder,
        limit: args.limit,
        config: RecSaverConfig {
            references: args.references,
            temperature: args.temperature,
            max_tokens: args.max_tokens,
            seed: args.seed,
            drop_leaking: !args.keep_leaking,
            ..RecSaverConfig::default()
        },
        html_examples: args.html_examples,
    };
    let run = run_rec_saver(&request, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run)?);
        return Ok(());
    }
    print_summary(&run.summary);
    let out = request.out.display();
    println!("{:.0}s; wrote {out}/scored.jsonl, {out}/summary.json, {out}/report.html", run.seconds);
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
