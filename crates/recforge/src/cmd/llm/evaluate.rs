//! `recforge llm evaluate`: an LLM, optionally with LoRA adapters, on the fixed evaluation
//! sample ([`recforge_llmrec::pipelines::evaluate`]); writes results.json and outputs.jsonl.

use std::path::PathBuf;

use anyhow::{Context, Result};
use recforge_llmrec::Task;
use recforge_llmrec::evaluate::EvalConfig;
use recforge_llmrec::pipelines::evaluate::{EvaluationRequest, run_evaluation};

#[derive(clap::Args)]
pub struct Args {
    /// GGUF file or Hugging Face llama-family directory.
    #[arg(long)]
    model: PathBuf,
    /// A `recforge llm finetune` run folder: its adapters are folded into the model.
    #[arg(long)]
    adapters: Option<PathBuf>,
    /// Engine for a .gguf model: candle (default: ranking and rating are prompt scoring, where
    /// its f32 GEMM is faster) or llama-cpp (faster decoding; uses the run's adapter.gguf).
    #[arg(long, default_value_t = recforge_llm::Backend::for_scoring())]
    backend: recforge_llm::Backend,
    /// Dataset of the catalogue, the popularity counts and (without --eval-set) the sample:
    /// `ml-1m`, `ml-100k` (or `ml1m`, `ml100k`), or a schema TOML.
    #[arg(long, default_value = "ml-1m")]
    dataset: String,
    /// Evaluation sample (eval_users.jsonl of make-data); default: drawn with --eval-seed.
    #[arg(long)]
    eval_set: Option<PathBuf>,
    /// Seed of the sample when it is drawn here.
    #[arg(long, default_value_t = recforge_llmrec::eval_set::EVAL_SEED)]
    eval_seed: u64,
    /// Evaluate the first N users of the sample (default all).
    #[arg(long, alias = "users")]
    limit: Option<usize>,
    /// Comma-separated: retrieval, ranking, rating.
    #[arg(long, value_delimiter = ',', default_value = "retrieval,ranking,rating")]
    tasks: Vec<String>,
    /// Most recent history items shown in a prompt.
    #[arg(long, default_value_t = 10)]
    history: usize,
    /// Beam width of constrained retrieval (top-10 is returned).
    #[arg(long, default_value_t = 10)]
    beam: usize,
    /// Which phrasing of each template (0-based).
    #[arg(long, default_value_t = 0)]
    phrasing: usize,
    /// Seed of the candidate order in ranking prompts.
    #[arg(long, default_value_t = EvalConfig::default().seed)]
    seed: u64,
    /// Folder of prompt templates (<task>.txt); default the compiled-in configs/prompts/v1.
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Output folder for results.json and outputs.jsonl.
    #[arg(long)]
    out: PathBuf,
    /// Print results.json on stdout instead of the metrics summary.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let tasks = args.tasks.iter().map(|t| Task::parse(t.trim())).collect::<Result<Vec<_>, _>>().context("--tasks")?;
    let request = EvaluationRequest {
        model: args.model,
        adapters: args.adapters,
        backend: args.backend,
        dataset: args.dataset,
        eval_set: args.eval_set,
        eval_seed: args.eval_seed,
        limit: args.limit,
        tasks,
        config: EvalConfig { history: args.history, beam: args.beam, phrasing: args.phrasing, seed: args.seed, ..EvalConfig::default() },
        prompts: args.prompts,
        out: args.out,
    };
    let results = run_evaluation(&request, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!("{}", serde_json::to_string_pretty(&results.metrics)?);
    println!("popularity on the same {} users: {}", results.users, serde_json::to_string(&results.popularity)?);
    println!("→ {}", request.out.join("results.json").display());
    Ok(())
}
