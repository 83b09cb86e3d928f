//! Answer scoring for recommendation with a llama-family model: the prompt runs once and its
//! KV cache serves every continuation (ranking candidates) or every beam (constrained
//! retrieval), and LoRA adapters can be folded into the loaded model.

use candle_core::{D, Device, IndexOp, Tensor};

use crate::LlmError;
use crate::causal_lm::{CausalLm, Engine};
#[cfg(feature = "llama-cpp")]
use crate::llama_cpp::{CppDecoder, Outputs, log_probability};
use crate::llama::{KvCache, Llama, log_softmax};
use crate::lora::LoraAdapters;

/// Continuations scored per forward pass.
const CONTINUATION_BATCH: usize = 16;

impl CausalLm {
    fn llama_engine(&self) -> Result<&Llama, LlmError> {
        match &self.engine {
            Engine::Llama(model) => Ok(model),
            Engine::T5(_) => Err(LlmError::Input("this operation needs a llama-family model (the loaded model is T5)".into())),
            #[cfg(feature = "llama-cpp")]
            Engine::LlamaCpp(_) => Err(LlmError::Input("this operation needs the candle engine (load the model with --backend candle)".into())),
        }
    }

    /// The llama decoder, for LoRA training (`None` for T5).
    pub fn llama(&self) -> Option<&Llama> {
        self.llama_engine().ok()
    }

    /// This model with `adapters` folded into its projections; the model id gets `id_suffix`
    /// (e.g. a hash of the adapter file) so caches never mix the two.
    pub fn with_adapters(mut self, adapters: &LoraAdapters, id_suffix: &str) -> Result<CausalLm, LlmError> {
        #[cfg(feature = "llama-cpp")]
        if let Engine::LlamaCpp(engine) = &mut self.engine {
            // llama.cpp reads adapters from a GGUF file: write one, load it, remove it.
            let file = crate::lora_export::temp_path(id_suffix);
            adapters.save_gguf(&file)?;
            let loaded = engine.set_adapter(&file);
            let _ = std::fs::remove_file(&file);
            loaded?;
            self.model_id = format!("{}+lora-{id_suffix}", self.model_id);
            return Ok(self);
        }
        let merged = adapters.merge_into(self.llama_engine()?)?;
        self.engine = Engine::Llama(merged);
        self.model_id = format!("{}+lora-{id_suffix}", self.model_id);
        Ok(self)
    }

    /// This model with a llama.cpp GGUF LoRA adapter file (as written by
    /// [`LoraAdapters::save_gguf`]) applied at run time: llama.cpp engine only.
    #[cfg_attr(not(feature = "llama-cpp"), allow(unused_variables))]
    pub fn with_gguf_adapter(mut self, path: &std::path::Path, id_suffix: &str) -> Result<CausalLm, LlmError> {
        match &mut self.engine {
            #[cfg(feature = "llama-cpp")]
            Engine::LlamaCpp(engine) => {
                engine.set_adapter(path)?;
                self.model_id = format!("{}+lora-{id_suffix}", self.model_id);
                Ok(self)
            }
            _ => Err(LlmError::Input(format!("{}: a GGUF LoRA adapter needs the llama.cpp engine (--backend llama-cpp)", path.display()))),
        }
    }

    /// Token ids of `text` as the model reads it (BOS first when the model expects one).
    pub fn prompt_ids(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        self.sequence(text)
    }

    /// Ids that end an answer (end-of-sequence, `<|im_end|>`).
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos
    }

    /// Per continuation (token ids), Σ log p(token | prompt, earlier tokens). The prompt runs
    /// once; continuations run in batches on copies of its KV cache.
    pub fn continuation_log_probs(&self, prompt: &[u32], continuations: &[Vec<u32>]) -> Result<Vec<f64>, LlmError> {
        #[cfg(feature = "llama-cpp")]
        if let Engine::LlamaCpp(engine) = &self.engine {
            if prompt.is_empty() {
                return Err(LlmError::Input("the prompt has no tokens".into()));
            }
            // Each continuation but its last token runs after the prompt; its first token is
            // scored by the prompt's own next-token logits.
            let heads: Vec<&[u32]> = continuations.iter().map(|c| &c[..c.len().saturating_sub(1)]).collect();
            let mut out = vec![0.0; continuations.len()];
            let first = engine.run_branches(prompt, &heads, Outputs::All, |b, pos, logits| {
                out[b] += log_probability(logits, continuations[b][pos + 1]);
                Ok(())
            })?;
            let first = first.unwrap_or_default();
            for (o, c) in out.iter_mut().zip(continuations) {
                if let Some(&head) = c.first() {
                    *o += log_probability(&first, head);
                }
            }
            return Ok(out);
        }
        let model = self.llama_engine()?;
        let (cache, first) = run_prompt(model, prompt)?;
        let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
        if prompt.len() + longest > self.context_length() {
            return Err(LlmError::Input(format!(
                "prompt ({} tokens) plus a continuation ({longest}) exceed the context length {}",
                prompt.len(),
                self.context_length()
            )));
        }
        let mut out = Vec::with_capacity(continuations.len());
        for chunk in continuations.chunks(CONTINUATION_BATCH) {
            let width = chunk.iter().map(Vec::len).max().unwrap_or(0);
            if width == 0 {
                out.extend(std::iter::repeat_n(0.0, chunk.len()));
                continue;
            }
            let mut flat = Vec::with_capacity(chunk.len() * width);
            for c in chunk {
                flat.extend_from_slice(c);
                flat.extend(std::iter::repeat_n(0u32, width - c.len()));
            }
            let ids = Tensor::from_vec(flat, (chunk.len(), width), &Device::Cpu)?;
            let mut rows = cache.select_rows(&vec![0u32; chunk.len()])?;
            let hidden = model.forward_hidden(&ids, Some(&mut rows))?;
            for (row, c) in chunk.iter().enumerate() {
                let Some(&head) = c.first() else {
                    out.push(0.0);
                    continue;
                };
                let mut total = first[head as usize] as f64;
                if c.len() > 1 {
                    let h = hidden.i((row, 0..c.len() - 1))?;
                    let logp = log_softmax(&model.logits(&h)?)?;
                    let targets = Tensor::new(&c[1..], &Device::Cpu)?.unsqueeze(1)?;
                    let picked = logp.gather(&targets, 1)?.squeeze(1)?.to_vec1::<f32>()?;
                    total += picked.iter().map(|&v| v as f64).sum::<f64>();
                }
                out.push(total);
            }
        }
        Ok(out)
    }

    /// A step-by-step decoder over `prompt` for beam search: one live row to start.
    pub fn decoder(&self, prompt: &[u32]) -> Result<Decoder<'_>, LlmError> {
        #[cfg(feature = "llama-cpp")]
        if let Engine::LlamaCpp(engine) = &self.engine {
            if prompt.is_empty() {
                return Err(LlmError::Input("the prompt has no tokens".into()));
            }
            let (decoder, logits) = CppDecoder::new(engine, prompt)?;
            let context = self.context_length().min(prompt.len() + crate::llama_cpp::DECODER_CELLS);
            return Ok(Decoder { state: State::LlamaCpp(decoder), rows: vec![log_softmax_row(&logits)], position: prompt.len(), context });
        }
        let model = self.llama_engine()?;
        let (cache, first) = run_prompt(model, prompt)?;
        Ok(Decoder { state: State::Candle { model, cache }, rows: vec![first], position: prompt.len(), context: self.context_length() })
    }
}

/// Runs the prompt with a fresh cache; returns it and the next-token log-probabilities.
fn run_prompt(model: &Llama, prompt: &[u32]) -> Result<(KvCache, Vec<f32>), LlmError> {
    if prompt.is_empty() {
        return Err(LlmError::Input("the prompt has no tokens".into()));
    }
    let mut cache = KvCache::default();
    let ids = Tensor::new(prompt, &Device::Cpu)?.unsqueeze(0)?;
    let hidden = model.forward_hidden(&ids, Some(&mut cache))?;
    let logits = model.last_logits(&hidden, 0, prompt.len() - 1)?.unsqueeze(0)?;
    let first = log_softmax(&logits)?.squeeze(0)?.to_vec1::<f32>()?;
    Ok((cache, first))
}

/// Live rows (beams) over one prompt, each with its next-token log-probabilities.
pub struct Decoder<'a> {
    state: State<'a>,
    rows: Vec<Vec<f32>>,
    position: usize,
    context: usize,
}

impl Decoder<'_> {
    /// Next-token log-probabilities of each live row.
    pub fn log_probs(&self) -> &[Vec<f32>] {
        &self.rows
    }

    /// New live rows: row `i` continues old row `parents[i]` with `tokens[i]`.
    pub fn advance(&mut self, parents: &[u32], tokens: &[u32]) -> Result<(), LlmError> {
        if parents.len() != tokens.len() || parents.is_empty() {
            return Err(LlmError::Input("advance needs one token per parent and at least one".into()));
        }
        if self.position + 1 > self.context {
            return Err(LlmError::Input(format!("decoding past the context length {}", self.context)));
        }
        match &mut self.state {
            State::Candle { model, cache } => {
                let mut next = cache.select_rows(parents)?;
                let ids = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(1)?; // [n, 1]
                let hidden = model.forward_hidden(&ids, Some(&mut next))?; // [n, 1, d]
                let (n, _, d) = hidden.dims3()?;
                let logits = model.logits(&hidden.reshape((n, d))?)?;
                self.rows = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
                *cache = next;
            }
            #[cfg(feature = "llama-cpp")]
            State::LlamaCpp(decoder) => {
                self.rows = decoder.advance(parents, tokens)?.iter().map(|l| log_softmax_row(l)).collect();
            }
        }
        self.position += 1;
        Ok(())
    }
}

/// The engine state behind a [`Decoder`].
enum State<'a> {
    Candle { model: &'a Llama, cache: KvCache },
    #[cfg(feature = "llama-cpp")]
    LlamaCpp(CppDecoder<'a>),
}

/// log softmax of one row of logits.
#[cfg(feature = "llama-cpp")]
fn log_softmax_row(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_total = logits.iter().map(|&l| ((l - max) as f64).exp()).sum::<f64>().ln() as f32;
    logits.iter().map(|&l| l - max - log_total).collect()
}
