//! recforge's LLM runtime, on candle (CPU inference).
//!
//! - [`CausalLm`]: a GGUF llama-family model (SmolLM2) with the tokenizer rebuilt from the GGUF
//!   metadata, or a Hugging Face directory (llama/mistral, T5): answer probabilities for
//!   Ask-LLM, log-likelihoods for perplexity, and sampled generation.
//! - [`SentenceEncoder`]: BERT sentence embeddings (all-MiniLM-L6-v2), mean-pooled, L2-normalised,
//!   behind the one [`TextEmbedder`] trait every embedding user takes; run packed (no padding)
//!   on the `gemm` crate's kernels.
//! - LoRA adapters ([`LoraAdapters`]) trained through a differentiable forward written from
//!   basic ops, folded into the model for inference; prompt-cached continuation scoring and a
//!   step decoder for constrained beam search.
//! - [`ScoreCache`]: a redb cache keyed by a hash of (model id, kind, input).
//!
//! Everything takes `&self`: models keep no state between calls (KV caches are per call), so one
//! loaded model can serve several threads.

pub mod bench;
mod backend;
mod cache;
mod causal_lm;
mod embedder;
mod error;
mod generation;
pub mod gguf_tokenizer;
mod hf;
pub mod llama;
#[cfg(feature = "llama-cpp")]
mod llama_cpp;
pub mod lora;
pub mod lora_export;
mod model_id;
mod packed_bert;
mod scoring;
mod train_forward;
mod sentence;
pub mod tiny;

pub use cache::{ScoreCache, cache_key};
pub use backend::Backend;
pub use causal_lm::{CausalLm, LoadOptions};
pub use embedder::TextEmbedder;
pub use error::LlmError;
pub use generation::GenerationParams;
pub use llama::WeightFormat;
pub use lora::{LoraAdapter, LoraAdapters, LoraConfig, Projection};
pub use scoring::Decoder;
pub use sentence::SentenceEncoder;
