//! `recforge bench prepare | train-step | retrieval`: speed and memory, measured side by side
//! (retrieval search lives in `bench_retrieval.rs`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use clap::{Args, Subcommand};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_data::{Dataset, Schema};
use recforge_models::{DenseEmbeddingRanker, EmbeddedBatch, RankingModel};
use recforge_train::{RunConfig, TrainedModel, bce_with_logits};

use crate::cmd::data;
use crate::paths;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Prepare time and peak memory of a synthetic log (generated if missing).
    Prepare(PrepareArgs),
    /// Median training-step time: EmbeddingStore (sparse rows) vs dense-gradient tables.
    TrainStep(TrainStepArgs),
    /// Top-K search: queries/s, p99 latency and HNSW recall vs exact, on ML-1M-sized and 1M-item corpora.
    Retrieval(crate::cmd::bench_retrieval::Args),
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

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Prepare(args) => prepare(args),
        BenchCommand::TrainStep(args) => train_step(args),
        BenchCommand::Retrieval(args) => crate::cmd::bench_retrieval::run(args),
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
    let (dataset, cold) = data::prepare(&schema, &cache, false, true)?;
    let peak = peak_rss_bytes();
    drop(dataset);
    let (_, warm) = data::prepare(&schema, &cache, false, false)?;
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
    let dataset = data::load_task(&config.data.schema, false)?.dataset;
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
fn peak_rss_bytes() -> u64 {
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

