//! Perplexity filtering (the classic baseline compared in arXiv 2402.09668): score each
//! document by a reference LM's mean log-likelihood per token, −ln(perplexity), and keep the
//! most predictable documents. Documents are truncated to a fixed number of tokens.

use crate::error::{Result, SelectError};
use crate::sampler::{LanguageModel, Sampler, Scoring};
use crate::selection::Selection;

pub const DEFAULT_MAX_TOKENS: usize = 256;

pub struct Perplexity<M> {
    pub model: M,
    pub max_tokens: usize,
}

impl<M: LanguageModel> Perplexity<M> {
    pub fn new(model: M) -> Self {
        Perplexity { model, max_tokens: DEFAULT_MAX_TOKENS }
    }
}

impl<M: LanguageModel> Sampler for Perplexity<M> {
    fn name(&self) -> &str {
        "perplexity"
    }
    fn cache_id(&self) -> String {
        format!("perplexity/{}/max_tokens={}", self.model.model_id(), self.max_tokens)
    }
    fn features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let budget = self.max_tokens.min(self.model.context_length());
        let cut = texts.iter().map(|t| self.model.truncate_to_tokens(t, budget)).collect::<Result<Vec<_>>>()?;
        let ll = self.model.log_likelihood(&cut)?;
        if ll.len() != texts.len() {
            return Err(SelectError::Model(format!("log_likelihood returned {} values for {} texts", ll.len(), texts.len())));
        }
        Ok(ll.into_iter().map(|(sum, n)| vec![if n == 0 { f32::MIN } else { (sum / n as f64) as f32 }]).collect())
    }
    fn scoring(&self) -> Scoring {
        Scoring::Direct
    }
    fn default_selection(&self) -> Selection {
        Selection::TopK
    }
}
