//! Ask-LLM (Sachdeva et al., arXiv 2402.09668): ask an instruction-tuned LLM whether a
//! document is informative pre-training data, with the paper's exact prompt; the score is
//! the probability that the first answer token is "yes" (its case variants summed). Long
//! documents are truncated so that the whole prompt fits the model's context.

use crate::error::Result;
use crate::sampler::{LanguageModel, Sampler, Scoring};
use crate::selection::Selection;

/// The answer tokens whose first-token probabilities are summed.
pub const YES_VARIANTS: [&str; 2] = ["yes", "Yes"];

/// Default cap on the tokens of one document inside the prompt (the paper truncates to fit
/// the context; a cap keeps CPU scoring affordable).
pub const DEFAULT_MAX_DOC_TOKENS: usize = 256;

/// Tokens kept free after the prompt for the answer.
const ANSWER_TOKENS: usize = 1;

/// The Ask-LLM prompt for one datapoint, byte for byte as in the paper.
pub fn ask_llm_prompt(datapoint: &str) -> String {
    format!(
        "###\n{datapoint}\n###\n\nDoes the previous paragraph demarcated within ### and ### contain informative signal for pre-training a large-language model? An informative datapoint should be well-formatted, contain some usable knowledge of the world, and strictly NOT have any harmful, racist, sexist, etc. content.\n\nOPTIONS:\n- yes\n- no"
    )
}

pub struct AskLlm<M> {
    pub model: M,
    pub max_doc_tokens: usize,
}

impl<M: LanguageModel> AskLlm<M> {
    pub fn new(model: M) -> Self {
        AskLlm { model, max_doc_tokens: DEFAULT_MAX_DOC_TOKENS }
    }

    /// Token budget for the datapoint: the cap, or what the context leaves after the prompt.
    pub fn doc_budget(&self) -> Result<usize> {
        let overhead = self.model.count_tokens(&self.model.chat_prompt(&ask_llm_prompt("")))?;
        Ok(self.max_doc_tokens.min(self.model.context_length().saturating_sub(overhead + ANSWER_TOKENS)))
    }

    /// The full chat prompt for one document (truncated to the budget).
    pub fn prompt_for(&self, text: &str, budget: usize) -> Result<String> {
        let doc = self.model.truncate_to_tokens(text, budget)?;
        Ok(self.model.chat_prompt(&ask_llm_prompt(&doc)))
    }
}

impl<M: LanguageModel> Sampler for AskLlm<M> {
    fn name(&self) -> &str {
        "askllm"
    }
    fn cache_id(&self) -> String {
        format!("askllm/{}/max_doc_tokens={}", self.model.model_id(), self.max_doc_tokens)
    }
    fn features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let budget = self.doc_budget()?;
        let prompts = texts.iter().map(|t| self.prompt_for(t, budget)).collect::<Result<Vec<_>>>()?;
        let p = self.model.first_token_probability(&prompts, &YES_VARIANTS)?;
        Ok(p.into_iter().map(|v| vec![v]).collect())
    }
    fn scoring(&self) -> Scoring {
        Scoring::Direct
    }
    fn default_selection(&self) -> Selection {
        Selection::TopK
    }
}
