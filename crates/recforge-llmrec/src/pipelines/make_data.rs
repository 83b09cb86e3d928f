//! Task data for fine-tuning: recommendation and auxiliary tasks as natural-language JSONL
//! (`task`, `prompt`, `target`) from a dataset's leave-one-out split, the fixed evaluation
//! sample that evaluation and the reasoning pipelines share, and `meta.json` describing both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use recforge_data::Progress;
use serde::{Deserialize, Serialize};

use super::inputs::{load_rec_data, load_templates};
use super::{create_dir, write_json};
use crate::error::Result;
use crate::eval_set::{EvalSetConfig, sample_eval_set, write_eval_set};
use crate::jsonl::write_jsonl;
use crate::tasks::{MakeDataConfig, count_by_task, make_examples};
use crate::templates::PROMPT_VERSION;

/// Training examples, all tasks mixed.
pub const TRAIN_FILE: &str = "train.jsonl";
/// The fixed evaluation sample.
pub const EVAL_FILE: &str = "eval_users.jsonl";
/// What was written, as [`MakeDataSummary`].
pub const META_FILE: &str = "meta.json";

/// What to write.
#[derive(Debug, Clone)]
pub struct MakeDataRequest {
    /// `ml-1m`, `ml-100k` or a schema TOML (see [`super::inputs::load_rec_data`]).
    pub dataset: String,
    pub tasks: MakeDataConfig,
    /// Folder of prompt templates; None: the compiled-in ones.
    pub prompts: Option<PathBuf>,
    pub eval: EvalSetConfig,
    pub out: PathBuf,
}

/// `meta.json`: what the folder holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MakeDataSummary {
    pub dataset: String,
    pub tasks: Vec<String>,
    pub per_user: usize,
    pub seed: u64,
    pub history: usize,
    pub prompt_version: String,
    pub users: usize,
    pub items: usize,
    pub examples: usize,
    pub per_task: BTreeMap<String, usize>,
    pub eval_users: usize,
    pub eval_seed: u64,
}

/// Writes `train.jsonl`, `eval_users.jsonl` and `meta.json` into `request.out`.
pub fn make_data(request: &MakeDataRequest, progress: &dyn Progress) -> Result<MakeDataSummary> {
    let templates = load_templates(request.prompts.as_deref())?;
    let (name, rec) = load_rec_data(&request.dataset, progress)?;
    let examples = make_examples(&rec, &templates, &request.tasks)?;
    create_dir(&request.out)?;
    write_jsonl(&request.out.join(TRAIN_FILE), &examples)?;
    let eval = sample_eval_set(&rec, &request.eval)?;
    write_eval_set(&request.out.join(EVAL_FILE), &eval)?;
    let config = &request.tasks;
    let summary = MakeDataSummary {
        dataset: name,
        tasks: config.tasks.iter().map(|t| t.name().to_string()).collect(),
        per_user: config.per_user,
        seed: config.seed,
        history: config.history,
        prompt_version: request.prompts.as_ref().map_or_else(|| PROMPT_VERSION.to_string(), |p| p.display().to_string()),
        users: rec.sequences.users.len(),
        items: rec.catalog.item_ids().len(),
        examples: examples.len(),
        per_task: count_by_task(&examples),
        eval_users: eval.len(),
        eval_seed: request.eval.seed,
    };
    write_json(&request.out.join(META_FILE), &summary)?;
    Ok(summary)
}

/// The training file of a make-data folder, or `path` itself when it is a file.
pub fn train_file(path: &Path) -> PathBuf {
    if path.is_dir() { path.join(TRAIN_FILE) } else { path.to_path_buf() }
}
