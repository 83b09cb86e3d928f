//! LoRA fine-tuning of a llama-family model on task JSONL, as a resumable run folder:
//! `adapter.safetensors`, `adapter_config.json`, `optimizer.safetensors`, `trainer_state.json`
//! (a checkpoint every `save_every` steps and at the end; resuming continues exactly),
//! `train_log.jsonl` (one [`StepLog`] per step) and `summary.json` ([`FinetuneSummary`]).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use recforge_data::{Phase, Progress, Unit};
use recforge_llm::CausalLm;
use serde::{Deserialize, Serialize};

use super::make_data::train_file;
use super::{create_dir, write_json};
use crate::error::{LlmRecError, Result};
use crate::finetune::{FinetuneConfig, Finetuner, STATE_FILE, tokenize_examples};
use crate::tasks::read_task_jsonl;
use crate::templates::Task;

/// What to fine-tune, on what.
#[derive(Debug, Clone)]
pub struct FinetuneRequest {
    /// A make-data folder (its train.jsonl) or a task JSONL file.
    pub data: PathBuf,
    /// GGUF file or Hugging Face llama-family directory.
    pub model: PathBuf,
    /// Run folder.
    pub out: PathBuf,
    /// Train on these tasks only (empty: every task in the file).
    pub tasks: Vec<Task>,
    /// Use the first N examples after the task filter (None: steps × batch × accumulation).
    pub max_examples: Option<usize>,
    pub save_every: usize,
    /// Continue the checkpoint in `out` (its configuration is kept).
    pub resume: bool,
    pub config: FinetuneConfig,
}

/// One line of `train_log.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepLog {
    pub step: usize,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens: usize,
    pub seconds: f64,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinetuneSummary {
    pub model: String,
    pub data: String,
    pub examples: usize,
    pub skipped_too_long: usize,
    pub steps: usize,
    pub trainable_parameters: usize,
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_second: f64,
    pub seconds_per_step: f64,
    pub final_loss: f64,
    pub mean_loss_last_10: f64,
    pub config: FinetuneConfig,
}

/// Trains (or resumes) the adapters and writes the run folder.
pub fn run_finetune(request: &FinetuneRequest, progress: &dyn Progress) -> Result<FinetuneSummary> {
    let data_file = train_file(&request.data);
    let mut examples = read_task_jsonl(&data_file)?;
    if !request.tasks.is_empty() {
        examples.retain(|e| request.tasks.iter().any(|t| t.name() == e.task));
    }
    let c = &request.config;
    examples.truncate(request.max_examples.unwrap_or(c.steps * c.batch_size * c.grad_accum));
    if examples.is_empty() {
        return Err(LlmRecError::Invalid(format!("{}: no example left after the task filter", data_file.display())));
    }
    if request.out.join(STATE_FILE).exists() && !request.resume {
        return Err(LlmRecError::Invalid(format!(
            "{} already holds a checkpoint; pass --resume to continue it or choose another --out",
            request.out.display()
        )));
    }
    let lm = CausalLm::load(&request.model)?;
    let (tokenized, skipped) = tokenize_examples(&lm, &examples, c.max_len)?;
    let mut trainer = if request.resume { Finetuner::resume(&lm, &request.out, tokenized)? } else { Finetuner::new(&lm, c.clone(), tokenized)? };
    create_dir(&request.out)?;
    let total = trainer.config.steps;
    tracing::info!(
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
    let log_path = request.out.join("train_log.jsonl");
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(|e| LlmRecError::io(&log_path, e))?;
    let phase = Phase::begin(progress, "finetune", Some(total as u64), Unit::Steps);
    let started = Instant::now();
    let (mut tokens, mut losses) = (0usize, Vec::new());
    while trainer.step < total {
        let step_started = Instant::now();
        let stats = trainer.train_step(&lm)?;
        tokens += stats.tokens;
        losses.push(stats.loss);
        let line = StepLog { step: stats.step, loss: stats.loss, lr: stats.lr, grad_norm: stats.grad_norm, tokens: stats.tokens, seconds: step_started.elapsed().as_secs_f64() };
        let text = serde_json::to_string(&line).map_err(|e| LlmRecError::Invalid(e.to_string()))?;
        writeln!(log, "{text}").map_err(|e| LlmRecError::io(&log_path, e))?;
        let rate = tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
        phase.update(trainer.step as u64, &format!("loss {:.3} · lr {:.1e} · {rate:.0} tokens/s", stats.loss, stats.lr));
        if trainer.step % request.save_every.max(1) == 0 || trainer.step == total {
            trainer.save_checkpoint(&request.out)?;
        }
    }
    drop(phase);
    let seconds = started.elapsed().as_secs_f64();
    let last: Vec<f64> = losses.iter().rev().take(10).copied().collect();
    let summary = FinetuneSummary {
        model: request.model.display().to_string(),
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
    write_json(&request.out.join("summary.json"), &summary)?;
    Ok(summary)
}
