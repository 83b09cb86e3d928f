//! LLM recommendation on top of `recforge-llm`.
//!
//! - Recommendation tasks (retrieval, ranking, rating) and the auxiliary tasks of "Aligning
//!   LLMs with recommendation knowledge" (masked item modelling, MLM on titles, BPR) rendered as
//!   natural-language prompt/target pairs from the leave-one-out split (arXiv 2404.00245).
//! - LoRA fine-tuning of a llama-family backbone, constrained decoding over the catalogue and
//!   likelihood ranking for evaluation.
//! - LLM reasoning for rating prediction and Rec-SAVER scoring of that reasoning (arXiv 2408.00802).

// Empty on main until issue 8's modules land (task data, fine-tuning and evaluation on branch
// `llmrec`; reasoning, Rec-SAVER and text metrics on branch `recsaver`).
