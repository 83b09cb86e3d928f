//! `recforge llm finetune`: LoRA fine-tuning of a llama-family model on task JSONL from
//! `recforge llm make-data` ([`recforge_llmrec::pipelines::finetune`]): a resumable run folder
//! with checkpoints, train_log.jsonl and summary.json.

use std::path::PathBuf;

use anyhow::{Context, Result};
use recforge_llm::{LoraConfig, Projection};
use recforge_llmrec::Task;
use recforge_llmrec::finetune::FinetuneConfig;
use recforge_llmrec::pipelines::finetune::{FinetuneRequest, run_finetune};

#[derive(clap::Args)]
pub struct Args {
    /// Folder written by `recforge llm make-data` (its train.jsonl is read) or a JSONL file.
    #[arg(long)]
    data: PathBuf,
    /// GGUF file or Hugging Face llama-family directory (config.json + safetensors + tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Rank r of every LoRA adapter.
    #[arg(long, default_value_t = 8)]
    lora_rank: usize,
    /// LoRA α: updates are scaled by α / r.
    #[arg(long, default_value_t = 16.0)]
    lora_alpha: f64,
    /// Adapt only the top N blocks (default: every block).
    #[arg(long)]
    lora_layers: Option<usize>,
    /// Run folder for checkpoints, logs and the summary.
    #[arg(long)]
    out: PathBuf,
    /// Optimizer steps.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Sequences per micro-batch.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Micro-batches per optimizer step (gradient accumulation).
    #[arg(long, default_value_t = 2)]
    grad_accum: usize,
    /// Peak learning rate (AdamW, linear warm-up then cosine to 10%).
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Longest sequence (prompt + answer tokens); longer examples are skipped and counted.
    #[arg(long, default_value_t = 384)]
    max_len: usize,
    /// Train on these tasks only (comma-separated; default every task in the file).
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
    /// Use the first N examples (after the task filter); default steps × batch × accumulation.
    #[arg(long = "limit", alias = "max-examples")]
    max_examples: Option<usize>,
    /// Save a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 25)]
    save_every: usize,
    /// Continue the checkpoint in --out (its configuration is kept).
    #[arg(long)]
    resume: bool,
    /// Seed of adapter initialisation and data order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print summary.json on stdout instead of a summary line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let tasks = args.tasks.iter().map(|t| Task::parse(t.trim())).collect::<Result<Vec<_>, _>>().context("--tasks")?;
    let request = FinetuneRequest {
        data: args.data,
        model: args.model,
        out: args.out,
        tasks,
        max_examples: args.max_examples,
        save_every: args.save_every,
        resume: args.resume,
        config: FinetuneConfig {
            lora: LoraConfig { rank: args.lora_rank, alpha: args.lora_alpha, layers: args.lora_layers, targets: Projection::ALL.to_vec() },
            lr: args.lr,
            warmup_steps: args.warmup,
            steps: args.steps,
            batch_size: args.batch_size,
            grad_accum: args.grad_accum,
            max_len: args.max_len,
            seed: args.seed,
            ..FinetuneConfig::default()
        },
    };
    let summary = run_finetune(&request, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} steps, {} tokens in {:.0} s ({:.1} tokens/s); loss {:.3} → {}",
            summary.steps,
            summary.tokens,
            summary.seconds,
            summary.tokens_per_second,
            summary.final_loss,
            request.out.display()
        );
    }
    Ok(())
}
