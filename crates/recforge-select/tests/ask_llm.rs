//! The Ask-LLM prompt byte for byte, truncation to the context, and scoring through a fake
//! language model.

use std::cell::RefCell;

use recforge_select::ask_llm::{AskLlm, YES_VARIANTS, ask_llm_prompt};
use recforge_select::{LanguageModel, Result, Sampler};

const EXPECTED: &str = "###
A paragraph.
###

Does the previous paragraph demarcated within ### and ### contain informative signal for pre-training a large-language model? An informative datapoint should be well-formatted, contain some usable knowledge of the world, and strictly NOT have any harmful, racist, sexist, etc. content.

OPTIONS:
- yes
- no";

#[test]
fn prompt_matches_the_paper_byte_for_byte() {
    assert_eq!(ask_llm_prompt("A paragraph.").as_bytes(), EXPECTED.as_bytes());
}

/// Whitespace "tokens"; P(yes) = 1 / (1 + words in the prompt's datapoint).
struct FakeLm {
    context: usize,
    seen: RefCell<Vec<String>>,
}

impl LanguageModel for FakeLm {
    fn model_id(&self) -> String {
        "fake".into()
    }
    fn chat_prompt(&self, user_msg: &str) -> String {
        format!("<user> {user_msg} <assistant>")
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }
    fn truncate_to_tokens(&self, text: &str, n: usize) -> Result<String> {
        Ok(text.split_whitespace().take(n).collect::<Vec<_>>().join(" "))
    }
    fn context_length(&self) -> usize {
        self.context
    }
    fn first_token_probability(&self, prompts: &[String], answers: &[&str]) -> Result<Vec<f32>> {
        assert_eq!(answers, YES_VARIANTS);
        self.seen.borrow_mut().extend(prompts.iter().cloned());
        Ok(prompts.iter().map(|p| 1.0 / (1.0 + p.split("###").nth(1).unwrap_or("").split_whitespace().count() as f32)).collect())
    }
    fn log_likelihood(&self, _: &[String]) -> Result<Vec<(f64, usize)>> {
        unimplemented!()
    }
}

#[test]
fn long_documents_are_truncated_to_fit_the_context() {
    let lm = FakeLm { context: 100, seen: RefCell::new(Vec::new()) };
    let overhead = lm.count_tokens(&lm.chat_prompt(&ask_llm_prompt(""))).unwrap();
    let sampler = AskLlm { model: lm, max_doc_tokens: 10_000 };
    let long = "word ".repeat(500);
    let scores = sampler.features(&[long, "short text".into()]).unwrap();
    let seen = sampler.model.seen.borrow();
    for prompt in seen.iter() {
        assert!(sampler.model.count_tokens(prompt).unwrap() < 100, "prompt does not fit the context");
        assert!(prompt.contains("OPTIONS:\n- yes\n- no"), "the question must survive truncation");
    }
    let kept_words = 100 - overhead - 1;
    assert_eq!(scores[0][0], 1.0 / (1.0 + kept_words as f32));
    assert_eq!(scores[1][0], 1.0 / 3.0);
}
