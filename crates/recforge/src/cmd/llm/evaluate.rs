//! `recforge llm evaluate`: an LLM (optionally with LoRA adapters folded in) on the fixed
//! evaluation sample — retrieval by constrained beam search over the catalogue, ranking of 20
//! candidates by log-likelihood, rating 1-5 — with Recall@5/10, NDCG@5/10, RMSE/MAE, and the
//! popularity baseline on the same users. Writes `results.json` and `outputs.jsonl`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use recforge_llm::CausalLm;
use recforge_llmrec::evaluate::{EvalConfig, EvalMetrics, UserOutput, build_trie, evaluate_user, popularity_outputs, summarize};
use recforge_llmrec::finetune::load_with_adapters;
use recforge_llmrec::{EvalSetConfig, Task, read_eval_set, sample_eval_set};
use serde::Serialize;

use super::make_data::{load_rec_data, load_templates};

#[derive(clap::Args)]
pub struct Args {
    /// GGUF file or Hugging Face llama-family directory.
    #[arg(long)]
    model: PathBuf,
    /// A `recforge llm finetune` run folder: its adapters are folded into the model.
    #[arg(long)]
    adapters: Option<PathBuf>,
    /// Dataset of the catalogue, the popularity counts and (without --eval-set) the sample.
    #[arg(long, default_value = "ml1m")]
    dataset: String,
    /// Evaluation sample (eval_users.jsonl of make-data); default: drawn with --eval-seed.
    #[arg(long)]
    eval_set: Option<PathBuf>,
    /// Seed of the sample when it is drawn here.
    #[arg(long, default_value_t = recforge_llmrec::eval_set::EVAL_SEED)]
    eval_seed: u64,
    /// Evaluate the first N users of the sample (default all).
    #[arg(long)]
    users: Option<usize>,
    /// Comma-separated: retrieval, ranking, rating.
    #[arg(long, value_delimiter = ',', default_value = "retrieval,ranking,rating")]
    tasks: Vec<String>,
    /// Most recent history items shown in a prompt.
    #[arg(long, default_value_t = 10)]
    history: usize,
    /// Beam width of constrained retrieval (top-10 is returned).
    #[arg(long, default_value_t = 10)]
    beam: usize,
    /// Which phrasing of each template (0-based).
    #[arg(long, default_value_t = 0)]
    phrasing: usize,
    /// Folder of prompt templates (<task>.txt); default the compiled-in configs/prompts/v1.
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Output folder for results.json and outputs.jsonl.
    #[arg(long)]
    out: PathBuf,
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(Serialize)]
struct Results {
    model: String,
    adapters: Option<String>,
    model_id: String,
    dataset: String,
    users: usize,
    tasks: Vec<String>,
    config: EvalConfig,
    metrics: EvalMetrics,
    popularity: EvalMetrics,
    /// Wall-clock seconds per task over all users.
    seconds: BTreeMap<String, f64>,
}

pub fn run(args: Args) -> Result<()> {
    let tasks = args.tasks.iter().map(|t| Task::parse(t.trim())).collect::<Result<Vec<_>, _>>().context("--tasks")?;
    if let Some(t) = tasks.iter().find(|t| t.is_auxiliary()) {
        anyhow::bail!("--tasks: {t} is a training-only auxiliary task; evaluate retrieval, ranking or rating");
    }
    let templates = load_templates(args.prompts.as_deref())?;
    let (name, rec) = load_rec_data(&args.dataset)?;
    let mut users = match &args.eval_set {
        Some(path) => read_eval_set(path)?,
        None => sample_eval_set(&rec, &EvalSetConfig { seed: args.eval_seed, ..EvalSetConfig::default() })?,
    };
    if let Some(n) = args.users {
        users.truncate(n);
    }
    let mut lm = CausalLm::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    if let Some(dir) = &args.adapters {
        lm = load_with_adapters(lm, dir).with_context(|| format!("loading adapters from {}", dir.display()))?;
    }
    let config = EvalConfig { history: args.history, beam: args.beam, phrasing: args.phrasing, ..EvalConfig::default() };
    let trie = if tasks.contains(&Task::Retrieval) { Some(build_trie(&lm, &rec.catalog)?) } else { None };
    let mut outputs: Vec<UserOutput> = Vec::new();
    let mut seconds = BTreeMap::new();
    for &task in &tasks {
        let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(users.len() as u64) };
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} users · {per_sec} · ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(task.name());
        let started = Instant::now();
        for (i, user) in users.iter().enumerate() {
            let empty = recforge_llmrec::trie::TitleTrie::default();
            let one = evaluate_user(&lm, &templates, trie.as_ref().unwrap_or(&empty), user, &[task], &config)
                .with_context(|| format!("{task} for user {}", user.user))?;
            if outputs.len() <= i {
                outputs.push(one);
            } else {
                let o = &mut outputs[i];
                match task {
                    Task::Retrieval => o.retrieved = one.retrieved,
                    Task::Ranking => o.ranked = one.ranked,
                    _ => {
                        o.rating_predicted = one.rating_predicted;
                        o.rating_expected = one.rating_expected;
                    }
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        seconds.insert(task.name().to_string(), started.elapsed().as_secs_f64());
    }
    for o in &mut outputs {
        o.retrieved_titles = o.retrieved.iter().map(|&i| rec.catalog.title(i).to_string()).collect();
    }
    let metrics = summarize(&outputs, &tasks);
    let popularity = summarize(&popularity_outputs(&users, &rec.sequences.train_counts, config.top_k), &tasks);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    recforge_llmrec::jsonl::write_jsonl(&args.out.join("outputs.jsonl"), &outputs)?;
    let results = Results {
        model: args.model.display().to_string(),
        adapters: args.adapters.as_ref().map(|p| p.display().to_string()),
        model_id: lm.model_id().to_string(),
        dataset: name,
        users: users.len(),
        tasks: tasks.iter().map(|t| t.name().to_string()).collect(),
        config,
        metrics,
        popularity,
        seconds,
    };
    let path = args.out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results)? + "\n").with_context(|| format!("writing {}", path.display()))?;
    println!("{}", serde_json::to_string_pretty(&results.metrics)?);
    println!("popularity on the same {} users: {}", results.users, serde_json::to_string(&results.popularity)?);
    println!("→ {}", path.display());
    Ok(())
}
