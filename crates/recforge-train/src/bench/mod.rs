//! Side-by-side benchmarks against a PyTorch reference (`recforge bench ranking`).
//!
//! Both implementations train the same architecture on the same rows, in alternating rounds
//! inside one run (recforge first in even rounds, PyTorch first in odd ones), so background
//! load hits both alike; the report gives per-round figures with the load average at the
//! time, and medians over rounds. Any [`ModelConfig`] works on the recforge side; the script
//! mirrors each architecture by the config's `kind`.

pub mod measure;
pub mod pytorch;
pub mod prepare;
pub mod shape;
pub mod text;
pub mod train_step;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::Device;
use recforge_data::Dataset;
use recforge_models::{ModelConfig, SparseOptimizer};
use serde::{Deserialize, Serialize};

pub use measure::{Throughput, Workload, measure_recforge, median};
pub use pytorch::{PythonReference, TorchMeasured, VARIANTS};
pub use shape::{reference_dataset, reference_model, synthetic_dataset, train_rows};
pub use train_step::{TrainStepReport, train_step_bench};

use crate::config::{TrainConfig, TrainEngine};
use crate::trainer::TrainError;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error("the PyTorch reference failed: {0}")]
    Python(String),
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
}

/// Everything one side-by-side run needs.
#[derive(Debug, Clone)]
pub struct RankingBench {
    pub model: ModelConfig,
    pub work: Workload,
    pub rounds: usize,
    pub threads: usize,
    /// Dense Adam learning rate, and the embedding tables' (lazy/sparse) Adam rate.
    pub lr: f64,
    pub seed: u64,
    pub reference: PythonReference,
    /// Where the benchmark rows are written for the script (an Arrow IPC dataset folder).
    pub work_dir: PathBuf,
    /// Measure recforge alone (profiling); the PyTorch figures stay empty.
    pub recforge_only: bool,
    /// recforge's training engine (compiled where it applies, or burn's autodiff).
    pub engine: TrainEngine,
}

/// One round: both implementations, in the order they ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    pub round: usize,
    pub recforge_first: bool,
    pub recforge: Throughput,
    /// `None` when the run measured recforge alone.
    pub pytorch: Option<TorchMeasured>,
    /// `/proc/loadavg`'s 1-minute load average when the round ended.
    pub load_avg_1m: f64,
}

/// Medians over rounds and their ratios (recforge ÷ PyTorch; above 1 means recforge is faster,
/// except for latency, where the ratio is PyTorch's ÷ recforge's so above 1 still means faster).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub recforge: Throughput,
    /// Median train examples/s per PyTorch variant.
    pub pytorch_train_examples_per_sec: std::collections::BTreeMap<String, f64>,
    pub pytorch_inference_examples_per_sec: f64,
    pub pytorch_latency_batch1_ms: f64,
    /// The PyTorch variant with the highest median training throughput.
    pub pytorch_best_variant: String,
    pub train_ratio_vs_best: f64,
    pub train_ratio_vs_adam: f64,
    pub inference_ratio: f64,
    pub latency_ratio: f64,
}

/// A whole run: setup, rounds and the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub model: String,
    pub shape: String,
    pub rows: usize,
    pub embedding_weights: usize,
    pub dense_parameters: usize,
    pub work: Workload,
    pub threads: usize,
    pub machine: String,
    pub torch_version: String,
    pub rounds: Vec<Round>,
    pub summary: Summary,
}

impl RankingBench {
    /// The training config both sides follow: Adam at `lr` on the dense weights, lazy Adam at
    /// `lr` on the embedding rows (what PyTorch's SparseAdam does).
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            batch_size: self.work.batch_size,
            lr: self.lr,
            sparse_optimizer: SparseOptimizer::LazyAdam { lr: self.lr as f32, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            seed: self.seed,
            engine: self.engine,
            ..TrainConfig::default()
        }
    }

    /// Run `rounds` alternating rounds on `data` (exactly [`Workload::rows`] rows, in batch
    /// order). `on_round` sees each round as it finishes (for progress output).
    pub fn run(&self, shape: &str, data: &Dataset, mut on_round: impl FnMut(&Round)) -> Result<BenchReport, BenchError> {
        if !self.recforge_only {
            self.reference.check()?;
        }
        if data.len() < self.work.rows() {
            return Err(BenchError::Setup(format!(
                "the benchmark needs {} rows ({} steps of {}), the data has {}",
                self.work.rows(),
                self.work.warmup_steps + self.work.steps,
                self.work.batch_size,
                data.len()
            )));
        }
        let data_dir = self.work_dir.join(format!("{shape}-{}x{}", self.work.warmup_steps + self.work.steps, self.work.batch_size));
        if !self.recforge_only {
            data.save(&data_dir)?;
        }
        let train = self.train_config();
        let mut rounds = Vec::with_capacity(self.rounds);
        for round in 0..self.rounds {
            let recforge_first = round % 2 == 0;
            let (recforge, pytorch) = if recforge_first {
                let r = measure_recforge(&self.model, &train, data, &self.work)?;
                (r, self.run_torch(&data_dir)?)
            } else {
                let p = self.run_torch(&data_dir)?;
                (measure_recforge(&self.model, &train, data, &self.work)?, p)
            };
            let round = Round { round: round + 1, recforge_first, recforge, pytorch, load_avg_1m: load_average() };
            on_round(&round);
            rounds.push(round);
        }
        let layout = data.layout();
        let dim = self.model.embedding_dim();
        Ok(BenchReport {
            model: self.model.name().to_string(),
            shape: shape.to_string(),
            rows: data.len(),
            embedding_weights: layout.sparse.iter().map(|f| f.cardinality.max(1) * dim).sum(),
            dense_parameters: self.model.init(&layout, &Device::default()).num_params(),
            work: self.work,
            threads: self.threads,
            machine: machine_description(),
            torch_version: rounds.iter().find_map(|r| r.pytorch.as_ref().map(|p| p.torch_version.clone())).unwrap_or_default(),
            summary: summarise(&rounds),
            rounds,
        })
    }

    fn run_torch(&self, data_dir: &Path) -> Result<Option<TorchMeasured>, BenchError> {
        if self.recforge_only {
            return Ok(None);
        }
        self.reference.run(data_dir, &self.model, &self.work, self.lr, self.threads, self.seed).map(Some)
    }
}

/// Medians over rounds and the ratios between them.
pub fn summarise(rounds: &[Round]) -> Summary {
    let med = |f: &dyn Fn(&Round) -> f64| median(&mut rounds.iter().map(f).collect::<Vec<_>>());
    let recforge = Throughput {
        train_examples_per_sec: med(&|r| r.recforge.train_examples_per_sec),
        inference_examples_per_sec: med(&|r| r.recforge.inference_examples_per_sec),
        latency_batch1_ms: med(&|r| r.recforge.latency_batch1_ms),
    };
    let variants: std::collections::BTreeMap<String, f64> = VARIANTS
        .iter()
        .map(|v| (v.to_string(), med(&|r| torch(r, |p| p.train_examples_per_sec.get(*v).copied().unwrap_or(f64::NAN)))))
        .collect();
    let (best_variant, best) = variants
        .iter()
        .filter(|(_, v)| v.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or((String::new(), f64::NAN), |(k, v)| (k.clone(), *v));
    let inference = med(&|r| torch(r, |p| p.inference_examples_per_sec));
    let latency = med(&|r| torch(r, |p| p.latency_batch1_ms));
    Summary {
        train_ratio_vs_best: recforge.train_examples_per_sec / best,
        train_ratio_vs_adam: recforge.train_examples_per_sec / variants.get("adam").copied().unwrap_or(f64::NAN),
        inference_ratio: recforge.inference_examples_per_sec / inference,
        latency_ratio: latency / recforge.latency_batch1_ms,
        recforge,
        pytorch_train_examples_per_sec: variants,
        pytorch_inference_examples_per_sec: inference,
        pytorch_latency_batch1_ms: latency,
        pytorch_best_variant: best_variant,
    }
}

/// A PyTorch figure of a round (NaN when the round measured recforge alone).
fn torch(round: &Round, figure: impl Fn(&TorchMeasured) -> f64) -> f64 {
    round.pytorch.as_ref().map_or(f64::NAN, figure)
}

/// Use `threads` worker threads for burn's kernels (rayon's global pool). Call before any
/// tensor work; a pool that already exists is kept.
pub fn configure_threads(threads: usize) {
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build_global();
}

/// The 1-minute load average (NaN where `/proc/loadavg` is unreadable).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// CPU model, family/model numbers and logical CPUs, from `/proc/cpuinfo`.
pub fn machine_description() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let avx512 = if info.contains("avx512f") { ", AVX-512" } else { "" };
    format!("{} (family {}, model {}){avx512}, {cpus} logical CPUs", field("model name"), field("cpu family"), field("model"))
}
