//! `recforge bench prepare | train-step | ranking | retrieval`: speed and memory, measured side by
//! side (retrieval search in `retrieval.rs`, LLM inference in `llm.rs`).

#[cfg(feature = "llm")]
mod llm;
#[cfg(feature = "hnsw")]
mod retrieval;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use recforge_data::paths;
use recforge_train::RunConfig;
use recforge_train::bench::prepare::{prepare_bench, synthetic_schema};
use recforge_train::bench::{self, PythonReference, RankingBench, Workload, train_step_bench};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Prepare time and peak memory of a synthetic log (generated if missing).
    Prepare(PrepareArgs),
    /// Median training-step time: EmbeddingStore (sparse rows) vs dense-gradient tables.
    TrainStep(TrainStepArgs),
    /// recforge vs the PyTorch reference (bench/pytorch/), alternating rounds in one run:
    /// training and inference examples/s, their ratio, and batch-1 latency.
    Ranking(RankingArgs),
    /// Top-K search: queries/s, p99 latency and HNSW recall vs exact, on ML-1M-sized and 1M-item corpora.
    #[cfg(feature = "hnsw")]
    Retrieval(retrieval::Args),
    /// LLM runtime: prompt tokens/s when scoring, generation tokens/s, embeddings/s, peak RSS;
    /// `--peers` adds llama.cpp and sentence-transformers on the same workload.
    #[cfg(feature = "llm")]
    Llm(llm::Args),
}

#[derive(Args)]
pub struct PrepareArgs {
    /// Rows of the synthetic log.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// Folder for the synthetic log (default data/synthetic-<rows>).
    #[arg(long, alias = "dir")]
    out: Option<PathBuf>,
    /// Prepare a schema's dataset instead of a synthetic log.
    #[arg(long, conflicts_with = "rows")]
    schema: Option<PathBuf>,
    /// Print the report as JSON only.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct TrainStepArgs {
    /// Training config whose data and model to use.
    #[arg(long, default_value = "configs/ml1m_ctr_mlp.toml")]
    config: PathBuf,
    /// Timed steps per variant (after 3 warm-up steps).
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Override the config's batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Train on this data schema instead of the config's (e.g. a synthetic log with big tables).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Override any value of the config, e.g. `--set model.hidden=[400,400]` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Print the report as JSON only.
    #[arg(long)]
    json: bool,
}

/// Data shapes `recforge bench ranking` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// 26 categorical fields × 100k ids × dim 16 + 13 numeric (synthetic, uniform ids).
    Reference,
    /// MovieLens-1M CTR rows from the prepared cache (configs/data/ml1m.toml), train split.
    #[value(name = "ml-1m", alias = "ml1m")]
    Ml1m,
}

#[derive(Args)]
pub struct RankingArgs {
    /// Model kind (any `[model] kind`: mlp, dcn_v2, hiformer, …) with its default sizes; mlp
    /// and dcn_v2 get the reference deep tower 400-400. `--config` overrides it.
    #[arg(long, default_value = "mlp")]
    model: String,
    /// Take the `[model]` table of this training config instead of `--model`'s defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Timed training steps per implementation and round.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Untimed steps before them.
    #[arg(long, default_value_t = 3)]
    warmup_steps: usize,
    /// Alternating rounds (recforge first in odd rounds, PyTorch first in even ones); medians over them.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Worker threads for both implementations.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, value_enum, default_value_t = Shape::Reference)]
    shape: Shape,
    #[arg(long, default_value_t = 2048)]
    batch_size: usize,
    /// Single-example scorings whose median is the batch-1 latency.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Adam learning rate (dense weights and embedding rows alike).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Python interpreter with torch, numpy and pyarrow.
    #[arg(long, default_value = "bench/pytorch/.venv/bin/python")]
    python: PathBuf,
    /// The PyTorch reference script.
    #[arg(long, default_value = "bench/pytorch/bench_ranking.py")]
    script: PathBuf,
    /// Where the benchmark rows are written for the script.
    #[arg(long, alias = "work-dir", default_value = "runs/bench-ranking")]
    out: PathBuf,
    /// Print the whole report as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Measure recforge alone, without the PyTorch rounds (for profiling).
    #[arg(long)]
    recforge_only: bool,
    /// recforge's training engine: `auto` (compiled forward and backward passes for LR, MLP,
    /// DCN-v2, Hiformer and AutoInt) or `burn` (autodiff), to measure what compiling bought.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    engine: Engine,
}

/// `--engine` values (the `[train] engine` of the benchmark's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Auto,
    Burn,
}

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Prepare(args) => prepare(args),
        BenchCommand::TrainStep(args) => train_step(args),
        BenchCommand::Ranking(args) => ranking(args),
        #[cfg(feature = "hnsw")]
        BenchCommand::Retrieval(args) => retrieval::run(args),
        #[cfg(feature = "llm")]
        BenchCommand::Llm(args) => llm::run(args),
    }
}

fn prepare(args: PrepareArgs) -> Result<()> {
    let dir = args.out.unwrap_or_else(|| paths::data_dir().join(format!("synthetic-{}", args.rows)));
    let (schema, generated) = synthetic_schema(args.schema, args.rows, &dir)?;
    let mut r = prepare_bench(&schema, &paths::prepared_cache_dir(), crate::progress::console())?;
    r.generated_seconds = generated;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("{}", r.text());
    Ok(())
}

fn train_step(args: TrainStepArgs) -> Result<()> {
    let mut config = RunConfig::from_file_with_overrides(&args.config, &args.set)?;
    config.train.batch_size = args.batch_size.unwrap_or(config.train.batch_size);
    config.data.schema = args.schema.unwrap_or(config.data.schema);
    let r = train_step_bench(&config, args.steps, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("{}", r.text());
    Ok(())
}

fn ranking(args: RankingArgs) -> Result<()> {
    bench::configure_threads(args.threads);
    let model = match &args.config {
        Some(path) => RunConfig::from_file(path)?.model,
        None => bench::reference_model(&args.model)?,
    };
    let work = Workload {
        batch_size: args.batch_size.max(1),
        warmup_steps: args.warmup_steps,
        steps: args.steps.max(1),
        latency_samples: args.latency_samples.max(1),
    };
    let (shape, data) = match args.shape {
        Shape::Reference => ("reference", bench::reference_dataset(work.rows(), args.seed)),
        Shape::Ml1m => ("ml1m", bench::train_rows(&PathBuf::from("configs/data/ml1m.toml"), work.rows(), args.seed, crate::progress::console())?),
    };
    let runner = RankingBench {
        model,
        work,
        rounds: args.rounds.max(1),
        threads: args.threads,
        lr: args.lr,
        seed: args.seed,
        reference: PythonReference { python: args.python, script: args.script },
        work_dir: args.out,
        recforge_only: args.recforge_only,
        engine: match args.engine {
            Engine::Auto => recforge_train::TrainEngine::Auto,
            Engine::Burn => recforge_train::TrainEngine::Burn,
        },
    };
    if !args.json {
        println!("{}", runner.header(shape, data.len()));
    }
    let report = runner.run(shape, &data, |round| {
        if !args.json {
            println!("{}", round.line());
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.summary_text());
    }
    Ok(())
}
