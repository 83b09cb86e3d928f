//! `recforge llm finetune`: LoRA fine-tuning of a llama-family model (GGUF dequantised to f32,
//! or a Hugging Face directory) on task JSONL from `recforge llm make-data`. Writes
//! `adapter.safetensors`, `adapter_config.json`, `optimizer.safetensors`,
//! `trainer_state.json` (checkpoints every `--save-every` steps; `--resume` continues exactly),
//! `train_log.jsonl` (one line per step) and `summary.json` (tokens/s, time, final loss).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use recforge_llm::{CausalLm, LoraConfig, Projection};
use recforge_llmrec::finetune::{FinetuneConfig, Finetuner, STATE_FILE, tokenize_examples};
use recforge_llmrec::{Task, read_task_jsonl};
use serde::Serialize;

use super::make_data::TRAIN_FILE;

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
    #[arg(long)]
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
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Serialize)]
struct Summary {
    model: String,
    data: String,
    examples: usize,
    skipped_too_long: usize,
    steps: usize,
    trainable_parameters: usize,
    tokens: usize,
    seconds: f64,
    tokens_per_second: f64,
    seconds_per_step: f64,
    final_loss: f64,
    mean_loss_last_10: f64,
    config: FinetuneConfig,
}

#[derive(Serialize)]
struct LogLine {
    step: usize,
    loss: f64,
    lr: f64,
    grad_norm: f64,
    tokens: usize,
    seconds: f64,
}

pub fn run(args: Args) -> Result<()> {
    let data_file = if args.data.is_dir() { args.data.join(TRAIN_FILE) } else { args.data.clone() };
    let mut examples = read_task_jsonl(&data_file)?;
    if !args.tasks.is_empty() {
        let keep = args.tasks.iter().map(|t| Task::parse(t.trim())).collect::<Result<Vec<_>, _>>().context("--tasks")?;
        examples.retain(|e| keep.iter().any(|t| t.name() == e.task));
    }
    let wanted = args.max_examples.unwrap_or(args.steps * args.batch_size * args.grad_accum);
    examples.truncate(wanted);
    if examples.is_empty() {
        bail!("{}: no example left after the task filter", data_file.display());
    }
    let state_path = args.out.join(STATE_FILE);
    if state_path.exists() && !args.resume {
        bail!("{} already holds a checkpoint; pass --resume to continue it or choose another --out", args.out.display());
    }
    let lm = CausalLm::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let config = FinetuneConfig {
        lora: LoraConfig { rank: args.lora_rank, alpha: args.lora_alpha, layers: args.lora_layers, targets: Projection::ALL.to_vec() },
        lr: args.lr,
        warmup_steps: args.warmup,
        steps: args.steps,
        batch_size: args.batch_size,
        grad_accum: args.grad_accum,
        max_len: args.max_len,
        seed: args.seed,
        ..FinetuneConfig::default()
    };
    let (tokenized, skipped) = tokenize_examples(&lm, &examples, config.max_len)?;
    let mut trainer =
        if args.resume { Finetuner::resume(&lm, &args.out, tokenized)? } else { Finetuner::new(&lm, config, tokenized)? };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let total = trainer.config.steps;
    eprintln!(
        "fine-tuning {} ({} trainable LoRA weights, rank {}) on {} examples ({skipped} longer than {} tokens skipped): {} steps × {} × {} sequences",
        lm.model_id(),
        trainer.num_parameters(),
        trainer.config.lora.rank,
        examples.len() - skipped,
        trainer.config.max_len,
        total,
        trainer.config.batch_size,
        trainer.config.grad_accum
    );
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(total as u64) };
    bar.set_style(
        ProgressStyle::with_template("finetune [{bar:30}] {pos}/{len} steps · {msg} · ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_position(trainer.step as u64);
    let log_path = args.out.join("train_log.jsonl");
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).with_context(|| format!("opening {}", log_path.display()))?;
    let started = Instant::now();
    let (mut tokens, mut losses) = (0usize, Vec::new());
    while trainer.step < total {
        let step_started = Instant::now();
        let stats = trainer.train_step(&lm)?;
        tokens += stats.tokens;
        losses.push(stats.loss);
        let line = LogLine { step: stats.step, loss: stats.loss, lr: stats.lr, grad_norm: stats.grad_norm, tokens: stats.tokens, seconds: step_started.elapsed().as_secs_f64() };
        writeln!(log, "{}", serde_json::to_string(&line)?).with_context(|| format!("writing {}", log_path.display()))?;
        let rate = tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("loss {:.3} · lr {:.1e} · {rate:.0} tokens/s", stats.loss, stats.lr));
        bar.inc(1);
        if trainer.step % args.save_every.max(1) == 0 || trainer.step == total {
            trainer.save_checkpoint(&args.out)?;
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let last: Vec<f64> = losses.iter().rev().take(10).copied().collect();
    let summary = Summary {
        model: args.model.display().to_string(),
        data: data_file.display().to_string(),
        examples: examples.len() - skipped,
        skipped_too_long: skipped,
        steps: trainer.step,
        trainable_parameters: trainer.num_parameters(),
        tokens,
        seconds,
        tokens_per_second: tokens as f64 / seconds.max(1e-9),
        seconds_per_step: seconds / losses.len().max(1) as f64,
        final_loss: losses.last().copied().unwrap_or(f64::NAN),
        mean_loss_last_10: last.iter().sum::<f64>() / last.len().max(1) as f64,
        config: trainer.config.clone(),
    };
    let path = args.out.join("summary.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n").with_context(|| format!("writing {}", path.display()))?;
    println!(
        "{} steps, {tokens} tokens in {seconds:.0} s ({:.1} tokens/s); loss {:.3} → {}",
        losses.len(),
        summary.tokens_per_second,
        summary.final_loss,
        args.out.display()
    );
    Ok(())
}
