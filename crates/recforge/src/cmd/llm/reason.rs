//! `recforge llm reason`: rating prediction with and without zero-shot chain of thought on
//! the evaluation users ([`recforge_llmrec::pipelines::reason`]).

use std::path::PathBuf;

use anyhow::Result;
use recforge_llmrec::eval_set::EVAL_USERS;
use recforge_llmrec::pipelines::reason::{ReasonRequest, predictions_file, run_reason};
use recforge_llmrec::reasoning::{Mode, ReasoningConfig};

#[derive(clap::Args)]
pub struct Args {
    /// The model: a .gguf file or a Hugging Face directory (llama-family or T5); default
    /// SmolLM2-135M-Instruct under $RECFORGE_DATA/models.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Engine for .gguf models: llama-cpp (default when built in: faster generation) or candle.
    #[arg(long, default_value_t = recforge_llm::Backend::for_generation())]
    backend: recforge_llm::Backend,
    /// Dataset of the evaluation users: `ml-1m`, `ml-100k` (or `ml1m`, `ml100k`), or a schema TOML.
    #[arg(long, default_value = "ml-1m")]
    dataset: String,
    /// The evaluation sample (JSONL of EvalUser); default: the fixed sample.
    #[arg(long)]
    eval_set: Option<PathBuf>,
    /// Users in the default sample.
    #[arg(long, default_value_t = EVAL_USERS)]
    eval_users: usize,
    /// Predict for the first N evaluation users only (generation is slow on a CPU).
    #[arg(long)]
    limit: Option<usize>,
    /// Comma-separated: direct, cot.
    #[arg(long, value_delimiter = ',', default_value = "direct,cot")]
    modes: Vec<Mode>,
    /// History items shown per user (most recent).
    #[arg(long, default_value_t = 15)]
    history: usize,
    /// Most tokens of a chain of thought.
    #[arg(long, default_value_t = 96)]
    max_reasoning_tokens: usize,
    /// Sampling temperature of the chain of thought (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A (larger) model whose chains of thought become fine-tuning rows (reasoning_train.jsonl).
    #[arg(long)]
    reasoning_model: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "runs/llm-reason")]
    out: PathBuf,
    /// Print metrics.json on stdout instead of one line per mode.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let request = ReasonRequest {
        dataset: args.dataset,
        model: args.model,
        backend: args.backend,
        eval_set: args.eval_set,
        eval_users: args.eval_users,
        limit: args.limit,
        modes: args.modes,
        history: args.history,
        config: ReasoningConfig { max_reasoning_tokens: args.max_reasoning_tokens, temperature: args.temperature, seed: args.seed },
        reasoning_model: args.reasoning_model,
        out: args.out,
    };
    let summary = run_reason(&request, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    for (mode, r) in &summary.modes {
        let m = &r.metrics;
        println!(
            "{mode:<6} RMSE {:.4} MAE {:.4} (expected rating: RMSE {:.4} MAE {:.4}) · exact {:.3} · {} users · {:.0}s (cached outputs are free)",
            m.rmse, m.mae, m.rmse_expected, m.mae_expected, m.accuracy, m.examples, r.seconds
        );
    }
    for &mode in &request.modes {
        println!("→ {}", predictions_file(&request.out, mode).display());
    }
    println!("wrote {}/metrics.json", request.out.display());
    Ok(())
}
