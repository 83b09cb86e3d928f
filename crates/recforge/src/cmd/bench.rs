//! `recforge bench prepare | train-step | ranking | retrieval`: speed and memory, measured side by
//! side (retrieval search lives in `bench_retrieval.rs`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use clap::{Args, Subcommand};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_data::{Dataset, Schema};
use recforge_models::{DenseEmbeddingRanker, EmbeddedBatch, ModelConfig, RankingModel};
use recforge_train::{RunConfig, TrainedModel, bce_with_logits};

use recforge_data::paths;

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
    Retrieval(crate::cmd::bench_retrieval::Args),
    /// LLM runtime: prompt tokens/s when scoring, generation tokens/s, embeddings/s, peak RSS;
    /// `--peers` adds llama.cpp and sentence-transformers on the same workload.
    #[cfg(feature = "llm")]
    Llm(crate::cmd::bench_llm::Args),
}

#[derive(Args)]
pub struct PrepareArgs {
    /// Rows of the synthetic log.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// Folder for the synthetic log (default data/synthetic-<rows>).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Prepare a schema's dataset instead of a synthetic log.
    #[arg(long, conflicts_with = "rows")]
    schema: Option<PathBuf>,
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
}

/// The reference shape's deep tower (MLP 429-400-400-1), used by the models that have one.
const REFERENCE_DEEP_TOWER: [usize; 2] = [400, 400];
const REFERENCE_DEEP_TOWER_KINDS: [&str; 2] = ["mlp", "dcn_v2"];

/// Data shapes `recforge bench ranking` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// 26 categorical fields × 100k ids × dim 16 + 13 numeric (synthetic, uniform ids).
    Reference,
    /// MovieLens-1M CTR rows from the prepared cache (configs/data/ml1m.toml), train split.
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
    #[arg(long, default_value = "runs/bench-ranking")]
    work_dir: PathBuf,
    /// Print the whole report as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Measure recforge alone, without the PyTorch rounds (for profiling).
    #[arg(long)]
    recforge_only: bool,
}

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Prepare(args) => prepare(args),
        BenchCommand::TrainStep(args) => train_step(args),
        BenchCommand::Ranking(args) => ranking(args),
        #[cfg(feature = "hnsw")]
        BenchCommand::Retrieval(args) => crate::cmd::bench_retrieval::run(args),
        #[cfg(feature = "llm")]
        BenchCommand::Llm(args) => crate::cmd::bench_llm::run(args),
    }
}

fn prepare(args: PrepareArgs) -> Result<()> {
    let schema_path = match args.schema {
        Some(path) => path,
        None => {
            let dir = args.dir.unwrap_or_else(|| paths::data_dir().join(format!("synthetic-{}", args.rows)));
            let schema = dir.join("schema.toml");
            if !schema.is_file() {
                let started = Instant::now();
                recforge_data::write_synthetic_ctr(&dir, args.rows, 42)?;
                println!("generated {} rows in {:.1}s", args.rows, started.elapsed().as_secs_f64());
            }
            schema
        }
    };
    let schema = Schema::from_toml_file(&schema_path)?;
    let file_bytes = std::fs::metadata(&schema.source.path).map(|m| m.len()).unwrap_or(0);
    let cache = paths::prepared_cache_dir();
    let rss_before = peak_rss_bytes();
    let (dataset, cold) = recforge_data::prepare(&schema, &recforge_data::TaskOptions { cache_dir: cache.clone(), force: true, ..Default::default() }.prepare_options(crate::progress::console()))?;
    let peak = peak_rss_bytes();
    drop(dataset);
    let (_, warm) = recforge_data::prepare(&schema, &recforge_data::TaskOptions { cache_dir: cache.clone(), force: false, ..Default::default() }.prepare_options(crate::progress::console()))?;
    println!("source file      {:>10.1} MiB ({})", mib(file_bytes), schema.source.path.display());
    println!("rows             {:>10}", cold.rows_kept);
    println!("prepare (cold)   {:>10.2} s  ({:.0} rows/s)", cold.seconds, cold.rows_kept as f64 / cold.seconds.max(1e-9));
    println!("load (cached)    {:>10.2} s", warm.seconds);
    println!("peak RSS         {:>10.1} MiB (before prepare {:.1} MiB); {:.2}x the file size", mib(peak), mib(rss_before), peak as f64 / file_bytes.max(1) as f64);
    Ok(())
}

fn train_step(args: TrainStepArgs) -> Result<()> {
    let mut config = RunConfig::from_file(&args.config)?;
    if let Some(batch_size) = args.batch_size {
        config.train.batch_size = batch_size;
    }
    if let Some(schema) = args.schema {
        config.data.schema = schema;
    }
    let dataset = recforge_data::Task::load(&config.data.schema, &recforge_data::TaskOptions::default(), crate::progress::console())?.dataset;
    let device = Device::default().autodiff();
    let batches = sample_batches(&dataset, config.train.batch_size, args.steps + 3, config.train.seed);

    let mut sparse = TrainedModel::init(&config.model, &config.train, &dataset, &device)?;
    let mut optimizer = AdamConfig::new().init();
    let sparse_ms = time_steps(&batches, |rows| {
        let batch = dataset.batch(rows);
        let embedded = EmbeddedBatch::new(&sparse.store, &batch, &device, true);
        let labels = labels_tensor(&batch.labels, &device);
        let loss = bce_with_logits(sparse.model.forward(&embedded.input), labels);
        let grads = loss.backward();
        embedded.apply_gradients(&mut sparse.store, &grads);
        let grads = GradientsParams::from_grads(grads, &sparse.model);
        sparse.model = optimizer.step(config.train.lr, sparse.model.clone(), grads);
    });

    let fresh = TrainedModel::init(&config.model, &config.train, &dataset, &device)?;
    let mut dense = DenseEmbeddingRanker::from_store(&fresh.store, fresh.model, &device);
    let mut optimizer = AdamConfig::new().init();
    let dense_ms = time_steps(&batches, |rows| {
        let batch = dataset.batch(rows);
        let labels = labels_tensor(&batch.labels, &device);
        let loss = bce_with_logits(dense.forward(&batch, &device), labels);
        let grads = GradientsParams::from_grads(loss.backward(), &dense);
        dense = optimizer.step(config.train.lr, dense.clone(), grads);
    });

    let batch = config.train.batch_size as f64;
    println!(
        "training step, {} on {} (batch {}, {} embedding weights, {} timed steps, {} threads)",
        config.model.name(),
        dataset.meta.name,
        config.train.batch_size,
        fresh.store.num_parameters(),
        args.steps,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("{:<34} {:>12} {:>14}", "variant", "median ms", "examples/s");
    println!("{:<34} {:>12.2} {:>14.0}", "EmbeddingStore (sparse rows)", sparse_ms, batch / sparse_ms * 1e3);
    println!("{:<34} {:>12.2} {:>14.0}", "dense tables + dense Adam", dense_ms, batch / dense_ms * 1e3);
    println!("speed-up of the sparse path: {:.2}x", dense_ms / sparse_ms);
    Ok(())
}

fn sample_batches(data: &Dataset, batch_size: usize, count: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rows: Vec<usize> = (0..data.len()).collect();
    rows.shuffle(&mut StdRng::seed_from_u64(seed));
    rows.chunks(batch_size).filter(|c| c.len() == batch_size).take(count).map(<[usize]>::to_vec).collect()
}

fn labels_tensor(labels: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device)
}

/// Median milliseconds of `step` over the batches after three warm-up steps.
fn time_steps(batches: &[Vec<usize>], mut step: impl FnMut(&[usize])) -> f64 {
    let mut times = Vec::with_capacity(batches.len());
    for (i, rows) in batches.iter().enumerate() {
        let started = Instant::now();
        step(rows);
        if i >= 3 {
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Peak resident set size of this process (Linux `VmHWM`), in bytes.
pub(crate) fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}


fn ranking(args: RankingArgs) -> Result<()> {
    use recforge_train::bench::{self, PythonReference, RankingBench, Workload};
    bench::configure_threads(args.threads);
    let model = match &args.config {
        Some(path) => RunConfig::from_file(path)?.model,
        None => {
            let mut table = serde_json::json!({ "kind": args.model });
            if REFERENCE_DEEP_TOWER_KINDS.contains(&args.model.as_str()) {
                table["hidden"] = serde_json::json!(REFERENCE_DEEP_TOWER);
            }
            serde_json::from_value::<ModelConfig>(table)
                .with_context(|| format!("unknown or unbuildable model kind \"{}\"", args.model))?
        }
    };
    let work = Workload {
        batch_size: args.batch_size.max(1),
        warmup_steps: args.warmup_steps,
        steps: args.steps.max(1),
        latency_samples: args.latency_samples.max(1),
    };
    let (shape, data) = match args.shape {
        Shape::Reference => ("reference", bench::reference_dataset(work.rows(), args.seed)),
        Shape::Ml1m => {
            let task = recforge_data::Task::load(&PathBuf::from("configs/data/ml1m.toml"), &recforge_data::TaskOptions::default(), crate::progress::console())?;
            let mut rows = task.split.train.clone();
            rows.shuffle(&mut StdRng::seed_from_u64(args.seed));
            if rows.len() < work.rows() {
                anyhow::bail!("ML-1M's train split has {} rows; the benchmark needs {}", rows.len(), work.rows());
            }
            ("ml1m", task.dataset.subset(&rows[..work.rows()]))
        }
    };
    let runner = RankingBench {
        model,
        work,
        rounds: args.rounds.max(1),
        threads: args.threads,
        lr: args.lr,
        seed: args.seed,
        reference: PythonReference { python: args.python, script: args.script },
        work_dir: args.work_dir,
        recforge_only: args.recforge_only,
    };
    if !args.json {
        println!(
            "recforge bench ranking: {} on {shape} ({} rows), batch {}, {} timed steps (+{} warm-up), {} threads, {} rounds",
            runner.model.name(),
            data.len(),
            work.batch_size,
            work.steps,
            work.warmup_steps,
            args.threads,
            runner.rounds
        );
        println!(
            "{:>5} {:>6} {:>5} | {:>10} {:>10} {:>10} {:>10} | {:>10} {:>10} | {:>8} {:>8}",
            "round", "first", "load", "rf train", "adam", "fused", "sparse", "rf infer", "pt infer", "rf b1 ms", "pt b1 ms"
        );
    }
    let json = args.json;
    let report = runner.run(shape, &data, |r| {
        if json {
            return;
        }
        let pt = |f: &dyn Fn(&recforge_train::bench::TorchMeasured) -> f64| r.pytorch.as_ref().map_or(f64::NAN, f);
        let v = |k: &str| pt(&|p| p.train_examples_per_sec.get(k).copied().unwrap_or(f64::NAN));
        println!(
            "{:>5} {:>6} {:>5.2} | {:>10.0} {:>10.0} {:>10.0} {:>10.0} | {:>10.0} {:>10.0} | {:>8.3} {:>8.3}",
            r.round,
            if r.recforge_first { "rf" } else { "torch" },
            r.load_avg_1m,
            r.recforge.train_examples_per_sec,
            v("adam"),
            v("fused_adam"),
            v("sparse_adam"),
            r.recforge.inference_examples_per_sec,
            pt(&|p| p.inference_examples_per_sec),
            r.recforge.latency_batch1_ms,
            pt(&|p| p.latency_batch1_ms),
        );
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let s = &report.summary;
    let pt = |k: &str| s.pytorch_train_examples_per_sec.get(k).copied().unwrap_or(f64::NAN);
    println!("machine: {}; torch {}", report.machine, report.torch_version);
    let mirror = report.rounds.iter().find_map(|r| r.pytorch.as_ref().map(|p| p.dense_parameters));
    println!(
        "model: {} embedding weights + {} dense parameters (PyTorch mirror: {})",
        report.embedding_weights,
        report.dense_parameters,
        mirror.map_or("not run".to_string(), |n| n.to_string())
    );
    println!("medians over {} rounds:", report.rounds.len());
    println!("{:<28} {:>14} {:>16} {:>18}", "implementation", "train ex/s", "inference ex/s", "batch-1 latency ms");
    println!(
        "{:<28} {:>14.0} {:>16.0} {:>18.3}",
        "recforge", s.recforge.train_examples_per_sec, s.recforge.inference_examples_per_sec, s.recforge.latency_batch1_ms
    );
    println!("{:<28} {:>14.0} {:>16.0} {:>18.3}", "pytorch, Adam", pt("adam"), s.pytorch_inference_examples_per_sec, s.pytorch_latency_batch1_ms);
    println!("{:<28} {:>14.0}", "pytorch, fused Adam", pt("fused_adam"));
    println!("{:<28} {:>14.0}", "pytorch, SparseAdam + Adam", pt("sparse_adam"));
    println!(
        "ratio recforge / pytorch: train {:.2}x vs best ({}), {:.2}x vs Adam; inference {:.2}x; batch-1 latency {:.2}x faster",
        s.train_ratio_vs_best, s.pytorch_best_variant, s.train_ratio_vs_adam, s.inference_ratio, s.latency_ratio
    );
    Ok(())
}
