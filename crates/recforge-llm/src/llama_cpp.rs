//! The llama.cpp engine (crate `llama-cpp-2`, vendored llama.cpp) behind [`CausalLm`](crate::CausalLm):
//! GGUF models on llama.cpp's quantized CPU kernels, the fast path for generation.
//!
//! Tokens come from `CausalLm`'s own tokenizer (rebuilt from the same GGUF), so ids, chat
//! prompts, answer tokens and title tries are the same on both engines; llama.cpp only runs
//! the network. A call creates its own context sized to the tokens it needs (the model keeps no
//! state between calls, as on candle) with `n_threads` = rayon's thread count
//! (`RAYON_NUM_THREADS`).
//!
//! Branches share a prefix: [`LlamaCppEngine::run_branches`] evaluates the prefix once (sequence
//! 0), then packs the branches into batches of distinct sequences, each starting from a copy of
//! the prefix's KV cache (`llama_memory_seq_cp`: in the unified cache the cells are shared, not
//! copied). Ask-LLM prompts (shared instructions, then the document), ranking continuations and
//! beam-search rows all use it.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaLoraAdapter, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use crate::LlmError;

/// Tokens per `llama_decode` call (and per micro-batch).
const N_BATCH: usize = 512;
/// Sequences one context can hold (llama.cpp's `LLAMA_MAX_SEQ`).
const MAX_SEQUENCES: usize = 256;
/// KV cells a beam-search decoder keeps beyond its prompt (rows × title tokens).
pub(crate) const DECODER_CELLS: usize = 2048;

/// llama.cpp's process-wide backend, initialised once with its log output silenced.
fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LlmError::LlamaCpp(format!("initialising llama.cpp: {e}")))
}

fn err(what: &str) -> impl FnOnce(String) -> LlmError + '_ {
    move |e| LlmError::LlamaCpp(format!("{what}: {e}"))
}

fn token(id: u32) -> LlamaToken {
    LlamaToken(id as i32)
}

/// A GGUF model loaded by llama.cpp, with an optional LoRA adapter applied to every context.
pub(crate) struct LlamaCppEngine {
    model: LlamaModel,
    adapter: Option<Mutex<LlamaLoraAdapter>>,
    path: PathBuf,
}

/// Which positions of a branch give logits to the visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outputs {
    /// Only the branch's last token.
    Last,
    /// Every token of the branch.
    All,
}

impl LlamaCppEngine {
    pub fn load(path: &Path) -> Result<Self, LlmError> {
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| LlmError::bad_model(path, format!("llama.cpp could not load it: {e}")))?;
        Ok(Self { model, adapter: None, path: path.to_path_buf() })
    }

    /// Positions the model was trained on.
    pub fn context_length(&self) -> usize {
        self.model.n_ctx_train() as usize
    }

    /// Loads a llama.cpp GGUF LoRA adapter (applied at scale 1: the file's `adapter.lora.alpha`
    /// gives α/r) to every later call.
    pub fn set_adapter(&mut self, gguf: &Path) -> Result<(), LlmError> {
        let adapter = self
            .model
            .lora_adapter_init(gguf)
            .map_err(|e| LlmError::bad_model(gguf, format!("llama.cpp rejected the LoRA adapter for {}: {e}", self.path.display())))?;
        self.adapter = Some(Mutex::new(adapter));
        Ok(())
    }

    /// A fresh context holding `cells` KV cells over `sequences` sequences.
    pub fn context(&self, cells: usize, sequences: usize) -> Result<LlamaContext<'_>, LlmError> {
        let threads = rayon::current_num_threads().max(1) as i32;
        let n_ctx = cells.clamp(1, self.context_length().max(1)).div_ceil(256) * 256;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx as u32))
            .with_n_batch(N_BATCH as u32)
            .with_n_ubatch(N_BATCH as u32)
            .with_n_seq_max(sequences.clamp(1, MAX_SEQUENCES) as u32)
            .with_kv_unified(true)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let mut ctx = self.model.new_context(backend()?, params).map_err(|e| LlmError::LlamaCpp(format!("creating a context of {n_ctx} tokens: {e}")))?;
        if let Some(adapter) = &self.adapter {
            let mut adapter = adapter.lock().map_err(|_| LlmError::Input("the LoRA adapter lock is poisoned by an earlier panic".into()))?;
            ctx.lora_adapter_set(&mut adapter, 1.0).map_err(|e| err("applying the LoRA adapter")(e.to_string()))?;
        }
        Ok(ctx)
    }

    /// Runs `tokens` on sequence `seq` from position `start`, in chunks of [`N_BATCH`]; returns
    /// the logits after the last token when `want_last`.
    pub fn feed(&self, ctx: &mut LlamaContext<'_>, tokens: &[u32], start: usize, seq: i32, want_last: bool) -> Result<Option<Vec<f32>>, LlmError> {
        let mut batch = LlamaBatch::new(N_BATCH, 1);
        let mut last = None;
        for (c, chunk) in tokens.chunks(N_BATCH).enumerate() {
            batch.clear();
            let final_chunk = (c + 1) * N_BATCH >= tokens.len();
            for (j, &t) in chunk.iter().enumerate() {
                let is_last = final_chunk && j + 1 == chunk.len();
                batch.add(token(t), (start + c * N_BATCH + j) as i32, &[seq], is_last && want_last).map_err(|e| err("batch")(e.to_string()))?;
            }
            ctx.decode(&mut batch).map_err(|e| err("decode")(e.to_string()))?;
            if final_chunk && want_last {
                last = Some(ctx.get_logits_ith(batch.n_tokens() - 1).to_vec());
            }
        }
        Ok(last)
    }

    /// Evaluates `prefix` once, then every branch after it (each on its own copy of the prefix's
    /// KV cache); calls `visit(branch, position in branch, logits)` for the positions `outputs`
    /// asks for. Returns the logits after the prefix (`None` for an empty prefix).
    pub fn run_branches(
        &self,
        prefix: &[u32],
        branches: &[&[u32]],
        outputs: Outputs,
        mut visit: impl FnMut(usize, usize, &[f32]) -> Result<(), LlmError>,
    ) -> Result<Option<Vec<f32>>, LlmError> {
        let longest = branches.iter().map(|b| b.len()).max().unwrap_or(0);
        let cells = prefix.len() + longest.max(N_BATCH) + 1;
        if prefix.len() + longest > self.context_length() {
            return Err(LlmError::Input(format!(
                "{} prefix tokens plus a {longest}-token branch exceed the context length {}",
                prefix.len(),
                self.context_length()
            )));
        }
        // Packed sequences per batch: sequence 0 holds the prefix.
        let slots = (MAX_SEQUENCES - 1).min(branches.len().max(1));
        let mut ctx = self.context(cells, slots + 1)?;
        let prefix_logits = if prefix.is_empty() { None } else { self.feed(&mut ctx, prefix, 0, 0, true)? };
        let mut batch = LlamaBatch::new(N_BATCH, 1);
        let mut i = 0;
        while i < branches.len() {
            if branches[i].is_empty() {
                i += 1;
                continue;
            }
            if branches[i].len() > N_BATCH {
                // Too long to pack: its own chunks on sequence 1.
                self.fork(&mut ctx, 1)?;
                let mut batch_one = LlamaBatch::new(N_BATCH, 1);
                for (c, chunk) in branches[i].chunks(N_BATCH).enumerate() {
                    batch_one.clear();
                    for (j, &t) in chunk.iter().enumerate() {
                        let pos = c * N_BATCH + j;
                        let want = outputs == Outputs::All || pos + 1 == branches[i].len();
                        batch_one.add(token(t), (prefix.len() + pos) as i32, &[1], want).map_err(|e| err("batch")(e.to_string()))?;
                    }
                    ctx.decode(&mut batch_one).map_err(|e| err("decode")(e.to_string()))?;
                    for j in 0..chunk.len() {
                        let pos = c * N_BATCH + j;
                        if outputs == Outputs::All || pos + 1 == branches[i].len() {
                            visit(i, pos, ctx.get_logits_ith(j as i32))?;
                        }
                    }
                }
                self.drop_seq(&mut ctx, 1)?;
                i += 1;
                continue;
            }
            // Pack branches i..end into one batch, sequence s + 1 for the s-th.
            batch.clear();
            let mut packed: Vec<(usize, usize)> = Vec::new(); // (branch, first batch index)
            let mut used = 0;
            while i < branches.len() && packed.len() < slots {
                let b = branches[i];
                if b.is_empty() {
                    i += 1;
                    continue;
                }
                if b.len() > N_BATCH || used + b.len() > N_BATCH {
                    break;
                }
                let seq = packed.len() as i32 + 1;
                self.fork(&mut ctx, seq)?;
                for (pos, &t) in b.iter().enumerate() {
                    let want = outputs == Outputs::All || pos + 1 == b.len();
                    batch.add(token(t), (prefix.len() + pos) as i32, &[seq], want).map_err(|e| err("batch")(e.to_string()))?;
                }
                packed.push((i, used));
                used += b.len();
                i += 1;
            }
            if packed.is_empty() {
                continue;
            }
            ctx.decode(&mut batch).map_err(|e| err("decode")(e.to_string()))?;
            for &(b, first) in &packed {
                let len = branches[b].len();
                let from = if outputs == Outputs::All { 0 } else { len - 1 };
                for pos in from..len {
                    visit(b, pos, ctx.get_logits_ith((first + pos) as i32))?;
                }
            }
            for s in 1..=packed.len() {
                self.drop_seq(&mut ctx, s as i32)?;
            }
        }
        Ok(prefix_logits)
    }

    /// Sequence `seq` starts as a copy of sequence 0 (the prefix).
    fn fork(&self, ctx: &mut LlamaContext<'_>, seq: i32) -> Result<(), LlmError> {
        ctx.kv_cache_seq_cp(0, seq, None, None).map_err(|e| err("copying the prefix cache")(e.to_string()))
    }

    fn drop_seq(&self, ctx: &mut LlamaContext<'_>, seq: i32) -> Result<(), LlmError> {
        ctx.kv_cache_seq_rm(seq, None, None).map_err(|e| err("clearing a sequence")(e.to_string()))
    }
}

/// Live beam rows over one prompt on llama.cpp: row `i` is a KV sequence; `advance` forks each
/// new row from its parent's sequence and runs all new tokens in one batch.
pub(crate) struct CppDecoder<'a> {
    ctx: LlamaContext<'a>,
    /// KV sequence of each live row.
    seqs: Vec<i32>,
    position: usize,
}

impl<'a> CppDecoder<'a> {
    /// Runs `prompt` on sequence 0; returns the decoder and the next-token logits.
    pub fn new(engine: &'a LlamaCppEngine, prompt: &[u32]) -> Result<(Self, Vec<f32>), LlmError> {
        let mut ctx = engine.context(prompt.len() + DECODER_CELLS, MAX_SEQUENCES)?;
        let logits = engine.feed(&mut ctx, prompt, 0, 0, true)?.ok_or_else(|| LlmError::Input("the prompt has no tokens".into()))?;
        Ok((Self { ctx, seqs: vec![0], position: prompt.len() }, logits))
    }

    /// Continues row `parents[i]` with `tokens[i]` as new row `i`; returns each new row's logits.
    pub fn advance(&mut self, parents: &[u32], tokens: &[u32]) -> Result<Vec<Vec<f32>>, LlmError> {
        if parents.len() * 2 > MAX_SEQUENCES {
            return Err(LlmError::Input(format!("llama.cpp beam search holds at most {} rows", MAX_SEQUENCES / 2)));
        }
        let in_use: std::collections::HashSet<i32> = self.seqs.iter().copied().collect();
        let free: Vec<i32> = (0..MAX_SEQUENCES as i32).filter(|s| !in_use.contains(s)).take(parents.len()).collect();
        let mut batch = LlamaBatch::new(parents.len().max(1), 1);
        for (i, (&p, &t)) in parents.iter().zip(tokens).enumerate() {
            let parent = *self.seqs.get(p as usize).ok_or_else(|| LlmError::Input(format!("parent row {p} does not exist")))?;
            self.ctx.kv_cache_seq_cp(parent, free[i], None, None).map_err(|e| err("forking a beam")(e.to_string()))?;
            batch.add(token(t), self.position as i32, &[free[i]], true).map_err(|e| err("batch")(e.to_string()))?;
        }
        for &old in &self.seqs {
            self.ctx.kv_cache_seq_rm(old, None, None).map_err(|e| err("dropping a beam")(e.to_string()))?;
        }
        self.ctx.decode(&mut batch).map_err(|e| err("decode (beam search)")(e.to_string()))?;
        self.seqs = free;
        self.position += 1;
        Ok((0..parents.len()).map(|i| self.ctx.get_logits_ith(i as i32).to_vec()).collect())
    }
}

/// Length of the longest prefix all sequences share, at most the shortest length minus one (so
/// every sequence keeps a token of its own).
pub(crate) fn shared_prefix(sequences: &[Vec<u32>]) -> usize {
    let Some(first) = sequences.first() else { return 0 };
    let shortest = sequences.iter().map(Vec::len).min().unwrap_or(0);
    let mut n = 0;
    while n + 1 < shortest && sequences.iter().all(|s| s[n] == first[n]) {
        n += 1;
    }
    n
}

/// Σ softmax(logits)[id] over `ids`.
pub(crate) fn probability_mass(logits: &[f32], ids: &[u32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    (ids.iter().map(|&a| logits.get(a as usize).map_or(0.0, |&l| ((l - max) as f64).exp())).sum::<f64>() / total) as f32
}

/// log softmax(logits)[id].
pub(crate) fn log_probability(logits: &[f32], id: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    logits.get(id as usize).map_or(f64::NEG_INFINITY, |&l| (l - max) as f64 - total.ln())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefix_leaves_every_sequence_a_token_of_its_own() {
        assert_eq!(shared_prefix(&[vec![1, 2, 3, 4], vec![1, 2, 5], vec![1, 2, 3]]), 2);
        assert_eq!(shared_prefix(&[vec![1, 2, 3], vec![1, 2, 3]]), 2);
        assert_eq!(shared_prefix(&[vec![7, 8]]), 1);
        assert_eq!(shared_prefix(&[vec![1], vec![2]]), 0);
        assert_eq!(shared_prefix(&[]), 0);
    }

    #[test]
    fn probabilities_are_a_softmax_over_the_whole_row() {
        let logits = [0.0, 3f32.ln(), f32::NEG_INFINITY];
        assert!((probability_mass(&logits, &[1]) - 0.75).abs() < 1e-6);
        assert!((probability_mass(&logits, &[0, 1]) - 1.0).abs() < 1e-6);
        assert!((log_probability(&logits, 0) - 0.25f64.ln()).abs() < 1e-6);
        assert_eq!(log_probability(&logits, 9), f64::NEG_INFINITY);
    }
}
