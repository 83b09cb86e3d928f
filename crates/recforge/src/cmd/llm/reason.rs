//! `recforge llm reason`: rating prediction (1-5) on the evaluation users with and without
//! zero-shot chain-of-thought (arXiv 2408.00802), with any model path (GGUF file or Hugging Face
//! directory). Writes `predictions_<mode>.jsonl` (history, item, true and predicted rating,
//! reasoning), `metrics.json` (RMSE/MAE per mode, time, generated tokens/s) and, with
//! `--reasoning-model`, `reasoning_train.jsonl`: the larger model's chains of thought as
//! `task`/`prompt`/`target` rows for fine-tuning. Model outputs are cached in `cache.jsonl`, so
//! a rerun (or a run with a larger `--limit`) only computes what is new.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use recforge_llm::CausalLm;
use recforge_llmrec::eval_set::EVAL_USERS;
use recforge_llmrec::jsonl::write_jsonl;
use recforge_llmrec::reasoning::{Mode, RatingCase, RatingMetrics, ReasoningConfig, predict, reasoning_row};
use recforge_llmrec::GenerationCache;
use serde_json::json;

use super::baselines::load_eval_users;
use super::make_data::load_rec_data;

#[derive(clap::Args)]
pub struct Args {
    /// The model: a .gguf file or a Hugging Face directory (llama-family or T5); default
    /// SmolLM2-135M-Instruct under $RECFORGE_DATA/models.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The evaluation sample (JSONL of EvalUser); default: the fixed ML-1M sample.
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
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
}

/// SmolLM2-135M-Instruct as `recforge data fetch --only smollm2` places it.
pub fn default_model() -> PathBuf {
    recforge_data::paths::data_dir().join("models").join("smollm2-135m-instruct").join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn bar(len: usize, prefix: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} · {elapsed} · ETA {eta} · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

pub fn run(args: Args) -> Result<()> {
    if args.modes.is_empty() {
        bail!("--modes: give direct, cot or both");
    }
    let (_, data) = load_rec_data("ml1m")?;
    let users = load_eval_users(&data, args.eval_set.as_deref(), args.eval_users)?;
    let cases: Vec<RatingCase> =
        users.iter().take(args.limit.unwrap_or(usize::MAX)).map(|u| RatingCase::from_eval_user(u, args.history)).collect();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let cache = GenerationCache::open(&args.out.join("cache.jsonl"))?;
    let model_path = args.model.clone().unwrap_or_else(default_model);
    let model = CausalLm::load(&model_path).with_context(|| format!("loading the model {}", model_path.display()))?;
    let config = ReasoningConfig { max_reasoning_tokens: args.max_reasoning_tokens, temperature: args.temperature, seed: args.seed };
    println!("{} evaluation users with {} history items each; model {}", cases.len(), args.history, model.model_id());
    let mut metrics = serde_json::Map::new();
    for &mode in &args.modes {
        let started = Instant::now();
        let progress = bar(cases.len(), mode.name(), args.quiet);
        let mut predictions = Vec::with_capacity(cases.len());
        let mut reasoning_tokens = 0usize;
        for case in &cases {
            let prediction = predict(&model, case, mode, &config, Some(&cache))?;
            reasoning_tokens += model.count_tokens(&prediction.reasoning);
            predictions.push(prediction);
            progress.inc(1);
            let m = RatingMetrics::of(&predictions);
            progress.set_message(format!("RMSE {:.3} MAE {:.3}", m.rmse, m.mae));
        }
        progress.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        let path = args.out.join(format!("predictions_{}.jsonl", mode.name()));
        write_jsonl(&path, &predictions)?;
        let m = RatingMetrics::of(&predictions);
        println!(
            "{:<6} RMSE {:.4} MAE {:.4} (expected rating: RMSE {:.4} MAE {:.4}) · exact {:.3} · {} users · {seconds:.0}s (cached outputs are free) → {}",
            mode.name(),
            m.rmse,
            m.mae,
            m.rmse_expected,
            m.mae_expected,
            m.accuracy,
            m.examples,
            path.display()
        );
        metrics.insert(
            mode.name().to_string(),
            json!({ "metrics": m, "seconds": seconds, "reasoning_tokens": reasoning_tokens, "reasoning_tokens_per_sec": reasoning_tokens as f64 / seconds.max(1e-9) }),
        );
    }
    if let Some(teacher_path) = &args.reasoning_model {
        let teacher = CausalLm::load(teacher_path).with_context(|| format!("loading the reasoning model {}", teacher_path.display()))?;
        let progress = bar(cases.len(), "reasoning rows", args.quiet);
        let mut rows = Vec::with_capacity(cases.len());
        for case in &cases {
            rows.push(reasoning_row(&teacher, case, &config, Some(&cache))?);
            progress.inc(1);
        }
        progress.finish_and_clear();
        let path = args.out.join("reasoning_train.jsonl");
        write_jsonl(&path, &rows)?;
        println!("wrote {} reasoning rows from {} to {}", rows.len(), teacher.model_id(), path.display());
    }
    let summary = json!({
        "model": model.model_id(),
        "model_path": model_path,
        "users": cases.len(),
        "history": args.history,
        "modes": metrics,
    });
    std::fs::write(args.out.join("metrics.json"), serde_json::to_string_pretty(&summary)?)?;
    println!("wrote {}/metrics.json", args.out.display());
    Ok(())
}
