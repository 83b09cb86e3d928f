//! LoRA fine-tuning of a llama-family model on task JSONL (arXiv 2404.00245's multi-task
//! recipe on a small backbone): each example is the chat-formatted prompt followed by the
//! target and the end-of-answer token; the loss is the mean negative log-likelihood of the
//! target tokens only. AdamW, warm-up + cosine schedule, gradient accumulation, clipping, and
//! checkpoints that resume exactly (adapters, optimizer moments, step; the data order is a
//! function of the seed and the step).

use std::path::Path;

use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_llm::llama::Llama;
use recforge_llm::{Backend, CausalLm, LoraAdapters, LoraConfig};
use serde::{Deserialize, Serialize};

use crate::error::{LlmRecError, Result};
use crate::optim::{AdamW, AdamWConfig, clip_grad_norm, lr_at};
use crate::tasks::TaskExample;

/// Adapter weights in a run folder.
pub const ADAPTER_FILE: &str = "adapter.safetensors";
/// Adapter shape and the base model it belongs to.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// Optimizer moments in a run folder.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Step and configuration of the last checkpoint.
pub const STATE_FILE: &str = "trainer_state.json";
/// The adapters as a llama.cpp GGUF LoRA adapter (what `--backend llama-cpp` loads).
pub const GGUF_ADAPTER_FILE: &str = "adapter.gguf";
/// The adapters in PEFT's layout (`adapter_model.safetensors`, `adapter_config.json`).
pub const PEFT_DIR: &str = "peft";

/// Everything that shapes a fine-tuning run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    pub lora: LoraConfig,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate as a share of the peak.
    pub min_lr_ratio: f64,
    pub warmup_steps: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Longest sequence (prompt + target) kept; longer examples are skipped and counted.
    pub max_len: usize,
    pub max_grad_norm: f64,
    pub adamw: AdamWConfig,
    pub seed: u64,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            lora: LoraConfig::default(),
            lr: 2e-4,
            min_lr_ratio: 0.1,
            warmup_steps: 10,
            steps: 100,
            batch_size: 4,
            grad_accum: 2,
            max_len: 384,
            max_grad_norm: 1.0,
            adamw: AdamWConfig::default(),
            seed: 42,
        }
    }
}

/// `adapter_config.json`: what `evaluate --adapters` needs to rebuild the adapters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    pub lora: LoraConfig,
    /// `CausalLm::model_id` of the base model the adapters were trained on.
    pub base_model_id: String,
}

/// `trainer_state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub step: usize,
    pub config: FinetuneConfig,
    pub base_model_id: String,
    pub examples: usize,
}

/// One example as token ids: `ids = prompt ++ target ++ [end]`, the first `prompt_len` not scored.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedExample {
    pub ids: Vec<u32>,
    pub prompt_len: usize,
}

/// The token ids of an answer as the model must produce it: the target then the end token.
pub fn answer_ids(lm: &CausalLm, target: &str) -> Result<Vec<u32>> {
    let mut ids = lm.encode(target)?;
    let end = *lm.eos_ids().last().ok_or_else(|| LlmRecError::Invalid("the model has no end-of-sequence token".into()))?;
    ids.push(end);
    Ok(ids)
}

/// Tokenizes examples with the model's chat template; returns them and how many were longer
/// than `max_len` (skipped).
pub fn tokenize_examples(lm: &CausalLm, examples: &[TaskExample], max_len: usize) -> Result<(Vec<TokenizedExample>, usize)> {
    let mut out = Vec::with_capacity(examples.len());
    let mut skipped = 0;
    for e in examples {
        let mut ids = lm.prompt_ids(&lm.chat_prompt(&e.prompt))?;
        let prompt_len = ids.len();
        ids.extend(answer_ids(lm, &e.target)?);
        if ids.len() > max_len {
            skipped += 1;
            continue;
        }
        out.push(TokenizedExample { ids, prompt_len });
    }
    Ok((out, skipped))
}

/// A right-padded micro-batch: ids `[rows, width]`, and for each scored token the flat
/// position (row × width + column) whose output predicts it.
#[derive(Debug, Clone)]
pub struct TrainBatch {
    pub ids: Tensor,
    pub positions: Vec<u32>,
    pub targets: Vec<u32>,
    /// Real (unpadded) tokens in the batch.
    pub tokens: usize,
}

impl TrainBatch {
    pub fn new(examples: &[&TokenizedExample]) -> Result<TrainBatch> {
        let width = examples.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        if width < 2 {
            return Err(LlmRecError::Invalid("a training batch needs sequences of at least two tokens".into()));
        }
        let mut flat = Vec::with_capacity(examples.len() * width);
        let (mut positions, mut targets) = (Vec::new(), Vec::new());
        for (row, e) in examples.iter().enumerate() {
            flat.extend_from_slice(&e.ids);
            flat.extend(std::iter::repeat_n(0u32, width - e.ids.len()));
            for p in e.prompt_len.max(1)..e.ids.len() {
                positions.push((row * width + p - 1) as u32);
                targets.push(e.ids[p]);
            }
        }
        let tokens = examples.iter().map(|e| e.ids.len()).sum();
        let ids = Tensor::from_vec(flat, (examples.len(), width), &Device::Cpu).map_err(|e| LlmRecError::Invalid(e.to_string()))?;
        Ok(TrainBatch { ids, positions, targets, tokens })
    }
}

/// Mean negative log-likelihood of the batch's target tokens (a scalar tensor that
/// back-propagates into the adapters).
pub fn batch_loss(llama: &Llama, adapters: &LoraAdapters, batch: &TrainBatch) -> Result<Tensor> {
    let run = || -> candle_core::Result<Tensor> {
        let hidden = adapters.forward_hidden(llama, &batch.ids)?;
        let logp = adapters.target_log_probs(llama, &hidden, &batch.positions, &batch.targets)?;
        logp.mean_all()?.neg()
    };
    run().map_err(|e| LlmRecError::Invalid(format!("training forward: {e}")))
}

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    pub step: usize,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens: usize,
}

/// A fine-tuning run in progress.
pub struct Finetuner {
    pub config: FinetuneConfig,
    pub adapters: LoraAdapters,
    vars: Vec<(String, Var)>,
    optimizer: AdamW,
    examples: Vec<TokenizedExample>,
    pub step: usize,
    base_model_id: String,
    order: (usize, Vec<usize>),
}

impl Finetuner {
    /// A fresh run over `examples` (already tokenized) on `lm`'s llama decoder.
    pub fn new(lm: &CausalLm, config: FinetuneConfig, examples: Vec<TokenizedExample>) -> Result<Finetuner> {
        let llama = llama_of(lm)?;
        let adapters = LoraAdapters::new(llama.config(), &config.lora, config.seed)?;
        Self::with_state(lm, config, examples, adapters, None, 0)
    }

    /// Resumes the run saved in `dir` (its configuration wins over the caller's).
    pub fn resume(lm: &CausalLm, dir: &Path, examples: Vec<TokenizedExample>) -> Result<Finetuner> {
        let state: TrainerState = read_json(&dir.join(STATE_FILE))?;
        if state.base_model_id != lm.model_id() {
            return Err(LlmRecError::Invalid(format!(
                "{}: the checkpoint was trained on {}, not on {}",
                dir.display(),
                state.base_model_id,
                lm.model_id()
            )));
        }
        let llama = llama_of(lm)?;
        let adapters = LoraAdapters::load(&dir.join(ADAPTER_FILE), llama.config(), &state.config.lora)?;
        let names: Vec<String> = adapters.named_vars().into_iter().map(|(n, _)| n).collect();
        let optimizer = AdamW::load(&names, &dir.join(OPTIMIZER_FILE), state.config.adamw, state.step as u64)?;
        Self::with_state(lm, state.config, examples, adapters, Some(optimizer), state.step)
    }

    fn with_state(
        lm: &CausalLm,
        config: FinetuneConfig,
        examples: Vec<TokenizedExample>,
        adapters: LoraAdapters,
        optimizer: Option<AdamW>,
        step: usize,
    ) -> Result<Finetuner> {
        if examples.is_empty() {
            return Err(LlmRecError::Invalid("no training example fits --max-len".into()));
        }
        if config.batch_size == 0 || config.grad_accum == 0 {
            return Err(LlmRecError::Invalid("batch size and gradient accumulation must be at least 1".into()));
        }
        let vars = adapters.named_vars();
        let plain: Vec<Var> = vars.iter().map(|(_, v)| v.clone()).collect();
        let optimizer = match optimizer {
            Some(o) => o,
            None => AdamW::new(&plain, config.adamw)?,
        };
        Ok(Finetuner { config, adapters, vars, optimizer, examples, step, base_model_id: lm.model_id().to_string(), order: (usize::MAX, Vec::new()) })
    }

    /// Trainable weights.
    pub fn num_parameters(&self) -> usize {
        self.adapters.num_parameters()
    }

    /// The example behind global sample number `g`: epoch `g / n` visits a seeded permutation.
    fn example_at(&mut self, g: usize) -> usize {
        let n = self.examples.len();
        let epoch = g / n;
        if self.order.0 != epoch {
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut StdRng::seed_from_u64(self.config.seed.wrapping_add(epoch as u64)));
            self.order = (epoch, perm);
        }
        self.order.1[g % n]
    }

    /// One optimizer step: `grad_accum` micro-batches, clipping, AdamW.
    pub fn train_step(&mut self, lm: &CausalLm) -> Result<StepStats> {
        let llama = llama_of(lm)?;
        let c = self.config.clone();
        let lr = lr_at(self.step, c.steps, c.warmup_steps, c.lr, c.min_lr_ratio);
        let mut grads: Vec<Option<Tensor>> = vec![None; self.vars.len()];
        let (mut loss_sum, mut tokens) = (0.0, 0);
        for micro in 0..c.grad_accum {
            let first = (self.step * c.grad_accum + micro) * c.batch_size;
            let picked: Vec<usize> = (first..first + c.batch_size).map(|g| self.example_at(g)).collect();
            let rows: Vec<&TokenizedExample> = picked.iter().map(|&i| &self.examples[i]).collect();
            let batch = TrainBatch::new(&rows)?;
            tokens += batch.tokens;
            let loss = batch_loss(llama, &self.adapters, &batch)?;
            let scaled = (&loss / c.grad_accum as f64).map_err(|e| LlmRecError::Invalid(e.to_string()))?;
            let store = scaled.backward().map_err(|e| LlmRecError::Invalid(format!("backward: {e}")))?;
            loss_sum += loss.to_scalar::<f32>().map_err(|e| LlmRecError::Invalid(e.to_string()))? as f64;
            for (slot, (_, var)) in grads.iter_mut().zip(&self.vars) {
                if let Some(g) = store.get(var.as_tensor()) {
                    *slot = Some(match slot.take() {
                        Some(acc) => (acc + g).map_err(|e| LlmRecError::Invalid(e.to_string()))?,
                        None => g.clone(),
                    });
                }
            }
        }
        let mut grads: Vec<Tensor> = grads
            .into_iter()
            .zip(&self.vars)
            .map(|(g, (_, v))| g.map_or_else(|| v.as_tensor().zeros_like(), Ok))
            .collect::<candle_core::Result<_>>()
            .map_err(|e| LlmRecError::Invalid(e.to_string()))?;
        let grad_norm = clip_grad_norm(&mut grads, c.max_grad_norm)?;
        let plain: Vec<Var> = self.vars.iter().map(|(_, v)| v.clone()).collect();
        self.optimizer.step(&plain, &grads, lr)?;
        self.step += 1;
        Ok(StepStats { step: self.step, loss: loss_sum / c.grad_accum as f64, lr, grad_norm, tokens })
    }

    /// Writes adapters, optimizer moments, `adapter_config.json` and `trainer_state.json`.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| LlmRecError::io(dir, e))?;
        self.adapters.save(&dir.join(ADAPTER_FILE))?;
        self.adapters.save_gguf(&dir.join(GGUF_ADAPTER_FILE))?;
        self.adapters.save_peft(&dir.join(PEFT_DIR), &self.base_model_id)?;
        let names: Vec<String> = self.vars.iter().map(|(n, _)| n.clone()).collect();
        self.optimizer.save(&names, &dir.join(OPTIMIZER_FILE))?;
        write_json(&dir.join(ADAPTER_CONFIG_FILE), &AdapterConfig { lora: self.config.lora.clone(), base_model_id: self.base_model_id.clone() })?;
        write_json(
            &dir.join(STATE_FILE),
            &TrainerState { step: self.step, config: self.config.clone(), base_model_id: self.base_model_id.clone(), examples: self.examples.len() },
        )
    }
}

fn llama_of(lm: &CausalLm) -> Result<&Llama> {
    lm.llama().ok_or_else(|| LlmRecError::Invalid("LoRA fine-tuning needs a llama-family model (GGUF or Hugging Face llama/mistral)".into()))
}

/// Loads `lm` with the adapters saved in run folder `dir` folded in.
pub fn load_with_adapters(lm: CausalLm, dir: &Path) -> Result<CausalLm> {
    let config: AdapterConfig = read_json(&dir.join(ADAPTER_CONFIG_FILE))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if lm.backend() == Backend::LlamaCpp {
        // llama.cpp applies the GGUF adapter at run time.
        let gguf = dir.join(GGUF_ADAPTER_FILE);
        if !gguf.exists() {
            return Err(LlmRecError::Invalid(format!("{}: missing (a run saved before GGUF adapters); use --backend candle", gguf.display())));
        }
        return Ok(lm.with_gguf_adapter(&gguf, &name)?);
    }
    let llama = llama_of(&lm)?;
    let adapters = LoraAdapters::load(&dir.join(ADAPTER_FILE), llama.config(), &config.lora)?;
    Ok(lm.with_adapters(&adapters, &name)?)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| LlmRecError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| LlmRecError::parse(path, e.line(), e.to_string()))
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| LlmRecError::Invalid(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| LlmRecError::io(path, e))
}
