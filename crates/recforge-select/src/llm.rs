//! recforge-llm's models behind the sampler traits: [`CausalLm`] as a [`LanguageModel`]
//! (Ask-LLM, perplexity) and the redb [`ScoreCache`] as the [`FeatureCache`] that makes reruns
//! and resumed runs free. (Sentence encoders come in through `recforge_llm::TextEmbedder`.)

use recforge_llm::{CausalLm, LlmError, ScoreCache};

use crate::error::{Result, SelectError};
use crate::sampler::{FeatureCache, LanguageModel};

/// Cache "kind" under which sampler features are stored (the key also holds the sampler's
/// cache id and the document text).
const CACHE_KIND: &str = "recforge-select/features";

fn model_error(e: LlmError) -> SelectError {
    SelectError::Model(e.to_string())
}

impl LanguageModel for CausalLm {
    fn model_id(&self) -> String {
        CausalLm::model_id(self).to_string()
    }
    fn chat_prompt(&self, user_msg: &str) -> String {
        CausalLm::chat_prompt(self, user_msg)
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(CausalLm::count_tokens(self, text))
    }
    fn truncate_to_tokens(&self, text: &str, n: usize) -> Result<String> {
        Ok(CausalLm::truncate_to_tokens(self, text, n))
    }
    fn context_length(&self) -> usize {
        CausalLm::context_length(self)
    }
    fn first_token_probability(&self, prompts: &[String], answers: &[&str]) -> Result<Vec<f32>> {
        CausalLm::first_token_probability(self, prompts, answers).map_err(model_error)
    }
    fn log_likelihood(&self, texts: &[String]) -> Result<Vec<(f64, usize)>> {
        CausalLm::log_likelihood(self, texts).map_err(model_error)
    }
}

impl FeatureCache for ScoreCache {
    fn get(&self, cache_id: &str, text: &str) -> Result<Option<Vec<f32>>> {
        self.get_f32s(cache_id, CACHE_KIND, text).map_err(model_error)
    }
    fn put(&self, cache_id: &str, text: &str, values: &[f32]) -> Result<()> {
        self.put_f32s(cache_id, CACHE_KIND, text, values).map_err(model_error)
    }
}
