//! `recforge llm make-data`: task JSONL, the evaluation sample and meta.json
//! ([`recforge_llmrec::pipelines::make_data`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use recforge_llmrec::eval_set::{EVAL_SEED, EVAL_USERS};
use recforge_llmrec::pipelines::make_data::{MakeDataRequest, make_data};
use recforge_llmrec::{EvalSetConfig, MakeDataConfig, Task};

#[derive(clap::Args)]
pub struct Args {
    /// `ml-1m` (5-core MovieLens-1M sequences, configs/data/ml1m_seq.toml), `ml-100k` (or the
    /// old `ml1m`, `ml100k`), or a schema TOML declaring user, item, timestamp and an item-side
    /// `genre` feature, whose main file is a RecBole interaction file with a `rating` column.
    #[arg(long, default_value = "ml-1m")]
    dataset: String,
    /// Comma-separated tasks: retrieval, ranking, rating (recommendation), mim, mlm, bpr (auxiliary).
    #[arg(long, value_delimiter = ',', default_value = "retrieval,ranking,rating,mim,mlm,bpr")]
    tasks: Vec<String>,
    /// Output folder: train.jsonl, eval_users.jsonl, meta.json.
    #[arg(long)]
    out: PathBuf,
    /// Examples per user per task.
    #[arg(long, default_value_t = 1)]
    per_user: usize,
    /// Seed of every sampling choice: the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Most recent items shown in a prompt's history.
    #[arg(long, default_value_t = 10)]
    history: usize,
    /// Folder of prompt templates (<task>.txt); default the compiled-in configs/prompts/v1.
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Users in the evaluation sample.
    #[arg(long, default_value_t = EVAL_USERS)]
    eval_users: usize,
    /// Seed of the evaluation sample.
    #[arg(long, default_value_t = EVAL_SEED)]
    eval_seed: u64,
    /// Print meta.json on stdout instead of a summary line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let tasks = args.tasks.iter().map(|t| Task::parse(t.trim())).collect::<Result<Vec<_>, _>>().context("--tasks")?;
    let request = MakeDataRequest {
        dataset: args.dataset,
        tasks: MakeDataConfig { tasks, per_user: args.per_user, seed: args.seed, history: args.history, ..MakeDataConfig::default() },
        prompts: args.prompts,
        eval: EvalSetConfig { users: args.eval_users, seed: args.eval_seed, ..EvalSetConfig::default() },
        out: args.out,
    };
    let meta = make_data(&request, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&meta)?);
    } else {
        println!(
            "{}: {} examples for {} users ({:?}); {} evaluation users → {}",
            meta.dataset,
            meta.examples,
            meta.users,
            meta.per_task,
            meta.eval_users,
            request.out.display()
        );
    }
    Ok(())
}
