//! The data-selection experiment: for each sampler's scores and each kept fraction, select
//! from the pool, train the same small byte-level LM for the same number of tokens, and
//! measure held-out perplexity, the share of spam kept and genre coverage.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::corpus::CorpusDoc;
use crate::error::{Result, SelectError};
use crate::lm::{ByteLmConfig, LmTrainConfig, perplexity, train_lm};
use crate::selection::{Selection, keep_count, select};

/// One sampler's scores over the pool, in pool order, and how it selects.
#[derive(Debug, Clone)]
pub struct ScoredSampler {
    pub name: String,
    pub scores: Vec<f32>,
    pub selection: Selection,
}

/// What one (sampler, fraction) cell measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentRow {
    pub sampler: String,
    pub fraction: f64,
    pub kept: usize,
    /// Share of kept documents whose source is spam.
    pub spam_share: f64,
    /// Distinct (source, genre) pairs kept / in the pool.
    pub genres_covered: usize,
    pub genres_total: usize,
    /// Kept documents per source.
    pub sources: BTreeMap<String, usize>,
    /// Held-out per-byte perplexity, one per seed.
    pub perplexities: Vec<f64>,
    pub perplexity_mean: f64,
    pub perplexity_std: f64,
    pub train_bytes: usize,
    pub selected_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentConfig {
    pub fractions: Vec<f64>,
    pub seeds: Vec<u64>,
    pub train: LmTrainConfig,
    pub selection_seed: u64,
}

/// Shares and coverage of a kept set.
pub fn composition(pool: &[CorpusDoc], kept: &[usize]) -> (f64, usize, usize, BTreeMap<String, usize>) {
    let all: BTreeSet<(&str, &str)> = pool.iter().map(|d| (d.source.as_str(), d.genre.as_str())).collect();
    let covered: BTreeSet<(&str, &str)> = kept.iter().map(|&i| (pool[i].source.as_str(), pool[i].genre.as_str())).collect();
    let mut sources = BTreeMap::new();
    for &i in kept {
        *sources.entry(pool[i].source.clone()).or_insert(0) += 1;
    }
    let spam = sources.get("spam").copied().unwrap_or(0) as f64 / kept.len().max(1) as f64;
    (spam, covered.len(), all.len(), sources)
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// Runs every (sampler, fraction) cell; the 100% cell is the same for every sampler, so it is
/// trained once under the name "full". `progress(message)` before each training run.
pub fn run_experiment(
    pool: &[CorpusDoc],
    heldout: &[CorpusDoc],
    samplers: &[ScoredSampler],
    lm: &ByteLmConfig,
    config: &ExperimentConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<ExperimentRow>> {
    let heldout_texts: Vec<String> = heldout.iter().map(|d| d.text.clone()).collect();
    let mut cells: Vec<(String, f64, Vec<usize>)> = Vec::new();
    for s in samplers {
        if s.scores.len() != pool.len() {
            return Err(SelectError::Config(format!("sampler {} has {} scores for a pool of {}", s.name, s.scores.len(), pool.len())));
        }
        for &f in config.fractions.iter().filter(|&&f| f < 1.0) {
            let k = keep_count(pool.len(), f)?;
            cells.push((s.name.clone(), f, select(&s.scores, s.selection, k, config.selection_seed)?));
        }
    }
    if config.fractions.iter().any(|&f| f >= 1.0) {
        cells.push(("full".into(), 1.0, (0..pool.len()).collect()));
    }
    let mut rows = Vec::new();
    let total = cells.len();
    for (i, (name, fraction, kept)) in cells.into_iter().enumerate() {
        let texts: Vec<String> = kept.iter().map(|&j| pool[j].text.clone()).collect();
        let mut ppls = Vec::new();
        for &seed in &config.seeds {
            progress(&format!("[{}/{}] {name} {:.0}% seed {seed}", i + 1, total, fraction * 100.0));
            let train = LmTrainConfig { seed, ..config.train.clone() };
            let model = train_lm(&texts, lm, &train, &mut |_, _| {})?;
            ppls.push(perplexity(&model, &heldout_texts, lm.context, 64)?);
        }
        let (spam_share, genres_covered, genres_total, sources) = composition(pool, &kept);
        let (perplexity_mean, perplexity_std) = mean_std(&ppls);
        rows.push(ExperimentRow {
            sampler: name,
            fraction,
            kept: kept.len(),
            spam_share,
            genres_covered,
            genres_total,
            sources,
            perplexities: ppls,
            perplexity_mean,
            perplexity_std,
            train_bytes: config.train.tokens(lm.context),
            selected_bytes: texts.iter().map(|t| t.len()).sum(),
        });
    }
    Ok(rows)
}
