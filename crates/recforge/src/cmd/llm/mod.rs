//! `recforge llm ...`: LLM recommendation (issue 8). One file per subcommand.

use anyhow::Result;
use clap::Subcommand;

pub mod baselines;
pub mod evaluate;
pub mod finetune;
pub mod make_data;
pub mod reason;
pub mod rec_saver;

#[derive(Subcommand)]
pub enum LlmCommand {
    /// Render recommendation and auxiliary tasks (retrieval, ranking, rating, mim, mlm, bpr) as
    /// natural-language JSONL (`task`, `prompt`, `target`) from the leave-one-out split.
    MakeData(make_data::Args),
    /// LoRA fine-tuning of a llama-family backbone (GGUF or Hugging Face directory) on task JSONL.
    Finetune(finetune::Args),
    /// Evaluate a backbone (optionally with LoRA adapters) on retrieval, ranking and rating.
    Evaluate(evaluate::Args),
    /// Rating prediction with and without zero-shot chain-of-thought reasoning.
    Reason(reason::Args),
    /// Rec-SAVER: reference reasoning, self-verification, and BLEU/ROUGE/embedding scores.
    RecSaver(rec_saver::Args),
    /// Conventional baselines on the LLM evaluation users: popularity, SASRec, a retrieval-zoo MUR
    /// run (Recall/NDCG@5/10, full-catalogue retrieval and 20-candidate ranking).
    Baselines(baselines::Args),
}

pub fn run(command: LlmCommand) -> Result<()> {
    match command {
        LlmCommand::MakeData(args) => make_data::run(args),
        LlmCommand::Finetune(args) => finetune::run(args),
        LlmCommand::Evaluate(args) => evaluate::run(args),
        LlmCommand::Reason(args) => reason::run(args),
        LlmCommand::RecSaver(args) => rec_saver::run(args),
        LlmCommand::Baselines(args) => baselines::run(args),
    }
}
