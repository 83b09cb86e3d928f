//! The two things reasoning and Rec-SAVER ask of a language model, behind one small trait so
//! tests can script a fake model: continue an assistant answer, and give the distribution of a
//! 1-5 rating as the next token.
//!
//! [`CausalLm`] implements it with its chat template: the user message becomes one ChatML user
//! turn (or the bare text for models without one) and the answer prefix is appended after the
//! assistant header. The rating distribution reads the next-token logits once and sums, per
//! digit, the probability of the digit with and without a leading space, normalised over 1-5.

use recforge_llm::{CausalLm, GenerationParams, LlmError};

/// Ratings are integers 1..=RATING_LEVELS.
pub const RATING_LEVELS: usize = 5;

/// What reasoning and Rec-SAVER need from a model.
pub trait ChatModel {
    /// A stable id of the model (for caches and reports).
    fn model_id(&self) -> &str;

    /// The assistant's continuation of `answer_prefix` after the user message.
    fn complete(&self, user_message: &str, answer_prefix: &str, params: &GenerationParams) -> Result<String, LlmError>;

    /// P(rating = 1..5) as the next token after `answer_prefix`, normalised over the five.
    fn rating_distribution(&self, user_message: &str, answer_prefix: &str) -> Result<[f64; RATING_LEVELS], LlmError>;
}

impl ChatModel for CausalLm {
    fn model_id(&self) -> &str {
        CausalLm::model_id(self)
    }

    fn complete(&self, user_message: &str, answer_prefix: &str, params: &GenerationParams) -> Result<String, LlmError> {
        let prompt = format!("{}{answer_prefix}", self.chat_prompt(user_message));
        self.generate(&prompt, params)
    }

    fn rating_distribution(&self, user_message: &str, answer_prefix: &str) -> Result<[f64; RATING_LEVELS], LlmError> {
        let prompt = format!("{}{answer_prefix}", self.chat_prompt(user_message));
        let ids = self.prompt_ids(&prompt)?;
        let logits = self.next_token_logits(&ids)?;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
        let mut out = [0f64; RATING_LEVELS];
        for (level, slot) in out.iter_mut().enumerate() {
            let digit = (level + 1).to_string();
            let mut seen = Vec::new();
            for variant in [digit.clone(), format!(" {digit}")] {
                if let Some(&id) = self.encode(&variant)?.first() {
                    if !seen.contains(&id) {
                        seen.push(id);
                        *slot += logits.get(id as usize).map_or(0.0, |&l| ((l - max) as f64).exp() / total);
                    }
                }
            }
        }
        Ok(normalise(out))
    }
}

/// Scales to sum 1 (uniform when everything is 0).
pub fn normalise(mut p: [f64; RATING_LEVELS]) -> [f64; RATING_LEVELS] {
    let sum: f64 = p.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        p.iter_mut().for_each(|v| *v /= sum);
    } else {
        p = [1.0 / RATING_LEVELS as f64; RATING_LEVELS];
    }
    p
}

/// The most likely rating (1-5; the lower one on a tie).
pub fn argmax_rating(p: &[f64; RATING_LEVELS]) -> f32 {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    (best + 1) as f32
}

/// The expected rating Σ r · p(r).
pub fn expected_rating(p: &[f64; RATING_LEVELS]) -> f32 {
    p.iter().enumerate().map(|(i, &v)| (i + 1) as f64 * v).sum::<f64>() as f32
}
