//! LLM recommendation on top of `recforge-llm`.
//!
//! - Recommendation tasks (retrieval, ranking, rating) and the auxiliary tasks of "Aligning
//!   LLMs with recommendation knowledge" (masked item modelling, MLM on titles, BPR) rendered as
//!   natural-language prompt/target pairs from the leave-one-out split (arXiv 2404.00245).
//! - LoRA fine-tuning of a llama-family backbone, constrained decoding over the catalogue and
//!   likelihood ranking for evaluation.
//! - LLM reasoning for rating prediction and Rec-SAVER scoring of that reasoning (arXiv
//!   2408.00802) follow on branch `recsaver`.

pub mod catalog;
pub mod error;
pub mod eval_set;
pub mod evaluate;
pub mod finetune;
pub mod jsonl;
pub mod negatives;
pub mod optim;
pub mod rec_data;
pub mod tasks;
pub mod templates;
pub mod trie;

pub use catalog::{Catalog, Ratings};
pub use error::{LlmRecError, Result};
pub use eval_set::{EvalSetConfig, EvalUser, read_eval_set, sample_eval_set, write_eval_set};
pub use rec_data::RecData;
pub use tasks::{MakeDataConfig, TaskExample, make_examples, read_task_jsonl};
pub use templates::{Task, TemplateSet};
