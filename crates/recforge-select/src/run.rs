//! The two use cases behind `recforge select`: score a file with a sampler (the whole file,
//! or one shard of it) and keep a fraction; merge every shard's score file and keep the same
//! fraction. Both return what they did as typed reports.

use std::path::{Path, PathBuf};
use std::time::Instant;

use recforge_data::Progress;
use serde::Serialize;

use crate::error::Result;
use crate::models::{ModelOptions, SamplerKind, build_sampler, open_cache};
use crate::pipeline::{compute_features, compute_text_features, count_documents, write_selection};
use crate::sampler::{FeatureCache, Sampler, Scoring};
use crate::selection::{Selection, keep_count, select};
use crate::shard::{ShardHeader, ShardSpec, merge_scores, write_scores};

/// Which documents to keep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KeepOptions {
    /// Fraction of documents kept by top-k and inverse-propensity selection.
    pub keep: f64,
    /// The selection mode; None: the sampler's own.
    pub selection: Option<Selection>,
    /// Seed of the random and inverse-propensity draws.
    pub seed: u64,
}

/// What a selection kept and where it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectionReport {
    pub kept: usize,
    pub documents: usize,
    pub selection: Selection,
    pub out: PathBuf,
}

/// What scoring did: documents scored, computed and cached, the score file, and for a whole
/// run the selection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreReport {
    pub sampler: String,
    pub shard: ShardSpec,
    pub scored: usize,
    pub computed: usize,
    pub from_cache: usize,
    pub seconds: f64,
    pub score_file: PathBuf,
    /// None for a shard (its selection happens at the merge).
    pub selection: Option<SelectionReport>,
}

/// The score file a whole run writes next to its output: `OUT.scores.jsonl`.
pub fn score_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".scores.jsonl");
    PathBuf::from(name)
}

/// One scoring run: which file, which sampler over which models, and where the results go.
#[derive(Debug, Clone)]
pub struct ScoreJob {
    pub input: PathBuf,
    /// The column or JSON key holding the text.
    pub text_field: String,
    pub sampler: SamplerKind,
    pub models: ModelOptions,
    /// The redb feature cache (None: in memory).
    pub cache: Option<PathBuf>,
    /// Score one shard only (its selection happens at the merge).
    pub shard: Option<ShardSpec>,
    /// Documents per model batch.
    pub batch_size: usize,
    pub keep: KeepOptions,
    /// The kept records (whole run) or the shard's score file.
    pub out: PathBuf,
}

/// Runs `job`: validates every input record first (so bad input fails before any model loads),
/// loads the sampler's models and the cache, then scores and — for a whole run — selects.
pub fn run_score_job(job: &ScoreJob, progress: &dyn Progress) -> Result<ScoreReport> {
    let total = count_documents(&job.input, &job.text_field)?;
    let sampler = build_sampler(job.sampler, &job.models, job.keep.seed)?;
    let cache = open_cache(job.cache.as_deref())?;
    score_and_select(&job.input, &job.text_field, sampler.as_ref(), cache.as_ref(), total, job, progress)
}

/// Scores the `total` documents of `input` with `sampler` through `cache`. With a shard, writes
/// that shard's score file to `job.out`; otherwise writes `OUT.scores.jsonl`, selects per
/// `job.keep` and writes the kept records to `job.out`.
fn score_and_select(input: &Path, text_field: &str, sampler: &dyn Sampler, cache: &dyn FeatureCache, total: usize, job: &ScoreJob, progress: &dyn Progress) -> Result<ScoreReport> {
    let spec = job.shard.unwrap_or(ShardSpec::WHOLE);
    let started = Instant::now();
    let run = compute_features(input, text_field, sampler, cache, spec, job.batch_size, progress)?;
    let seconds = started.elapsed().as_secs_f64();
    let header = ShardHeader::for_sampler(sampler, spec, total, input, text_field);
    let score_file = if job.shard.is_some() { job.out.clone() } else { score_path(&job.out) };
    write_scores(&score_file, &header, &run.features)?;
    let mut report = ScoreReport {
        sampler: sampler.name().to_string(),
        shard: spec,
        scored: run.features.len(),
        computed: run.computed,
        from_cache: run.from_cache,
        seconds,
        score_file,
        selection: None,
    };
    if job.shard.is_none() {
        let features: Vec<Vec<f32>> = run.features.into_iter().map(|(_, f)| f).collect();
        report.selection = Some(keep_and_write(input, text_field, &header.scoring, sampler.default_selection(), &features, &job.keep, &job.out)?);
    }
    Ok(report)
}

/// Merges every shard's score file (all shards of one input) and selects as one run would.
pub fn merge_and_select(score_files: &[PathBuf], keep: &KeepOptions, out: &Path) -> Result<SelectionReport> {
    let (header, features) = merge_scores(score_files)?;
    keep_and_write(&header.input, &header.text_field, &header.scoring, header.default_selection, &features, keep, out)
}

/// Scores → kept indices → the output file.
fn keep_and_write(input: &Path, field: &str, scoring: &Scoring, default: Selection, features: &[Vec<f32>], keep: &KeepOptions, out: &Path) -> Result<SelectionReport> {
    let (scores, selection, kept) = choose(scoring, default, features, keep)?;
    let written = write_selection(input, field, &kept, &scores, out)?;
    Ok(SelectionReport { kept: written, documents: scores.len(), selection, out: out.to_path_buf() })
}

/// Every document's score, the selection mode used (`keep`'s, else `default`) and the kept
/// indices (ascending).
fn choose(scoring: &Scoring, default: Selection, features: &[Vec<f32>], keep: &KeepOptions) -> Result<(Vec<f32>, Selection, Vec<usize>)> {
    let scores = scoring.scores(features)?;
    let selection = keep.selection.unwrap_or(default);
    let kept = select(&scores, selection, keep_count(scores.len(), keep.keep)?, keep.seed)?;
    Ok((scores, selection, kept))
}

/// What [`select_texts`] kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextSelection {
    /// Indices of the kept texts, ascending.
    pub kept: Vec<usize>,
    /// Every text's score (higher is kept first under top-k).
    pub scores: Vec<f32>,
    pub selection: Selection,
    pub computed: usize,
    pub from_cache: usize,
}

/// Scores in-memory `texts` with `sampler` (through the redb `cache` when given) and keeps
/// `keep.keep` of them: the library form of `recforge select` for callers holding the texts
/// (the Python package's `recforge.select`).
pub fn select_texts(
    texts: &[String],
    sampler: SamplerKind,
    models: &ModelOptions,
    cache: Option<&Path>,
    batch_size: usize,
    keep: &KeepOptions,
    progress: &dyn Progress,
) -> Result<TextSelection> {
    if texts.is_empty() {
        return Err(crate::error::SelectError::Config("there are no texts to select from".into()));
    }
    let sampler = build_sampler(sampler, models, keep.seed)?;
    let cache = open_cache(cache)?;
    let run = compute_text_features(texts, sampler.as_ref(), cache.as_ref(), batch_size, progress)?;
    let features: Vec<Vec<f32>> = run.features.into_iter().map(|(_, f)| f).collect();
    let (scores, selection, kept) = choose(&sampler.scoring(), sampler.default_selection(), &features, keep)?;
    Ok(TextSelection { kept, scores, selection, computed: run.computed, from_cache: run.from_cache })
}
