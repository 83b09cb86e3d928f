//! Answer scoring for recommendation with a llama-family model: the prompt runs once and its
//! KV cache serves every continuation (ranking candidates) or every beam (constrained
//! retrieval), and LoRA adapters can be folded into the loaded model.

use candle_core::{D, Device, IndexOp, Tensor};

use crate::LlmError;
use crate::causal_lm::{CausalLm, Engine};
use crate::llama::{KvCache, Llama, log_softmax};
use crate::lora::LoraAdapters;

/// Continuations scored per forward pass.
const CONTINUATION_BATCH: usize = 16;

impl CausalLm {
    fn llama_engine(&self) -> Result<&Llama, LlmError> {
        match &self.engine {
            Engine::Llama(model) => Ok(model),
            Engine::T5(_) => Err(LlmError::Input("this operation needs a llama-family model (the loaded model is T5)".into())),
        }
    }

    /// The llama decoder, for LoRA training (`None` for T5).
    pub fn llama(&self) -> Option<&Llama> {
        self.llama_engine().ok()
    }

    /// This model with `adapters` folded into its projections; the model id gets `id_suffix`
    /// (e.g. a hash of the adapter file) so caches never mix the two.
    pub fn with_adapters(mut self, adapters: &LoraAdapters, id_suffix: &str) -> Result<CausalLm, LlmError> {
        let merged = adapters.merge_into(self.llama_engine()?)?;
        self.engine = Engine::Llama(merged);
        self.model_id = format!("{}+lora-{id_suffix}", self.model_id);
        Ok(self)
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
        let model = self.llama_engine()?;
        let (cache, first) = run_prompt(model, prompt)?;
        Ok(Decoder { model, cache, rows: vec![first], position: prompt.len(), context: self.context_length() })
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
    model: &'a Llama,
    cache: KvCache,
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
        let mut cache = self.cache.select_rows(parents)?;
        let ids = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(1)?; // [n, 1]
        let hidden = self.model.forward_hidden(&ids, Some(&mut cache))?; // [n, 1, d]
        let (n, _, d) = hidden.dims3()?;
        let logits = self.model.logits(&hidden.reshape((n, d))?)?;
        self.rows = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
        self.cache = cache;
        self.position += 1;
        Ok(())
    }
}
