//! `recforge select`: score a text file with a data-selection sampler and keep a fraction of
//! it; `merge` joins shard score files; `corpus`, `experiment` and `bench` run the
//! data-selection experiment and the Density scale benchmark.

mod bench;
mod experiment;
mod models;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use recforge_select::pipeline::{compute_features, count_documents, write_selection};
use recforge_select::selection::keep_count;
use recforge_select::shard::{ShardHeader, ShardSpec, merge_scores, write_scores};
use recforge_select::{Sampler, Scoring, Selection, select};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<SelectCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand)]
pub enum SelectCommand {
    /// Merge the score files of every shard and write the selection (same result as one run).
    Merge(MergeArgs),
    /// Build the mixed-quality experiment corpus (spam, ham, Brown, Wikipedia, news, reviews)
    /// with provenance, plus the clean held-out set (Brown documents, Wikipedia articles).
    Corpus(experiment::CorpusArgs),
    /// Train the same small LM on each sampler's selection at several fractions; report
    /// held-out perplexity, spam share and genre coverage (table, plot, report.html).
    Experiment(experiment::ExperimentArgs),
    /// Density at scale: the LSH sketch over synthetic embeddings (default 1M × 384),
    /// two streaming passes; prints time and peak memory.
    Bench(bench::BenchArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerKind {
    /// Ask an instruction-tuned LLM (SmolLM2) whether the document is informative.
    Askllm,
    /// Inverse-propensity sampling by kernel density of sentence embeddings (MiniLM).
    Density,
    /// Keep the documents the LLM finds most predictable.
    Perplexity,
    /// Drop near-duplicates within k-means clusters of sentence embeddings.
    Semdedup,
    /// Uniformly at random.
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// The highest scores.
    Topk,
    /// Scores at or above --threshold.
    Threshold,
    /// Sampled with probability ∝ 1/score.
    Ipw,
}

/// Selection options shared by a run and a merge.
#[derive(clap::Args, Clone)]
pub struct SelectArgs {
    /// Fraction of documents to keep (top-k and inverse-propensity modes).
    #[arg(long, default_value_t = 0.1)]
    pub keep: f64,
    /// Selection mode; default: the sampler's own (density: ipw, others: topk).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Score threshold for --mode threshold.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Seed of the random and inverse-propensity draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Input documents: .jsonl (one object per line), .csv, .tsv or .parquet.
    #[arg(long, required = true)]
    pub input: Option<PathBuf>,
    /// The column or JSON key holding the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    #[arg(long, value_enum, default_value = "random")]
    pub sampler: SamplerKind,
    /// Output: the kept records as JSON lines (each with a `select_score`); with --shard, this
    /// shard's score file instead (merge them with `recforge select merge`). A whole run also
    /// writes its score file next to it as OUT.scores.jsonl.
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// Score only the documents with index ≡ i (mod n), e.g. 0/4; run every i on any machines.
    #[arg(long)]
    pub shard: Option<ShardSpec>,
    /// Feature cache (redb): reruns and resumed runs skip documents already scored.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub models: models::ModelArgs,
    /// Documents per model batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Every shard's score file.
    #[arg(long, num_args = 1.., required = true)]
    pub scores: Vec<PathBuf>,
    /// Where the kept records go (JSON lines).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub select: SelectArgs,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Some(SelectCommand::Merge(a)) => run_merge(a),
        Some(SelectCommand::Corpus(a)) => experiment::run_corpus(a),
        Some(SelectCommand::Experiment(a)) => experiment::run_experiment(a),
        Some(SelectCommand::Bench(a)) => bench::run(a),
        None => run_select(args.run),
    }
}

impl SelectArgs {
    fn selection(&self, default: Selection) -> Result<Selection> {
        Ok(match (self.mode, self.threshold) {
            (None, None) => default,
            (Some(ModeArg::Topk), _) => Selection::TopK,
            (Some(ModeArg::Ipw), _) => Selection::InversePropensity,
            (Some(ModeArg::Threshold) | None, Some(t)) => Selection::Threshold(t),
            (Some(ModeArg::Threshold), None) => bail!("--mode threshold needs --threshold VALUE"),
        })
    }
}

/// Scores → kept indices → the output file; prints a summary.
fn finish(input: &Path, field: &str, scoring: &Scoring, default: Selection, features: &[Vec<f32>], select_args: &SelectArgs, out: &Path) -> Result<()> {
    let scores = scoring.scores(features)?;
    let selection = select_args.selection(default)?;
    let k = keep_count(scores.len(), select_args.keep)?;
    let kept = select(&scores, selection, k, select_args.seed)?;
    let written = write_selection(input, field, &kept, &scores, out)?;
    println!("kept {written} of {} documents ({selection:?}) → {}", scores.len(), out.display());
    Ok(())
}

fn score_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".scores.jsonl");
    PathBuf::from(name)
}

fn run_select(args: RunArgs) -> Result<()> {
    let (Some(input), Some(out)) = (args.input.as_deref(), args.out.as_deref()) else { bail!("--input and --out are required") };
    let shard = args.shard.unwrap_or(ShardSpec::WHOLE);
    let total = count_documents(input, &args.text_field)?;
    let sampler: Box<dyn Sampler> = models::build_sampler(args.sampler, &args.models, args.select.seed)?;
    let cache = models::open_cache(args.cache.as_deref())?;
    let owned = (0..total).filter(|&i| shard.owns(i)).count();
    let bar = ProgressBar::new(owned as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} docs, {per_sec}, ETA {eta}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    bar.set_message(format!("{} {shard}", sampler.name()));
    let started = Instant::now();
    // The bar hides itself when stderr is not a terminal (a run under nohup, a CI log): print a
    // plain progress line every 30 s there instead.
    let plain = !std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    let mut progress = |done: usize| {
        bar.set_position(done as u64);
        if plain && (last_line.elapsed().as_secs() >= 30 || done == owned) {
            last_line = Instant::now();
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprintln!("{} {shard}: {done}/{owned} documents, {rate:.2}/s", sampler.name());
        }
    };
    let run = compute_features(input, &args.text_field, sampler.as_ref(), cache.as_ref(), shard, args.batch_size, &mut progress)?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: {} documents scored in {seconds:.1}s ({} computed, {} from the cache; {:.2} computed docs/s)",
        sampler.name(),
        run.features.len(),
        run.computed,
        run.from_cache,
        run.computed as f64 / seconds.max(1e-9)
    );
    let header = ShardHeader::for_sampler(sampler.as_ref(), shard, run.total, input, &args.text_field);
    if args.shard.is_some() {
        write_scores(out, &header, &run.features)?;
        println!("shard {shard} score file → {} (merge with `recforge select merge --scores ...`)", out.display());
        return Ok(());
    }
    write_scores(&score_path(out), &header, &run.features)?;
    let features: Vec<Vec<f32>> = run.features.into_iter().map(|(_, f)| f).collect();
    finish(input, &args.text_field, &header.scoring, sampler.default_selection(), &features, &args.select, out)
}

fn run_merge(args: MergeArgs) -> Result<()> {
    let (header, features) = merge_scores(&args.scores)?;
    finish(&header.input, &header.text_field, &header.scoring, header.default_selection, &features, &args.select, &args.out)
}
