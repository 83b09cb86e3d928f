//! The data-selection experiment: for each sampler's scores and each kept fraction, select
//! from the pool, train the same small byte-level LM for the same number of tokens, and
//! measure held-out perplexity, the share of spam kept and genre coverage.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use recforge_data::Progress;
use recforge_train::metrics::mean_std;
use recforge_train::report::{curve_chart, escape, page};
use serde::{Deserialize, Serialize};

use crate::corpus::CorpusDoc;
use crate::error::{Result, SelectError};
use crate::lm::{ByteLmConfig, LmTrainConfig, perplexity, train_lm};
use crate::selection::{Selection, keep_count, select};
use crate::shard::merge_scores;

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

/// Runs every (sampler, fraction) cell; the 100% cell is the same for every sampler, so it is
/// trained once under the name "full". Each training run is one progress phase.
pub fn run_experiment(
    pool: &[CorpusDoc],
    heldout: &[CorpusDoc],
    samplers: &[ScoredSampler],
    lm: &ByteLmConfig,
    config: &ExperimentConfig,
    progress: &dyn Progress,
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
            let label = format!("[{}/{}] {name} {:.0}% seed {seed}", i + 1, total, fraction * 100.0);
            let train = LmTrainConfig { seed, ..config.train.clone() };
            let model = train_lm(&texts, lm, &train, &label, progress)?;
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

/// Reads a corpus file of [`CorpusDoc`] JSON lines (`recforge select corpus` writes them).
pub fn read_docs(path: &Path) -> Result<Vec<CorpusDoc>> {
    let text = std::fs::read_to_string(path).map_err(|e| SelectError::file(path, format!("{e} (run `recforge select corpus` first)")))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| SelectError::Input { path: path.to_path_buf(), line: i as u64 + 1, message: e.to_string() }))
        .collect()
}

/// Each sampler's scores over a pool of `pool_len` documents, from score-file groups
/// `[NAME=]FILE[,FILE...]` (a whole run's file, or every shard's files of one sampler; NAME
/// defaults to the sampler's own name).
pub fn load_scored_samplers(groups: &[String], pool_len: usize) -> Result<Vec<ScoredSampler>> {
    let mut samplers: Vec<ScoredSampler> = Vec::new();
    for group in groups {
        let (label, files) = match group.split_once('=') {
            Some((label, files)) => (Some(label), files),
            None => (None, group.as_str()),
        };
        let files: Vec<PathBuf> = files.split(',').map(PathBuf::from).collect();
        let (header, features) = merge_scores(&files)?;
        if features.len() != pool_len {
            return Err(SelectError::Config(format!("{group}: scores {} documents but the pool has {pool_len}; score the experiment's corpus.jsonl", features.len())));
        }
        let name = label.map_or_else(|| header.sampler.clone(), str::to_string);
        if samplers.iter().any(|s| s.name == name) {
            return Err(SelectError::Config(format!("two score files are both named {name:?}; name them with NAME=FILE")));
        }
        samplers.push(ScoredSampler { name, scores: header.scoring.scores(&features)?, selection: header.default_selection });
    }
    Ok(samplers)
}

/// What `recforge select experiment` measured: a one-line description of the setup and the
/// rows (`results.json` holds exactly this).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExperimentReport {
    pub setup: String,
    pub rows: Vec<ExperimentRow>,
}

impl ExperimentReport {
    /// The rows as a Markdown table.
    pub fn markdown_table(&self) -> String {
        let mut s = String::from("| sampler | kept | docs | held-out ppl (bytes) | spam share | genres covered | sources kept |\n|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let sources: Vec<String> = r.sources.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                s,
                "| {} | {:.0}% | {} | {:.3} ± {:.3} | {:.1}% | {}/{} | {} |",
                r.sampler, r.fraction * 100.0, r.kept, r.perplexity_mean, r.perplexity_std, r.spam_share * 100.0, r.genres_covered, r.genres_total, sources.join(", ")
            );
        }
        s
    }

    /// Writes `results.json`, `table.md`, `perplexity.svg` and a self-contained `report.html`
    /// into `out` (created if missing).
    pub fn write(&self, out: &Path) -> Result<()> {
        let io = |e: std::io::Error| SelectError::Io { path: out.to_path_buf(), source: e };
        std::fs::create_dir_all(out).map_err(io)?;
        let json = serde_json::to_string_pretty(self).map_err(|e| SelectError::Config(format!("serialising the results: {e}")))?;
        std::fs::write(out.join("results.json"), json).map_err(io)?;
        std::fs::write(out.join("table.md"), format!("{}\n\n{}", self.setup, self.markdown_table())).map_err(io)?;
        let svg = curve_chart("held-out perplexity vs kept fraction", "fraction of the pool kept", "per-byte perplexity", &self.perplexity_curves());
        std::fs::write(out.join("perplexity.svg"), &svg).map_err(io)?;
        let mut table = String::from("<table><tr><th>sampler</th><th>kept</th><th>docs</th><th>held-out ppl</th><th>spam share</th><th>genres</th></tr>");
        for r in &self.rows {
            let _ = write!(
                table,
                "<tr><td>{}</td><td>{:.0}%</td><td>{}</td><td>{:.3} ± {:.3}</td><td>{:.1}%</td><td>{}/{}</td></tr>",
                escape(&r.sampler), r.fraction * 100.0, r.kept, r.perplexity_mean, r.perplexity_std, r.spam_share * 100.0, r.genres_covered, r.genres_total
            );
        }
        table += "</table>";
        let body = format!("<p>{}</p>{table}<h2>Held-out perplexity vs kept fraction</h2>{svg}", escape(&self.setup));
        std::fs::write(out.join("report.html"), page("data selection", &body)).map_err(io)?;
        Ok(())
    }

    /// Perplexity vs kept fraction per sampler; every curve ends at the shared 100% point.
    pub fn perplexity_curves(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let full = self.rows.iter().find(|r| r.sampler == "full").map(|r| (1.0, r.perplexity_mean));
        let mut names: Vec<&str> = self.rows.iter().map(|r| r.sampler.as_str()).filter(|n| *n != "full").collect();
        names.dedup();
        names
            .iter()
            .map(|n| {
                let mut pts: Vec<(f64, f64)> = self.rows.iter().filter(|r| r.sampler == *n).map(|r| (r.fraction, r.perplexity_mean)).collect();
                pts.extend(full);
                (n.to_string(), pts)
            })
            .collect()
    }
}

/// The whole experiment on a folder with `corpus.jsonl` and `heldout.jsonl`: loads the pool,
/// the held-out set and the score groups, runs every cell and describes the setup.
pub fn run_experiment_dir(dir: &Path, score_groups: &[String], lm: &ByteLmConfig, config: &ExperimentConfig, progress: &dyn Progress) -> Result<ExperimentReport> {
    let pool = read_docs(&dir.join("corpus.jsonl"))?;
    let heldout = read_docs(&dir.join("heldout.jsonl"))?;
    let samplers = load_scored_samplers(score_groups, pool.len())?;
    let started = Instant::now();
    let rows = run_experiment(&pool, &heldout, &samplers, lm, config, progress)?;
    let setup = format!(
        "pool {} documents, held-out {} documents ({} bytes); byte-level LM d_model {} × {} layers, context {}, {} steps × batch {} = {} training bytes per cell, seeds {:?}; {:.0}s",
        pool.len(),
        heldout.len(),
        heldout.iter().map(|d| d.text.len()).sum::<usize>(),
        lm.d_model,
        lm.layers,
        lm.context,
        config.train.steps,
        config.train.batch,
        config.train.tokens(lm.context),
        config.seeds,
        started.elapsed().as_secs_f64()
    );
    Ok(ExperimentReport { setup, rows })
}
