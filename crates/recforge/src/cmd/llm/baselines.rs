//! `recforge llm baselines`: the conventional rows of the LLM recommendation table on the same
//! evaluation users as the LLM rows — popularity, SASRec (trained here on the leave-one-out
//! split, or reloaded from the output folder) and, given a `recforge retrieval-zoo` run folder,
//! its multi-interest model (MUR). Retrieval ranks the full catalogue (items the user saw before
//! the held-out one excluded); ranking orders the eval set's 20 candidates (the held-out item and
//! 19 popularity-sampled negatives). Recall@5/10 and NDCG@5/10 with one relevant item; ties are
//! broken by item id (retrieval) or candidate order (ranking, the held-out item listed first, so
//! a tied score counts against it: it is placed after the negatives it ties with).
//!
//! Also home of [`load_eval_users`], the evaluation sample every `recforge llm` command of this
//! workstream reads: the `--eval-set` JSONL, or the default sample drawn from ML-1M.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use recforge_llmrec::eval_set::EVAL_USERS;
use recforge_llmrec::{EvalSetConfig, EvalUser, RecData, read_eval_set, sample_eval_set};
use recforge_models::retrieval::search::exact::dot;
use recforge_models::sequential::SasRec;
use recforge_train::metrics::{ndcg_at_k, recall_at_k};
use recforge_train::retrieval::RetrievalRun;
use recforge_train::retrieval::run::{ItemVectors, VECTORS};
use recforge_train::sasrec::{SasRecEpoch, SasRecTrainConfig, score_histories, top_k, train_sasrec};
use serde::{Deserialize, Serialize};

use super::make_data::load_rec_data;

/// Cut-offs of Recall@K and NDCG@K.
const KS: [usize; 2] = [5, 10];

#[derive(clap::Args)]
pub struct Args {
    /// The evaluation sample (JSONL of `recforge_llmrec::EvalUser`); default: the fixed ML-1M
    /// sample (`--eval-users` users, seed 8) drawn afresh.
    #[arg(long)]
    eval_set: Option<PathBuf>,
    /// Users in the default sample.
    #[arg(long, default_value_t = EVAL_USERS)]
    eval_users: usize,
    /// A `recforge retrieval-zoo` model folder (e.g. runs/retrieval-zoo-ml1m/mur) to add as the
    /// multi-interest row.
    #[arg(long)]
    mur_run: Option<PathBuf>,
    /// Output folder: results.json, table.md, and the SASRec model (sasrec.bpk, sasrec.json),
    /// which later runs reuse unless --retrain.
    #[arg(long, default_value = "runs/llm-baselines")]
    out: PathBuf,
    /// Train SASRec again even if the output folder holds one.
    #[arg(long)]
    retrain: bool,
    /// SASRec maximum epochs (early stopping on validation NDCG@10, patience 3).
    #[arg(long, default_value_t = 20)]
    sasrec_epochs: usize,
    /// SASRec embedding width.
    #[arg(long, default_value_t = 50)]
    sasrec_dim: usize,
    /// SASRec history length.
    #[arg(long, default_value_t = 50)]
    sasrec_max_len: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
}

/// Recall@K and NDCG@K for K in [`KS`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TopKMetrics {
    pub recall5: f64,
    pub recall10: f64,
    pub ndcg5: f64,
    pub ndcg10: f64,
}

impl TopKMetrics {
    /// Means over users of each ranked list (one relevant item per user).
    fn of(lists: &[(Vec<u32>, u32)]) -> Self {
        let n = lists.len().max(1) as f64;
        let mean = |f: &dyn Fn(&[u32], u32) -> f64| lists.iter().map(|(r, t)| f(r, *t)).sum::<f64>() / n;
        TopKMetrics {
            recall5: mean(&|r, t| recall_at_k(r, &[t], KS[0])),
            recall10: mean(&|r, t| recall_at_k(r, &[t], KS[1])),
            ndcg5: mean(&|r, t| ndcg_at_k(r, &[t], KS[0])),
            ndcg10: mean(&|r, t| ndcg_at_k(r, &[t], KS[1])),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineRow {
    pub model: String,
    /// Full-catalogue retrieval.
    pub retrieval: TopKMetrics,
    /// The eval set's 20 candidates.
    pub ranking: TopKMetrics,
    pub seconds: f64,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineResults {
    pub users: usize,
    pub catalogue: usize,
    pub rows: Vec<BaselineRow>,
}

#[derive(Serialize, Deserialize)]
struct SasRecSaved {
    config: SasRecTrainConfig,
    logs: Vec<SasRecEpoch>,
    seconds: f64,
}

/// The evaluation users: read from `eval_set`, or the default sample of `users` ML-1M users.
pub fn load_eval_users(data: &RecData, eval_set: Option<&Path>, users: usize) -> Result<Vec<EvalUser>> {
    let sample = match eval_set {
        Some(path) => read_eval_set(path).with_context(|| format!("reading the evaluation set {}", path.display()))?,
        None => sample_eval_set(data, &EvalSetConfig { users, ..EvalSetConfig::default() })?,
    };
    if sample.is_empty() {
        bail!("the evaluation set is empty");
    }
    for (i, user) in sample.iter().enumerate() {
        let history = data.sequences.histories.get(user.user_index as usize);
        if history.and_then(|h| h.last()) != Some(&user.target) {
            bail!(
                "evaluation user {} (row {}) does not match the ML-1M leave-one-out split (its held-out item is not the \
                 user's last); was the eval set written from other data?",
                user.user,
                i + 1
            );
        }
    }
    Ok(sample)
}

pub fn run(args: Args) -> Result<()> {
    let (_, data) = load_rec_data("ml1m")?;
    let users = load_eval_users(&data, args.eval_set.as_deref(), args.eval_users)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let seq = &data.sequences;
    println!("ml1m: {} users, {} items; evaluating {} users", seq.histories.len(), seq.num_items - 1, users.len());
    // Everything the user saw before the held-out item: excluded from full-catalogue retrieval.
    let contexts: Vec<&[u32]> = users.iter().map(|u| {
        let h = &seq.histories[u.user_index as usize];
        &h[..h.len() - 1]
    }).collect();
    let mut rows = Vec::new();

    let started = Instant::now();
    let popularity: Vec<f32> = seq.train_counts.iter().map(|&c| c as f32).collect();
    let scores: Vec<Vec<f32>> = contexts.iter().map(|c| excluded(popularity.clone(), c)).collect();
    rows.push(evaluate_row("popularity", &users, &scores, started, "training-split interaction counts"));

    let started = Instant::now();
    let (sasrec, note) = sasrec_model(&data, &args)?;
    let device = Device::default();
    let flat = score_histories(&sasrec, &contexts, &device);
    let n = seq.num_items;
    let scores: Vec<Vec<f32>> = (0..users.len()).map(|u| flat[u * n..(u + 1) * n].to_vec()).collect();
    rows.push(evaluate_row("sasrec", &users, &scores, started, &note));

    if let Some(dir) = &args.mur_run {
        let started = Instant::now();
        let scores = mur_scores(dir, &data, &contexts)?;
        let run = dir.display().to_string();
        rows.push(evaluate_row("mur", &users, &scores, started, &format!("retrieval-zoo run {run}")));
    } else {
        println!("no --mur-run given: the multi-interest row is left out (train one with `recforge retrieval-zoo --dataset ml1m`)");
    }

    let results = BaselineResults { users: users.len(), catalogue: seq.num_items - 1, rows };
    let text = serde_json::to_string_pretty(&results)?;
    std::fs::write(args.out.join("results.json"), text).with_context(|| format!("writing {}/results.json", args.out.display()))?;
    let table = markdown(&results);
    std::fs::write(args.out.join("table.md"), &table)?;
    println!("{table}");
    println!("wrote {}/results.json and table.md", args.out.display());
    Ok(())
}

/// Sets the padding id and `seen` items to −∞.
fn excluded(mut scores: Vec<f32>, seen: &[u32]) -> Vec<f32> {
    scores[0] = f32::NEG_INFINITY;
    for &i in seen {
        if let Some(s) = scores.get_mut(i as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
    scores
}

/// Ranks the catalogue and the 20 candidates of every user by `scores` (one row per user).
fn evaluate_row(model: &str, users: &[EvalUser], scores: &[Vec<f32>], started: Instant, note: &str) -> BaselineRow {
    let retrieval: Vec<(Vec<u32>, u32)> = users.iter().zip(scores).map(|(u, s)| (top_k(s, KS[1]), u.target)).collect();
    let ranking: Vec<(Vec<u32>, u32)> = users
        .iter()
        .zip(scores)
        .map(|(u, s)| {
            let score = |i: u32| s.get(i as usize).copied().unwrap_or(f32::NEG_INFINITY);
            let mut candidates = u.candidates();
            // Stable sort on descending score; the held-out item (first) goes after its ties.
            candidates.rotate_left(1);
            candidates.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
            (candidates, u.target)
        })
        .collect();
    let row = BaselineRow {
        model: model.to_string(),
        retrieval: TopKMetrics::of(&retrieval),
        ranking: TopKMetrics::of(&ranking),
        seconds: started.elapsed().as_secs_f64(),
        note: note.to_string(),
    };
    println!(
        "{model:<11} retrieval R@10 {:.4} NDCG@10 {:.4} · ranking R@10 {:.4} NDCG@10 {:.4} · {:.0}s",
        row.retrieval.recall10, row.retrieval.ndcg10, row.ranking.recall10, row.ranking.ndcg10, row.seconds
    );
    row
}

/// The SASRec model saved in `--out`, or a freshly trained (and saved) one.
fn sasrec_model(data: &RecData, args: &Args) -> Result<(SasRec, String)> {
    let config = SasRecTrainConfig { dim: args.sasrec_dim, max_len: args.sasrec_max_len, epochs: args.sasrec_epochs, seed: args.seed, ..SasRecTrainConfig::default() };
    let weights = args.out.join("sasrec.bpk");
    let info = args.out.join("sasrec.json");
    let device = Device::default();
    if !args.retrain && weights.exists() && info.exists() {
        let saved: SasRecSaved = serde_json::from_slice(&std::fs::read(&info)?).with_context(|| format!("parsing {}", info.display()))?;
        if saved.config == config {
            let model = saved
                .config
                .model_config(data.sequences.num_items)
                .init(&device)
                .try_load_file(&weights)
                .map_err(|e| anyhow::anyhow!("{}: {e:?}", weights.display()))?;
            let best = saved.logs.iter().map(|l| l.valid_ndcg10).fold(f64::NAN, f64::max);
            return Ok((model, format!("reloaded from {} (trained {:.0}s, best valid NDCG@10 {best:.4})", weights.display(), saved.seconds)));
        }
        println!("{} was trained with other settings: training again", info.display());
    }
    let started = Instant::now();
    let (model, logs) = train_sasrec(&data.sequences, &config, !args.quiet)?;
    let seconds = started.elapsed().as_secs_f64();
    let best = logs.iter().max_by(|a, b| a.valid_ndcg10.total_cmp(&b.valid_ndcg10)).map_or(0, |l| l.epoch);
    let note = format!(
        "d={} L={} {} blocks; {} epochs, best epoch {best} (valid NDCG@10 {:.4}); trained {seconds:.0}s",
        config.dim,
        config.max_len,
        config.blocks,
        logs.len() - 1,
        logs[best].valid_ndcg10
    );
    model.clone().save_file(&weights).map_err(|e| anyhow::anyhow!("{}: {e:?}", weights.display()))?;
    std::fs::write(&info, serde_json::to_string_pretty(&SasRecSaved { config, logs, seconds })?)?;
    Ok((model, note))
}

/// MUR scores of every catalogue item (max over the user's H vectors) for each context, in the
/// eval data's item ids (matched to the run's by title).
fn mur_scores(dir: &Path, data: &RecData, contexts: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
    let run = RetrievalRun::load(dir).with_context(|| format!("loading the retrieval run {}", dir.display()))?;
    let path = dir.join(VECTORS);
    let vectors: ItemVectors = serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let n = data.sequences.num_items;
    // eval item id → run item id
    let map: Vec<Option<u32>> = (0..n as u32).map(|i| if i == 0 { None } else { run.item_id(data.catalog.title(i)) }).collect();
    let unmatched = map.iter().skip(1).filter(|m| m.is_none()).count();
    if unmatched * 10 > n {
        bail!("{}: {unmatched} of {} catalogue items are unknown to the run; was it trained on ML-1M?", dir.display(), n - 1);
    }
    let dim = vectors.dim;
    Ok(contexts
        .iter()
        .map(|context| {
            let history: Vec<u32> = context.iter().filter_map(|&i| map[i as usize]).collect();
            let users = run.retriever.user_vectors(&history);
            let mut scores: Vec<f32> = map
                .iter()
                .map(|m| match m {
                    Some(j) => {
                        let v = &vectors.vectors[*j as usize * dim..(*j as usize + 1) * dim];
                        users.chunks(dim).map(|u| dot(u, v)).fold(f32::NEG_INFINITY, f32::max)
                    }
                    None => f32::NEG_INFINITY,
                })
                .collect();
            scores = excluded(scores, context);
            scores
        })
        .collect())
}

fn markdown(results: &BaselineResults) -> String {
    let mut md = format!(
        "{} evaluation users; retrieval over the full catalogue ({} items, seen items excluded); ranking over 20 candidates\n\n\
         | model | retrieval R@5 | R@10 | NDCG@5 | NDCG@10 | ranking R@5 | R@10 | NDCG@5 | NDCG@10 | seconds |\n|---|---|---|---|---|---|---|---|---|---|\n",
        results.users, results.catalogue
    );
    for row in &results.rows {
        let (r, k) = (&row.retrieval, &row.ranking);
        md += &format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.0} |\n",
            row.model, r.recall5, r.recall10, r.ndcg5, r.ndcg10, k.recall5, k.recall10, k.ndcg5, k.ndcg10, row.seconds
        );
    }
    for row in &results.rows {
        md += &format!("\n- {}: {}", row.model, row.note);
    }
    md + "\n"
}
