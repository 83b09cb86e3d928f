//! The one [`Sampler`] trait and the model interfaces samplers are written against.
//!
//! A sampler computes per-document *features* (a one-number score or an embedding) — the
//! expensive, model-bound part, which shards across machines and is cached by content — and
//! names a [`Scoring`]: the model-free global step that turns all features into one score
//! per document (higher = keep first). A merge of shard outputs rebuilds the scoring from its
//! serialised form, so it needs no model.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::density::LshConfig;
use crate::error::Result;
use crate::selection::Selection;
use crate::semdedup::SemDedupConfig;

/// A data-selection method.
pub trait Sampler {
    /// Short name ("askllm", "density", ...).
    fn name(&self) -> &str;
    /// Identifies the model and every setting that changes the features; part of cache keys.
    fn cache_id(&self) -> String;
    /// Features of each text, independently per text: `[texts.len()][width]`.
    fn features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
    /// The global step over all documents' features.
    fn scoring(&self) -> Scoring;
    /// The selection mode this method is published with.
    fn default_selection(&self) -> Selection;
}

/// The model-free global step from features to scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Scoring {
    /// The feature is the score (Ask-LLM, perplexity, random).
    Direct,
    /// Kernel density of each embedding among all (LSH count sketch).
    Density(LshConfig),
    /// 1 − the largest cosine similarity to an earlier document of the same k-means cluster.
    SemDedup(SemDedupConfig),
}

impl Scoring {
    /// One score per document from all documents' features (in document order).
    pub fn scores(&self, features: &[Vec<f32>]) -> Result<Vec<f32>> {
        match self {
            Scoring::Direct => Ok(features.iter().map(|f| f.first().copied().unwrap_or(f32::NAN)).collect()),
            Scoring::Density(config) => crate::density::density_scores(config, features),
            Scoring::SemDedup(config) => crate::semdedup::semdedup_scores(config, features),
        }
    }
}

/// A causal language model, as `recforge_llm::CausalLm` exposes it.
pub trait LanguageModel {
    fn model_id(&self) -> String;
    /// `user_msg` wrapped in the model's chat template, ready for the assistant's answer.
    fn chat_prompt(&self, user_msg: &str) -> String;
    fn count_tokens(&self, text: &str) -> Result<usize>;
    /// The longest prefix of `text` that is at most `n` tokens.
    fn truncate_to_tokens(&self, text: &str, n: usize) -> Result<String>;
    fn context_length(&self) -> usize;
    /// For each prompt, the summed probability of each answer's first token coming next.
    fn first_token_probability(&self, prompts: &[String], answers: &[&str]) -> Result<Vec<f32>>;
    /// For each text, (sum of log-probabilities of its tokens, number of tokens scored).
    fn log_likelihood(&self, texts: &[String]) -> Result<Vec<(f64, usize)>>;
}

/// A content-addressed store of features: (sampler cache id, document text) → floats.
pub trait FeatureCache {
    fn get(&self, cache_id: &str, text: &str) -> Result<Option<Vec<f32>>>;
    fn put(&self, cache_id: &str, text: &str, values: &[f32]) -> Result<()>;
}

/// An in-memory [`FeatureCache`] (tests, single runs without `--cache`).
#[derive(Default)]
pub struct MemoryCache {
    map: Mutex<HashMap<(String, String), Vec<f32>>>,
}

impl MemoryCache {
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FeatureCache for MemoryCache {
    fn get(&self, cache_id: &str, text: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.map.lock().ok().and_then(|m| m.get(&(cache_id.to_string(), text.to_string())).cloned()))
    }
    fn put(&self, cache_id: &str, text: &str, values: &[f32]) -> Result<()> {
        if let Ok(mut m) = self.map.lock() {
            m.insert((cache_id.to_string(), text.to_string()), values.to_vec());
        }
        Ok(())
    }
}
