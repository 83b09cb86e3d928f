//! `recforge llm make-data`: recommendation and auxiliary tasks as natural-language JSONL
//! (`task`, `prompt`, `target`) from the leave-one-out split, plus the fixed evaluation
//! sample (`eval_users.jsonl`) that `recforge llm evaluate` and the reasoning commands share.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use recforge_llmrec::eval_set::{EVAL_SEED, EVAL_USERS};
use recforge_llmrec::rec_data::MIN_INTERACTIONS;
use recforge_llmrec::tasks::count_by_task;
use recforge_llmrec::templates::PROMPT_VERSION;
use recforge_llmrec::{EvalSetConfig, MakeDataConfig, RecData, Task, TemplateSet, make_examples, sample_eval_set, write_eval_set};
use serde::Serialize;

use crate::cmd::retrieval_zoo;

/// Training examples, all tasks mixed.
pub const TRAIN_FILE: &str = "train.jsonl";
/// The fixed evaluation sample.
pub const EVAL_FILE: &str = "eval_users.jsonl";

#[derive(clap::Args)]
pub struct Args {
    /// `ml1m` (5-core MovieLens-1M sequences, configs/data/ml1m_seq.toml), `ml100k`, or a
    /// schema TOML declaring user, item, timestamp and an item-side `genre` feature, whose
    /// main file is a RecBole interaction file with a `rating` column.
    #[arg(long, default_value = "ml1m")]
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
}

#[derive(Serialize)]
struct Meta<'a> {
    dataset: &'a str,
    tasks: Vec<&'a str>,
    per_user: usize,
    seed: u64,
    history: usize,
    prompt_version: String,
    users: usize,
    items: usize,
    examples: usize,
    per_task: std::collections::BTreeMap<String, usize>,
    eval_users: usize,
    eval_seed: u64,
}

/// Loads a dataset's sequences, catalogue text and ratings (shared by the `llm` commands).
pub fn load_rec_data(dataset: &str) -> Result<(String, RecData)> {
    let (name, schema) = retrieval_zoo::load_schema(dataset)?;
    let (prepared, _) = recforge_data::prepare(&schema, &recforge_data::TaskOptions::default().prepare_options(crate::progress::console()))?;
    let rec = RecData::from_dataset(&prepared, &schema.source.path, MIN_INTERACTIONS)
        .with_context(|| format!("building the LLM task data of {name}"))?;
    Ok((name, rec))
}

/// Templates from `--prompts` or the compiled-in ones.
pub fn load_templates(dir: Option<&Path>) -> Result<TemplateSet> {
    Ok(match dir {
        Some(dir) => TemplateSet::from_dir(dir)?,
        None => TemplateSet::builtin()?,
    })
}

pub fn run(args: Args) -> Result<()> {
    let tasks = args.tasks.iter().map(|t| Task::parse(t.trim())).collect::<Result<Vec<_>, _>>().context("--tasks")?;
    let templates = load_templates(args.prompts.as_deref())?;
    let (name, rec) = load_rec_data(&args.dataset)?;
    let config = MakeDataConfig { tasks: tasks.clone(), per_user: args.per_user, seed: args.seed, history: args.history, ..MakeDataConfig::default() };
    let examples = make_examples(&rec, &templates, &config)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    recforge_llmrec::jsonl::write_jsonl(&args.out.join(TRAIN_FILE), &examples)?;
    let eval = sample_eval_set(&rec, &EvalSetConfig { users: args.eval_users, seed: args.eval_seed, ..EvalSetConfig::default() })?;
    write_eval_set(&args.out.join(EVAL_FILE), &eval)?;
    let per_task = count_by_task(&examples);
    let meta = Meta {
        dataset: &name,
        tasks: tasks.iter().map(|t| t.name()).collect(),
        per_user: args.per_user,
        seed: args.seed,
        history: args.history,
        prompt_version: args.prompts.as_ref().map_or_else(|| PROMPT_VERSION.to_string(), |p| p.display().to_string()),
        users: rec.sequences.users.len(),
        items: rec.catalog.item_ids().len(),
        examples: examples.len(),
        per_task: per_task.clone(),
        eval_users: eval.len(),
        eval_seed: args.eval_seed,
    };
    let path = args.out.join("meta.json");
    std::fs::write(&path, serde_json::to_string_pretty(&meta)? + "\n").with_context(|| format!("writing {}", path.display()))?;
    println!("{name}: {} examples for {} users ({per_task:?}); {} evaluation users → {}", examples.len(), rec.sequences.users.len(), eval.len(), args.out.display());
    Ok(())
}
