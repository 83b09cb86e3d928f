//! LLM recommendation on top of `recforge-llm`.
//!
//! - Recommendation tasks (retrieval, ranking, rating) and the auxiliary tasks of "Aligning
//!   LLMs with recommendation knowledge" (masked item modelling, MLM on titles, BPR) rendered as
//!   natural-language prompt/target pairs from the leave-one-out split (arXiv 2404.00245).
//! - LoRA fine-tuning of a llama-family backbone, constrained decoding over the catalogue and
//!   likelihood ranking for evaluation.
//! - LLM reasoning for rating prediction and Rec-SAVER scoring of that reasoning: reference
//!   explanations, self-verification, BLEU-4 / ROUGE-L / embedding scores (arXiv 2408.00802).
//! - Each use case end to end (make task data, fine-tune, evaluate, reason, Rec-SAVER, the
//!   conventional baselines) as one function with a typed result in [`pipelines`].

pub mod catalog;
pub mod chat_model;
pub mod error;
pub mod eval_set;
pub mod evaluate;
pub mod finetune;
pub mod generation_cache;
pub mod jsonl;
pub mod negatives;
pub mod optim;
pub mod pipelines;
pub mod reasoning;
pub mod rec_data;
pub mod rec_saver;
pub mod tasks;
pub mod templates;
pub mod text_metrics;
pub mod trie;

pub use catalog::{Catalog, Ratings};
pub use chat_model::ChatModel;
pub use error::{LlmRecError, Result};
pub use generation_cache::GenerationCache;
pub use eval_set::{EvalSetConfig, EvalUser, read_eval_set, sample_eval_set, write_eval_set};
pub use rec_data::RecData;
pub use tasks::{MakeDataConfig, TaskExample, make_examples, read_task_jsonl};
pub use templates::{Task, TemplateSet};
