//! recforge-select: choose which documents a model trains on.
//!
//! Every sampler implements one [`Sampler`] trait in two steps: per-document *features*
//! (an LLM score, an embedding; independent per document, so they shard across machines and
//! are cached content-addressed) and a global *scoring* step over all features (a kernel
//! density, a deduplication) that needs no model. A [`Selection`] mode (top-k, threshold,
//! inverse-propensity) turns scores into the kept set. Samplers: random, Ask-LLM and Density
//! (arXiv 2402.09668), perplexity filtering, SemDeDup (arXiv 2303.09540).

pub mod ask_llm;

pub mod corpus;
pub mod density;
pub mod density_bench;
pub mod error;
pub mod experiment;
pub mod hashed;
pub mod input;
pub mod llm;
pub mod lm;
pub mod lsh;

pub mod perplexity;
pub mod pipeline;
pub mod models;
pub mod random;
pub mod run;
pub mod sampler;
pub mod selection;
pub mod semdedup;
pub mod shard;
pub mod stats;

pub use error::{Result, SelectError};
pub use recforge_llm::TextEmbedder;
pub use sampler::{FeatureCache, LanguageModel, MemoryCache, Sampler, Scoring};
pub use selection::{Selection, select};
