//! `recforge select`: score a text file with a data-selection sampler and keep a fraction of
//! it; `merge` joins shard score files; `corpus`, `experiment` and `bench` run the
//! data-selection experiment and the Density scale benchmark (all in recforge-select).

mod bench;
mod experiment;

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use recforge_select::Selection;
use recforge_select::density::LshConfig;
use recforge_select::models::{ModelOptions, SamplerKind};
use recforge_select::run::{KeepOptions, ScoreJob, SelectionReport, merge_and_select, run_score_job};
use recforge_select::shard::ShardSpec;

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

impl SelectArgs {
    fn keep(&self) -> Result<KeepOptions> {
        let selection = match (self.mode, self.threshold) {
            (None, None) => None,
            (Some(ModeArg::Topk), _) => Some(Selection::TopK),
            (Some(ModeArg::Ipw), _) => Some(Selection::InversePropensity),
            (Some(ModeArg::Threshold) | None, Some(t)) => Some(Selection::Threshold(t)),
            (Some(ModeArg::Threshold), None) => bail!("--mode threshold needs --threshold VALUE"),
        };
        Ok(KeepOptions { keep: self.keep, selection, seed: self.seed })
    }
}

/// The models behind the samplers.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// GGUF causal LM for askllm and perplexity (default: DATA/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf).
    #[arg(long)]
    pub llm: Option<PathBuf>,
    /// Sentence-encoder folder for density and semdedup (default: DATA/models/all-minilm-l6-v2),
    /// or `hashed` for the model-free hashed word n-gram embedder.
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Tokens of each document the LLM sees (askllm: inside the prompt; perplexity: scored).
    #[arg(long, default_value_t = 256)]
    pub max_doc_tokens: usize,
    /// Engine of the LLM on a .gguf file: candle (default, faster prompt scoring) or llama-cpp.
    #[arg(long, default_value_t = recforge_llm::Backend::for_scoring())]
    pub backend: recforge_llm::Backend,
    /// LSH sketch rows (density).
    #[arg(long, default_value_t = 64)]
    pub lsh_rows: usize,
    /// p-stable hashes concatenated per row (density).
    #[arg(long, default_value_t = 4)]
    pub lsh_hashes: usize,
    /// Hash bucket width in embedding distance (density).
    #[arg(long, default_value_t = 1.0)]
    pub lsh_width: f32,
    /// k-means clusters for semdedup (0: √n).
    #[arg(long, default_value_t = 0)]
    pub clusters: usize,
}

impl ModelArgs {
    fn options(&self) -> ModelOptions {
        let lsh = LshConfig { rows: self.lsh_rows, hashes_per_row: self.lsh_hashes, width: self.lsh_width, ..LshConfig::default() };
        ModelOptions { llm: self.llm.clone(), encoder: self.encoder.clone(), max_doc_tokens: self.max_doc_tokens, backend: self.backend, lsh, clusters: self.clusters }
    }
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Input documents: .jsonl (one object per line), .csv, .tsv or .parquet.
    #[arg(long = "data", alias = "input", required = true)]
    pub input: Option<PathBuf>,
    /// The column or JSON key holding the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// askllm (an instruction-tuned LLM judges each document), density (inverse-propensity by
    /// kernel density of sentence embeddings), perplexity, semdedup (near-duplicates within
    /// k-means clusters) or random.
    #[arg(long, default_value = "random", value_parser = SamplerKind::NAMES)]
    pub sampler: String,
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
    pub models: ModelArgs,
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
        Some(SelectCommand::Merge(a)) => print_selection(&merge_and_select(&a.scores, &a.select.keep()?, &a.out)?),
        Some(SelectCommand::Corpus(a)) => experiment::run_corpus(a),
        Some(SelectCommand::Experiment(a)) => experiment::run_experiment(a),
        Some(SelectCommand::Bench(a)) => bench::run(a),
        None => run_select(args.run),
    }
}

fn print_selection(s: &SelectionReport) -> Result<()> {
    println!("kept {} of {} documents ({:?}) → {}", s.kept, s.documents, s.selection, s.out.display());
    Ok(())
}

fn run_select(args: RunArgs) -> Result<()> {
    let (Some(input), Some(out)) = (args.input, args.out) else { bail!("--data and --out are required") };
    let job = ScoreJob {
        input,
        text_field: args.text_field,
        sampler: args.sampler.parse().map_err(anyhow::Error::msg)?,
        models: args.models.options(),
        cache: args.cache,
        shard: args.shard,
        batch_size: args.batch_size,
        keep: args.select.keep()?,
        out,
    };
    let report = run_score_job(&job, crate::progress::console())?;
    println!(
        "{}: {} documents scored in {:.1}s ({} computed, {} from the cache; {:.2} computed docs/s)",
        report.sampler,
        report.scored,
        report.seconds,
        report.computed,
        report.from_cache,
        report.computed as f64 / report.seconds.max(1e-9)
    );
    match &report.selection {
        Some(selection) => print_selection(selection),
        None => {
            println!("shard {} score file → {} (merge with `recforge select merge --scores ...`)", report.shard, report.score_file.display());
            Ok(())
        }
    }
}
