//! An LLM (optionally with LoRA adapters folded in) on the fixed evaluation sample:
//! retrieval by constrained beam search over the catalogue, ranking of 20 candidates by
//! log-likelihood, rating 1-5 ([`crate::evaluate`]), with the popularity baseline on the same
//! users. Writes `results.json` ([`EvaluationResults`]) and `outputs.jsonl` (one
//! [`UserOutput`] per user).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use recforge_data::{Phase, Progress, Unit};
use recforge_llm::{Backend, CausalLm, LoadOptions};
use serde::{Deserialize, Serialize};

use super::inputs::{load_eval_users, load_rec_data, load_templates};
use super::{create_dir, write_json};
use crate::error::{LlmRecError, Result};
use crate::evaluate::{EvalConfig, EvalMetrics, UserOutput, build_trie, evaluate_user, popularity_outputs, summarize};
use crate::finetune::load_with_adapters;
use crate::jsonl::write_jsonl;
use crate::templates::Task;
use crate::trie::TitleTrie;

/// What to evaluate, on what.
#[derive(Debug, Clone)]
pub struct EvaluationRequest {
    /// GGUF file or Hugging Face llama-family directory.
    pub model: PathBuf,
    /// A fine-tuning run folder whose adapters are folded into the model.
    pub adapters: Option<PathBuf>,
    /// The engine running a .gguf model (directories always run on candle).
    pub backend: Backend,
    /// `ml-1m`, `ml-100k` or a schema TOML: the catalogue, popularity counts and sample.
    pub dataset: String,
    /// The evaluation sample; None: drawn with `eval_seed`.
    pub eval_set: Option<PathBuf>,
    pub eval_seed: u64,
    /// Evaluate the first N users of the sample only.
    pub limit: Option<usize>,
    /// Recommendation tasks (retrieval, ranking, rating).
    pub tasks: Vec<Task>,
    pub config: EvalConfig,
    /// Folder of prompt templates; None: the compiled-in ones.
    pub prompts: Option<PathBuf>,
    pub out: PathBuf,
}

/// `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationResults {
    pub model: String,
    pub adapters: Option<String>,
    pub model_id: String,
    pub dataset: String,
    pub users: usize,
    pub tasks: Vec<String>,
    pub config: EvalConfig,
    pub metrics: EvalMetrics,
    pub popularity: EvalMetrics,
    /// Wall-clock seconds per task over all users.
    pub seconds: BTreeMap<String, f64>,
}

/// Runs the evaluation and writes its files into `request.out`.
pub fn run_evaluation(request: &EvaluationRequest, progress: &dyn Progress) -> Result<EvaluationResults> {
    if let Some(t) = request.tasks.iter().find(|t| t.is_auxiliary()) {
        return Err(LlmRecError::Invalid(format!("{t} is a training-only auxiliary task; evaluate retrieval, ranking or rating")));
    }
    let templates = load_templates(request.prompts.as_deref())?;
    let (name, rec) = load_rec_data(&request.dataset, progress)?;
    let mut users = load_eval_users(&rec, request.eval_set.as_deref(), crate::eval_set::EVAL_USERS, request.eval_seed)?;
    if let Some(n) = request.limit {
        users.truncate(n);
    }
    let mut lm = CausalLm::load_with(&request.model, LoadOptions { backend: request.backend, ..LoadOptions::default() })?;
    if let Some(dir) = &request.adapters {
        lm = load_with_adapters(lm, dir)?;
    }
    let config = &request.config;
    let trie = if request.tasks.contains(&Task::Retrieval) { build_trie(&lm, &rec.catalog)? } else { TitleTrie::default() };
    let mut outputs: Vec<UserOutput> = Vec::new();
    let mut seconds = BTreeMap::new();
    for &task in &request.tasks {
        let phase = Phase::begin(progress, task.name(), Some(users.len() as u64), Unit::Items);
        let started = Instant::now();
        for (i, user) in users.iter().enumerate() {
            let one = evaluate_user(&lm, &templates, &trie, user, &[task], config)
                .map_err(|e| LlmRecError::Invalid(format!("{task} for user {}: {e}", user.user)))?;
            match outputs.get_mut(i) {
                None => outputs.push(one),
                Some(o) => match task {
                    Task::Retrieval => o.retrieved = one.retrieved,
                    Task::Ranking => o.ranked = one.ranked,
                    _ => {
                        o.rating_predicted = one.rating_predicted;
                        o.rating_expected = one.rating_expected;
                    }
                },
            }
            phase.update(i as u64 + 1, "");
        }
        seconds.insert(task.name().to_string(), started.elapsed().as_secs_f64());
    }
    for o in &mut outputs {
        o.retrieved_titles = o.retrieved.iter().map(|&i| rec.catalog.title(i).to_string()).collect();
    }
    create_dir(&request.out)?;
    write_jsonl(&request.out.join("outputs.jsonl"), &outputs)?;
    let results = EvaluationResults {
        model: request.model.display().to_string(),
        adapters: request.adapters.as_ref().map(|p| p.display().to_string()),
        model_id: lm.model_id().to_string(),
        dataset: name,
        users: users.len(),
        tasks: request.tasks.iter().map(|t| t.name().to_string()).collect(),
        config: config.clone(),
        metrics: summarize(&outputs, &request.tasks),
        popularity: summarize(&popularity_outputs(&users, &rec.sequences.train_counts, config.top_k), &request.tasks),
        seconds,
    };
    write_json(&request.out.join("results.json"), &results)?;
    Ok(results)
}
