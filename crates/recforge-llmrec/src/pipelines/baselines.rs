//! The conventional rows of the LLM recommendation table on the same evaluation users as the
//! LLM rows — popularity, SASRec (trained on the leave-one-out split, or reloaded from the
//! output folder) and, given a `recforge retrieval-zoo` run folder, its multi-interest model
//! (MUR). Retrieval ranks the full catalogue (items the user saw before the held-out one
//! excluded); ranking orders the eval set's 20 candidates (the held-out item and 19
//! popularity-sampled negatives). [`TopKMetrics`] with one relevant item; a target tied with
//! other items counts by expectation under random tie-breaking ([`TiedRank`]), in both
//! protocols.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use recforge_data::Progress;
use recforge_models::retrieval::search::exact::dot;
use recforge_models::sequential::SasRec;
use recforge_train::metrics::{TiedRank, TopKMetrics};
use recforge_train::retrieval::RetrievalRun;
use recforge_train::retrieval::run::{ItemVectors, VECTORS};
use recforge_train::run::RunError;
use recforge_train::sasrec::{SasRecEpoch, SasRecTrainConfig, score_histories, target_rank, train_sasrec};
use serde::{Deserialize, Serialize};

use super::inputs::{load_eval_users, load_rec_data};
use super::{create_dir, write_json};
use crate::error::{LlmRecError, Result};
use crate::eval_set::EvalUser;
use crate::rec_data::RecData;

/// Where the baselines run and what they train.
#[derive(Debug, Clone)]
pub struct BaselineConfig {
    /// `ml-1m`, `ml-100k` or a schema TOML.
    pub dataset: String,
    /// The evaluation sample; None: the default sample of `eval_users` users (seed `eval_seed`).
    pub eval_set: Option<PathBuf>,
    pub eval_users: usize,
    pub eval_seed: u64,
    /// A retrieval-zoo model folder to add as the multi-interest row.
    pub mur_run: Option<PathBuf>,
    /// Output folder: results.json, table.md, sasrec.bpk, sasrec.json.
    pub out: PathBuf,
    /// Train SASRec even if `out` holds one trained with the same settings.
    pub retrain: bool,
    pub sasrec: SasRecTrainConfig,
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

/// `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineResults {
    pub users: usize,
    pub catalogue: usize,
    pub rows: Vec<BaselineRow>,
}

/// `sasrec.json`: how the saved SASRec was trained.
#[derive(Serialize, Deserialize)]
struct SasRecSaved {
    config: SasRecTrainConfig,
    logs: Vec<SasRecEpoch>,
    seconds: f64,
}

/// Runs every row, writes `results.json` and `table.md` into `config.out`.
pub fn run_baselines(config: &BaselineConfig, progress: &dyn Progress) -> Result<BaselineResults> {
    let (name, data) = load_rec_data(&config.dataset, progress)?;
    let users = load_eval_users(&data, config.eval_set.as_deref(), config.eval_users, config.eval_seed)?;
    create_dir(&config.out)?;
    let seq = &data.sequences;
    tracing::info!("{name}: {} users, {} items; evaluating {} users", seq.histories.len(), seq.num_items - 1, users.len());
    // Everything the user saw before the held-out item: excluded from full-catalogue retrieval.
    let contexts: Vec<&[u32]> = users
        .iter()
        .map(|u| {
            let h = &seq.histories[u.user_index as usize];
            &h[..h.len() - 1]
        })
        .collect();
    let mut rows = Vec::new();

    let started = Instant::now();
    let popularity: Vec<f32> = seq.train_counts.iter().map(|&c| c as f32).collect();
    let scores: Vec<Vec<f32>> = contexts.iter().map(|c| excluded(popularity.clone(), c)).collect();
    rows.push(evaluate_row("popularity", &users, &scores, started, "training-split interaction counts"));

    let started = Instant::now();
    let (sasrec, note) = sasrec_model(&data, config, progress)?;
    let flat = score_histories(&sasrec, &contexts, &Device::default());
    let n = seq.num_items;
    let scores: Vec<Vec<f32>> = (0..users.len()).map(|u| flat[u * n..(u + 1) * n].to_vec()).collect();
    rows.push(evaluate_row("sasrec", &users, &scores, started, &note));

    if let Some(dir) = &config.mur_run {
        let started = Instant::now();
        let scores = mur_scores(dir, &data, &contexts)?;
        rows.push(evaluate_row("mur", &users, &scores, started, &format!("retrieval-zoo run {}", dir.display())));
    } else {
        tracing::info!("no MUR run given: the multi-interest row is left out (train one with `recforge retrieval-zoo --dataset ml-1m`)");
    }

    let results = BaselineResults { users: users.len(), catalogue: seq.num_items - 1, rows };
    write_json(&config.out.join("results.json"), &results)?;
    let table = markdown(&results);
    let path = config.out.join("table.md");
    std::fs::write(&path, &table).map_err(|e| LlmRecError::io(&path, e))?;
    Ok(results)
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
    let retrieval: Vec<TiedRank> = users.iter().zip(scores).map(|(u, s)| target_rank(s, u.target)).collect();
    let ranking: Vec<TiedRank> = users
        .iter()
        .zip(scores)
        .map(|(u, s)| {
            let score = |i: u32| s.get(i as usize).copied().unwrap_or(f32::NEG_INFINITY);
            TiedRank::of(score(u.target), u.negatives.iter().map(|&i| score(i)))
        })
        .collect();
    let row = BaselineRow {
        model: model.to_string(),
        retrieval: TopKMetrics::from_tied_ranks(&retrieval),
        ranking: TopKMetrics::from_tied_ranks(&ranking),
        seconds: started.elapsed().as_secs_f64(),
        note: note.to_string(),
    };
    tracing::info!(
        "{model:<11} retrieval R@10 {:.4} NDCG@10 {:.4} · ranking R@10 {:.4} NDCG@10 {:.4} · {:.0}s",
        row.retrieval.recall_10,
        row.retrieval.ndcg_10,
        row.ranking.recall_10,
        row.ranking.ndcg_10,
        row.seconds
    );
    row
}

fn weights_error(path: &Path, e: impl std::fmt::Debug) -> LlmRecError {
    RunError::Weights { path: path.into(), message: format!("{e:?}") }.into()
}

/// The SASRec model saved in `out`, or a freshly trained (and saved) one.
fn sasrec_model(data: &RecData, config: &BaselineConfig, progress: &dyn Progress) -> Result<(SasRec, String)> {
    let weights = config.out.join("sasrec.bpk");
    let info = config.out.join("sasrec.json");
    if !config.retrain && weights.exists() && info.exists() {
        let text = std::fs::read(&info).map_err(|e| LlmRecError::io(&info, e))?;
        let saved: SasRecSaved = serde_json::from_slice(&text).map_err(|e| LlmRecError::parse(&info, 1, e.to_string()))?;
        if saved.config == config.sasrec {
            let model = saved
                .config
                .model_config(data.sequences.num_items)
                .init(&Device::default())
                .try_load_file(&weights)
                .map_err(|e| weights_error(&weights, e))?;
            let best = saved.logs.iter().map(|l| l.valid_ndcg10).fold(f64::NAN, f64::max);
            return Ok((model, format!("reloaded from {} (trained {:.0}s, best valid NDCG@10 {best:.4})", weights.display(), saved.seconds)));
        }
        tracing::info!("{} was trained with other settings: training again", info.display());
    }
    let started = Instant::now();
    let (model, logs) = train_sasrec(&data.sequences, &config.sasrec, progress)?;
    let seconds = started.elapsed().as_secs_f64();
    let best = logs.iter().max_by(|a, b| a.valid_ndcg10.total_cmp(&b.valid_ndcg10)).map_or(0, |l| l.epoch);
    let c = &config.sasrec;
    let note = format!(
        "d={} L={} {} blocks; {} epochs, best epoch {best} (valid NDCG@10 {:.4}); trained {seconds:.0}s",
        c.dim,
        c.max_len,
        c.blocks,
        logs.len() - 1,
        logs[best].valid_ndcg10
    );
    model.clone().save_file(&weights).map_err(|e| weights_error(&weights, e))?;
    write_json(&info, &SasRecSaved { config: config.sasrec.clone(), logs, seconds })?;
    Ok((model, note))
}

/// MUR scores of every catalogue item (max over the user's H vectors) for each context, in the
/// eval data's item ids (matched to the run's by title).
fn mur_scores(dir: &Path, data: &RecData, contexts: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
    let run = RetrievalRun::load(dir)?;
    let path = dir.join(VECTORS);
    let text = std::fs::read(&path).map_err(|e| LlmRecError::io(&path, e))?;
    let vectors: ItemVectors = serde_json::from_slice(&text).map_err(|e| LlmRecError::parse(&path, 1, e.to_string()))?;
    let n = data.sequences.num_items;
    // eval item id → run item id
    let map: Vec<Option<u32>> = (0..n as u32).map(|i| if i == 0 { None } else { run.item_id(data.catalog.title(i)) }).collect();
    let unmatched = map.iter().skip(1).filter(|m| m.is_none()).count();
    if unmatched * 10 > n {
        return Err(LlmRecError::Invalid(format!(
            "{}: {unmatched} of {} catalogue items are unknown to the run; was it trained on the same dataset?",
            dir.display(),
            n - 1
        )));
    }
    let dim = vectors.dim;
    Ok(contexts
        .iter()
        .map(|context| {
            let history: Vec<u32> = context.iter().filter_map(|&i| map[i as usize]).collect();
            let users = run.retriever.user_vectors(&history);
            let scores: Vec<f32> = map
                .iter()
                .map(|m| match m {
                    Some(j) => {
                        let v = &vectors.vectors[*j as usize * dim..(*j as usize + 1) * dim];
                        users.chunks(dim).map(|u| dot(u, v)).fold(f32::NEG_INFINITY, f32::max)
                    }
                    None => f32::NEG_INFINITY,
                })
                .collect();
            excluded(scores, context)
        })
        .collect())
}

/// The markdown table of `table.md`.
pub fn markdown(results: &BaselineResults) -> String {
    let mut md = format!(
        "{} evaluation users; retrieval over the full catalogue ({} items, seen items excluded); ranking over 20 candidates\n\n\
         | model | retrieval R@5 | R@10 | NDCG@5 | NDCG@10 | ranking R@5 | R@10 | NDCG@5 | NDCG@10 | seconds |\n|---|---|---|---|---|---|---|---|---|---|\n",
        results.users, results.catalogue
    );
    for row in &results.rows {
        let (r, k) = (&row.retrieval, &row.ranking);
        md += &format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.0} |\n",
            row.model, r.recall_5, r.recall_10, r.ndcg_5, r.ndcg_10, k.recall_5, k.recall_10, k.ndcg_5, k.ndcg_10, row.seconds
        );
    }
    for row in &results.rows {
        md += &format!("\n- {}: {}", row.model, row.note);
    }
    md + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(target: u32, negatives: Vec<u32>) -> EvalUser {
        EvalUser {
            user_index: 0,
            user: "u".into(),
            history: vec![4],
            history_titles: vec![],
            history_ratings: vec![],
            target,
            target_title: String::new(),
            target_genres: vec![],
            rating: 4.0,
            negatives,
            negative_titles: vec![],
        }
    }

    #[test]
    fn a_tie_counts_by_expectation_and_seen_items_are_never_retrieved() {
        let users = [user(1, vec![2, 3])];
        // Every candidate ties: the held-out item is at position 0, 1 or 2 with chance 1/3 each.
        let scores = vec![excluded(vec![1.0; 5], &[4])];
        let row = evaluate_row("flat", &users, &scores, Instant::now(), "");
        let ndcg = (1.0 + 1.0 / 3f64.log2() + 0.5) / 3.0;
        assert!((row.ranking.ndcg_5 - ndcg).abs() < 1e-12, "{:?}", row.ranking);
        assert!((row.ranking.mrr - (1.0 + 0.5 + 1.0 / 3.0) / 3.0).abs() < 1e-12);
        // Retrieval: padding 0 and the seen item 4 excluded, so the same three tied items.
        assert_eq!(row.retrieval.recall_5, 1.0);
        assert!((row.retrieval.ndcg_10 - ndcg).abs() < 1e-12, "{:?}", row.retrieval);
        // A target scoring above its negatives is first in both protocols.
        let mut sharp = vec![0.0f32; 5];
        sharp[1] = 2.0;
        let row = evaluate_row("sharp", &users, &[excluded(sharp, &[4])], Instant::now(), "");
        assert_eq!((row.ranking.mrr, row.retrieval.mrr), (1.0, 1.0));
        let md = markdown(&BaselineResults { users: 1, catalogue: 4, rows: vec![row] });
        assert!(md.contains("| sharp | 1.0000 | 1.0000 | 1.0000 | 1.0000 | 1.0000 | 1.0000 | 1.0000 | 1.0000 |"), "{md}");
    }
}
