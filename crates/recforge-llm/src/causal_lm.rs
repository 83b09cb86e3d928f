//! `CausalLm`: one handle over a GGUF llama model, a Hugging Face llama-family directory or a
//! Hugging Face T5 directory, with the operations data selection and recommendation need:
//! next-token answer probabilities (Ask-LLM), log-likelihoods (perplexity) and generation.
//!
//! Batching: prompts are sorted by length and grouped so that a group's padded size stays
//! under `BATCH_TOKENS`; each group runs as one forward pass over all its prompt tokens with
//! right padding. The mask is causal, so a row's real tokens never see its padding and a batch
//! gives the probabilities of scoring each prompt alone (tested).

use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::t5;
use tokenizers::Tokenizer;

use crate::generation::{GenerationParams, Sampler, cut_at_stop};
use crate::gguf_tokenizer::tokenizer_from_gguf;
use crate::hf::{HfDir, HfLlamaConfig};
use crate::llama::{KvCache, Llama, WeightFormat, log_softmax};
use crate::model_id::model_id;
use crate::LlmError;
use crate::backend::Backend;
#[cfg(feature = "llama-cpp")]
use crate::llama_cpp::{LlamaCppEngine, Outputs, log_probability, probability_mass, shared_prefix};

/// Padded tokens per forward pass when scoring many prompts.
const BATCH_TOKENS: usize = 4096;
/// At most this many prompts per forward pass.
const MAX_BATCH: usize = 64;

/// How to load a model.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// GGUF weights on candle: dequantized to f32 (default, faster batched scoring) or kept
    /// quantized. llama.cpp always runs the file's own quantization.
    pub weights: WeightFormat,
    /// The engine that runs a `.gguf` file (Hugging Face directories always run on candle).
    pub backend: Backend,
}

pub(crate) struct T5Engine {
    model: Mutex<t5::T5ForConditionalGeneration>,
    decoder_start: u32,
}

pub(crate) enum Engine {
    Llama(Llama),
    T5(T5Engine),
    #[cfg(feature = "llama-cpp")]
    LlamaCpp(LlamaCppEngine),
}

/// A causal (or encoder-decoder) language model with its tokenizer.
pub struct CausalLm {
    pub(crate) engine: Engine,
    tokenizer: Tokenizer,
    pub(crate) model_id: String,
    /// Prepended to every sequence when the model expects it.
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Vec<u32>,
    chatml: bool,
    context_length: usize,
}

impl CausalLm {
    /// Loads a `.gguf` file or a Hugging Face model directory with default options.
    pub fn load(path: &Path) -> Result<Self, LlmError> {
        Self::load_with(path, LoadOptions::default())
    }

    /// Loads a `.gguf` file or a Hugging Face model directory.
    pub fn load_with(path: &Path, options: LoadOptions) -> Result<Self, LlmError> {
        if path.is_dir() {
            Self::load_hf(path)
        } else {
            Self::load_gguf(path, options)
        }
    }

    fn load_gguf(path: &Path, options: LoadOptions) -> Result<Self, LlmError> {
        let mut file = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
        let content = candle_core::quantized::gguf_file::Content::read(&mut file)
            .map_err(|e| LlmError::bad_model(path, format!("not a GGUF file: {e}")))?;
        let tok = tokenizer_from_gguf(&content, path)?;
        let (context_length, engine) = match options.backend {
            Backend::Candle => {
                let model = Llama::from_gguf(&content, &mut file, path, options.weights)?;
                (model.config().context_length, Engine::Llama(model))
            }
            #[cfg(feature = "llama-cpp")]
            Backend::LlamaCpp => {
                let engine = LlamaCppEngine::load(path)?;
                (engine.context_length(), Engine::LlamaCpp(engine))
            }
            #[cfg(not(feature = "llama-cpp"))]
            Backend::LlamaCpp => {
                return Err(LlmError::Input(
                    "this build has no llama.cpp engine: rebuild with the `llama-cpp` feature or pass --backend candle".into(),
                ))
            }
        };
        let add_bos = content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut eos: Vec<u32> = tok.eos_id.into_iter().collect();
        if let Some(id) = tok.tokenizer.token_to_id("<|im_end|>") {
            eos.push(id);
        }
        Ok(Self {
            context_length,
            engine,
            chatml: tok.tokenizer.token_to_id("<|im_start|>").is_some(),
            bos: if add_bos { tok.bos_id } else { None },
            eos,
            tokenizer: tok.tokenizer,
            // Scores differ a little between engines: caches keep them apart.
            model_id: match options.backend {
                Backend::Candle => model_id(&name, &[path])?,
                Backend::LlamaCpp => format!("{}+llama-cpp", model_id(&name, &[path])?),
            },
        })
    }

    fn load_hf(dir: &Path) -> Result<Self, LlmError> {
        let hf = HfDir::open(dir)?;
        let tokenizer = hf.tokenizer()?;
        let id = model_id(&hf.name(), &hf.id_files())?;
        let chatml = tokenizer.token_to_id("<|im_start|>").is_some();
        match hf.model_type().as_str() {
            "llama" | "mistral" => {
                let cfg: HfLlamaConfig = hf.parse_config()?;
                let tensors = hf.load_tensors()?;
                let model = Llama::from_hf_tensors(cfg.to_config(), &tensors, cfg.tie_word_embeddings, dir)?;
                let mut eos = cfg.eos_ids();
                if let Some(id) = tokenizer.token_to_id("<|im_end|>") {
                    eos.push(id);
                }
                Ok(Self {
                    context_length: model.config().context_length,
                    engine: Engine::Llama(model),
                    bos: None,
                    eos,
                    chatml,
                    tokenizer,
                    model_id: id,
                })
            }
            "t5" => {
                let cfg: t5::Config = hf.parse_config()?;
                if !cfg.is_encoder_decoder {
                    return Err(LlmError::bad_model(&hf.config_path, "T5 config is not encoder-decoder"));
                }
                let tensors = hf.load_tensors()?;
                let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
                let model = t5::T5ForConditionalGeneration::load(vb, &cfg)
                    .map_err(|e| LlmError::bad_model(dir, format!("T5 weights: {e}")))?;
                Ok(Self {
                    engine: Engine::T5(T5Engine {
                        model: Mutex::new(model),
                        decoder_start: cfg.decoder_start_token_id.unwrap_or(cfg.pad_token_id) as u32,
                    }),
                    bos: None,
                    eos: vec![cfg.eos_token_id as u32],
                    chatml: false,
                    context_length: 512,
                    tokenizer,
                    model_id: id,
                })
            }
            other => Err(LlmError::bad_model(
                &hf.config_path,
                format!("model_type `{other}` is not a supported language model (llama, mistral, t5)"),
            )),
        }
    }

    /// The engine running this model.
    pub fn backend(&self) -> Backend {
        match &self.engine {
            #[cfg(feature = "llama-cpp")]
            Engine::LlamaCpp(_) => Backend::LlamaCpp,
            _ => Backend::Candle,
        }
    }

    /// Stable id for caches: file name + hash of the file head and size.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The tokenizer (read-only).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// A single user turn without system prompt, ready for the assistant's answer. ChatML for
    /// models whose vocabulary has `<|im_start|>`; the bare message otherwise (T5, base models).
    pub fn chat_prompt(&self, user_message: &str) -> String {
        if self.chatml {
            format!("<|im_start|>user\n{user_message}<|im_end|>\n<|im_start|>assistant\n")
        } else {
            user_message.to_string()
        }
    }

    /// Token ids of `text` (special tokens written in the text are matched; no BOS added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| LlmError::Tokenizer(e.to_string()))
    }

    /// Decodes ids to text (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.tokenizer.decode(ids, false).map_err(|e| LlmError::Tokenizer(e.to_string()))
    }

    /// Number of tokens of `text` (0 if it cannot be tokenized).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.encode(text).map_or(0, |ids| ids.len())
    }

    /// The longest prefix of `text` (cut at a token boundary) of at most `max_tokens` tokens.
    pub fn truncate_to_tokens(&self, text: &str, max_tokens: usize) -> String {
        let Ok(encoding) = self.tokenizer.encode(text, false) else {
            return String::new();
        };
        if encoding.len() <= max_tokens {
            return text.to_string();
        }
        if max_tokens == 0 {
            return String::new();
        }
        let end = encoding.get_offsets()[max_tokens - 1].1;
        let mut end = end.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_string()
    }

    /// Maximum positions the model attends over.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    pub(crate) fn sequence(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        ids.extend(self.encode(text)?);
        Ok(ids)
    }

    /// Token ids of each text (with BOS when the model has one); an error names the first text
    /// (`what` i) longer than the context.
    fn sequences_within_context(&self, texts: &[String], what: &str) -> Result<Vec<Vec<u32>>, LlmError> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let ids = self.sequence(t)?;
                if ids.len() > self.context_length {
                    return Err(LlmError::Input(format!(
                        "{what} {i} has {} tokens, more than the context length {}; truncate it",
                        ids.len(),
                        self.context_length
                    )));
                }
                Ok(ids)
            })
            .collect()
    }

    /// Distinct first-token ids of the answers.
    fn answer_ids(&self, answers: &[&str]) -> Result<Vec<u32>, LlmError> {
        if answers.is_empty() {
            return Err(LlmError::Input("first_token_probability needs at least one answer".into()));
        }
        let mut ids = Vec::new();
        for a in answers {
            let first = *self
                .encode(a)?
                .first()
                .ok_or_else(|| LlmError::Input(format!("answer {a:?} has no tokens")))?;
            if !ids.contains(&first) {
                ids.push(first);
            }
        }
        Ok(ids)
    }

    /// Sum over `answers` of P(first token of answer) as the next token after each prompt
    /// (distinct first tokens counted once; softmax over the whole vocabulary).
    pub fn first_token_probability(&self, prompts: &[String], answers: &[&str]) -> Result<Vec<f32>, LlmError> {
        let answer_ids = self.answer_ids(answers)?;
        let sequences = self.sequences_within_context(prompts, "prompt")?;
        if let Some(i) = sequences.iter().position(Vec::is_empty) {
            return Err(LlmError::Input(format!("prompt {i} is empty")));
        }
        let mut out = vec![0f32; prompts.len()];
        match &self.engine {
            Engine::Llama(model) => {
                for group in length_groups(&sequences) {
                    let (ids, lens) = pad_right(&sequences, &group)?;
                    let hidden = model.forward_hidden(&ids, None)?;
                    let last: Vec<Tensor> = lens
                        .iter()
                        .enumerate()
                        .map(|(r, &len)| hidden.i((r, len - 1)))
                        .collect::<candle_core::Result<_>>()?;
                    let logits = model.logits(&Tensor::stack(&last, 0)?)?;
                    let probs = candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?;
                    for (row, &i) in group.iter().enumerate() {
                        out[i] = answer_ids.iter().map(|&a| probs[row][a as usize]).sum();
                    }
                }
            }
            Engine::T5(engine) => {
                let mut model = lock(&engine.model)?;
                for (i, ids) in sequences.iter().enumerate() {
                    model.clear_kv_cache();
                    let enc = model.encode(&Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?)?;
                    let start = Tensor::new(&[engine.decoder_start], &Device::Cpu)?.unsqueeze(0)?;
                    let logits = model.decode(&start, &enc)?.squeeze(0)?;
                    let probs = candle_nn::ops::softmax_last_dim(&logits)?.to_vec1::<f32>()?;
                    out[i] = answer_ids.iter().map(|&a| probs[a as usize]).sum();
                }
            }
            #[cfg(feature = "llama-cpp")]
            Engine::LlamaCpp(engine) => {
                // The shared head of the prompts (instructions) runs once; each prompt's own
                // tail runs on a copy of its KV cache.
                let shared = shared_prefix(&sequences);
                let branches: Vec<&[u32]> = sequences.iter().map(|s| &s[shared..]).collect();
                engine.run_branches(&sequences[0][..shared], &branches, Outputs::Last, |i, _, logits| {
                    out[i] = probability_mass(logits, &answer_ids);
                    Ok(())
                })?;
            }
        }
        Ok(out)
    }

    /// Per text: (Σ log p(token_i | prefix), number of scored tokens). With a BOS token every
    /// text token is scored; without one the first token is the context and is not scored.
    pub fn log_likelihood(&self, texts: &[String]) -> Result<Vec<(f64, usize)>, LlmError> {
        let sequences = self.sequences_within_context(texts, "text")?;
        let mut out = vec![(0.0, 0); texts.len()];
        match &self.engine {
            Engine::Llama(model) => {
                let scorable: Vec<usize> = (0..sequences.len()).filter(|&i| sequences[i].len() >= 2).collect();
                for group in length_groups_of(&sequences, &scorable) {
                    let (ids, lens) = pad_right(&sequences, &group)?;
                    let hidden = model.forward_hidden(&ids, None)?;
                    for (row, &i) in group.iter().enumerate() {
                        let n = lens[row] - 1;
                        let h = hidden.i((row, 0..n))?;
                        let logp = log_softmax(&model.logits(&h)?)?;
                        let targets = Tensor::new(&sequences[i][1..], &Device::Cpu)?.unsqueeze(1)?;
                        let picked = logp.gather(&targets, 1)?.squeeze(1)?.to_vec1::<f32>()?;
                        out[i] = (picked.iter().map(|&v| v as f64).sum(), n);
                    }
                }
            }
            Engine::T5(engine) => {
                // The text is the decoder's target after an empty encoder input.
                let mut model = lock(&engine.model)?;
                let empty = Tensor::new(self.eos.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
                for (i, ids) in sequences.iter().enumerate() {
                    model.clear_kv_cache();
                    let enc = model.encode(&empty)?;
                    let mut prev = engine.decoder_start;
                    let mut total = 0.0;
                    for &target in ids {
                        let input = Tensor::new(&[prev], &Device::Cpu)?.unsqueeze(0)?;
                        let logits = model.decode(&input, &enc)?;
                        let logp = log_softmax(&logits)?.squeeze(0)?.to_vec1::<f32>()?;
                        total += logp[target as usize] as f64;
                        prev = target;
                    }
                    out[i] = (total, ids.len());
                }
            }
            #[cfg(feature = "llama-cpp")]
            Engine::LlamaCpp(engine) => {
                let scorable: Vec<usize> = (0..sequences.len()).filter(|&i| sequences[i].len() >= 2).collect();
                let branches: Vec<&[u32]> = scorable.iter().map(|&i| sequences[i].as_slice()).collect();
                engine.run_branches(&[], &branches, Outputs::All, |b, pos, logits| {
                    let seq = branches[b];
                    if let Some(&target) = seq.get(pos + 1) {
                        let i = scorable[b];
                        out[i].0 += log_probability(logits, target);
                        out[i].1 += 1;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(out)
    }

    /// Logits over the vocabulary of the token after `ids` (one full forward pass, no cache).
    pub fn next_token_logits(&self, ids: &[u32]) -> Result<Vec<f32>, LlmError> {
        if ids.is_empty() {
            return Err(LlmError::Input("next_token_logits needs at least one token".into()));
        }
        let input = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
        match &self.engine {
            Engine::Llama(model) => {
                let hidden = model.forward_hidden(&input, None)?;
                Ok(model.last_logits(&hidden, 0, ids.len() - 1)?.to_vec1::<f32>()?)
            }
            Engine::T5(engine) => {
                let mut model = lock(&engine.model)?;
                model.clear_kv_cache();
                let enc = model.encode(&input)?;
                let start = Tensor::new(&[engine.decoder_start], &Device::Cpu)?.unsqueeze(0)?;
                Ok(model.decode(&start, &enc)?.squeeze(0)?.to_vec1::<f32>()?)
            }
            #[cfg(feature = "llama-cpp")]
            Engine::LlamaCpp(engine) => {
                let mut ctx = engine.context(ids.len() + 1, 1)?;
                Ok(engine.feed(&mut ctx, ids, 0, 0, true)?.unwrap_or_default())
            }
        }
    }

    /// Continues `prompt` (already formatted, e.g. by `chat_prompt`) and returns the new text,
    /// cut before the first stop string or end-of-sequence token.
    pub fn generate(&self, prompt: &str, params: &GenerationParams) -> Result<String, LlmError> {
        let prompt_ids = self.sequence(prompt)?;
        if prompt_ids.is_empty() {
            return Err(LlmError::Input("generate needs a non-empty prompt".into()));
        }
        let mut sampler = Sampler::new(params);
        let mut generated: Vec<u32> = Vec::new();
        let mut text = String::new();
        match &self.engine {
            Engine::Llama(model) => {
                let budget = self.context_length.saturating_sub(prompt_ids.len());
                let mut cache = KvCache::default();
                let mut input = prompt_ids.clone();
                for _ in 0..params.max_tokens.min(budget) {
                    let ids = Tensor::new(input.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
                    let hidden = model.forward_hidden(&ids, Some(&mut cache))?;
                    let logits = model.last_logits(&hidden, 0, input.len() - 1)?.to_vec1::<f32>()?;
                    let Some(next) = self.take_token(&mut sampler, &logits, &mut generated, &mut text, &params.stop)? else { break };
                    input = vec![next];
                }
            }
            Engine::T5(engine) => {
                let mut model = lock(&engine.model)?;
                model.clear_kv_cache();
                let enc = model.encode(&Tensor::new(prompt_ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?)?;
                let mut prev = engine.decoder_start;
                for _ in 0..params.max_tokens {
                    let input = Tensor::new(&[prev], &Device::Cpu)?.unsqueeze(0)?;
                    let logits = model.decode(&input, &enc)?.squeeze(0)?.to_vec1::<f32>()?;
                    let Some(next) = self.take_token(&mut sampler, &logits, &mut generated, &mut text, &params.stop)? else { break };
                    prev = next;
                }
            }
            #[cfg(feature = "llama-cpp")]
            Engine::LlamaCpp(engine) => {
                let budget = params.max_tokens.min(self.context_length.saturating_sub(prompt_ids.len()));
                let mut ctx = engine.context(prompt_ids.len() + budget + 1, 1)?;
                let mut logits = engine.feed(&mut ctx, &prompt_ids, 0, 0, true)?.unwrap_or_default();
                for step in 0..budget {
                    let Some(next) = self.take_token(&mut sampler, &logits, &mut generated, &mut text, &params.stop)? else { break };
                    if step + 1 < budget {
                        logits = engine.feed(&mut ctx, &[next], prompt_ids.len() + step, 0, true)?.unwrap_or_default();
                    }
                }
            }
        }
        if let Some(cut) = cut_at_stop(&text, &params.stop) {
            text.truncate(cut);
        }
        Ok(text)
    }
}

impl CausalLm {
    /// One generation step: samples from `logits`; `None` ends generation (an end-of-sequence
    /// token, not kept, or a kept token after which `text` reaches a stop sequence), otherwise
    /// the token to feed next. `text` is `generated` decoded.
    fn take_token(&self, sampler: &mut Sampler, logits: &[f32], generated: &mut Vec<u32>, text: &mut String, stop: &[String]) -> Result<Option<u32>, LlmError> {
        let next = sampler.sample(logits);
        if self.eos.contains(&next) {
            return Ok(None);
        }
        generated.push(next);
        *text = self.tokenizer.decode(generated, true).map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        Ok(cut_at_stop(text, stop).is_none().then_some(next))
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, LlmError> {
    m.lock().map_err(|_| LlmError::Input("the model lock is poisoned by an earlier panic".into()))
}

/// Groups all sequence indices by length (shortest first) under the batch budget.
fn length_groups(sequences: &[Vec<u32>]) -> Vec<Vec<usize>> {
    let all: Vec<usize> = (0..sequences.len()).collect();
    length_groups_of(sequences, &all)
}

/// Groups `indices` sorted by sequence length so that `rows × longest ≤ BATCH_TOKENS`.
fn length_groups_of(sequences: &[Vec<u32>], indices: &[usize]) -> Vec<Vec<usize>> {
    let mut order = indices.to_vec();
    order.sort_by_key(|&i| sequences[i].len());
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        let longest = sequences[i].len();
        if !current.is_empty() && ((current.len() + 1) * longest > BATCH_TOKENS || current.len() >= MAX_BATCH) {
            groups.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// `[rows, longest]` ids right-padded with 0, and each row's length.
fn pad_right(sequences: &[Vec<u32>], group: &[usize]) -> Result<(Tensor, Vec<usize>), LlmError> {
    let longest = group.iter().map(|&i| sequences[i].len()).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(group.len() * longest);
    let mut lens = Vec::with_capacity(group.len());
    for &i in group {
        let s = &sequences[i];
        flat.extend_from_slice(s);
        flat.extend(std::iter::repeat_n(0u32, longest - s.len()));
        lens.push(s.len());
    }
    Ok((Tensor::from_vec(flat, (group.len(), longest), &Device::Cpu)?, lens))
}
