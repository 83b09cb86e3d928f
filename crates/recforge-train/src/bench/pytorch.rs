//! The PyTorch side of a side-by-side benchmark: `bench/pytorch/bench_ranking.py` run as a
//! subprocess on the same prepared data, answering with one JSON line on stdout.
//!
//! The script trains the same architecture three ways — default Adam on everything, fused
//! Adam on everything, SparseAdam on the embedding tables plus Adam on the rest — then scores
//! the rows and times batch-1 scoring. Its JSON keys are the protocol (see the script's doc).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use recforge_models::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::bench::BenchError;
use crate::bench::measure::Workload;

/// The PyTorch optimizer variants, in the order the script runs them.
pub const VARIANTS: [&str; 3] = ["adam", "fused_adam", "sparse_adam"];

/// Where the interpreter and the script are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonReference {
    /// A python with torch, numpy and pyarrow (`bench/pytorch/.venv/bin/python`).
    pub python: PathBuf,
    /// `bench/pytorch/bench_ranking.py`.
    pub script: PathBuf,
}

/// What the script measured in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorchMeasured {
    /// Training examples/s per optimizer variant (keys of [`VARIANTS`]).
    pub train_examples_per_sec: BTreeMap<String, f64>,
    pub inference_examples_per_sec: f64,
    pub latency_batch1_ms: f64,
    /// Weights outside the embedding tables: equal to recforge's when the mirror is faithful.
    #[serde(default)]
    pub dense_parameters: usize,
    pub torch_version: String,
    pub threads: usize,
}

impl PythonReference {
    /// Check that the interpreter and the script exist, naming what to do when they don't.
    pub fn check(&self) -> Result<(), BenchError> {
        if !self.script.is_file() {
            return Err(BenchError::Setup(format!("{}: the PyTorch reference script is missing", self.script.display())));
        }
        if !self.python.is_file() {
            return Err(BenchError::Setup(format!(
                "{}: no python there; create the venv: python3 -m venv bench/pytorch/.venv && \
                 bench/pytorch/.venv/bin/pip install -r bench/pytorch/requirements.txt (or pass --python)",
                self.python.display()
            )));
        }
        Ok(())
    }

    /// Run the script once on the dataset folder `data_dir` (written by `Dataset::save`).
    pub fn run(&self, data_dir: &Path, model: &ModelConfig, work: &Workload, lr: f64, threads: usize, seed: u64) -> Result<TorchMeasured, BenchError> {
        let model_json = serde_json::to_string(model).map_err(|e| BenchError::Setup(e.to_string()))?;
        let output = Command::new(&self.python)
            .arg(&self.script)
            .arg("--data")
            .arg(data_dir)
            .args(["--model-json", &model_json])
            .args(["--batch-size", &work.batch_size.to_string()])
            .args(["--warmup-steps", &work.warmup_steps.to_string()])
            .args(["--steps", &work.steps.to_string()])
            .args(["--latency-samples", &work.latency_samples.to_string()])
            .args(["--lr", &lr.to_string()])
            .args(["--threads", &threads.to_string()])
            .args(["--seed", &seed.to_string()])
            .output()
            .map_err(|e| BenchError::Setup(format!("{}: cannot start: {e}", self.python.display())))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(BenchError::Python(format!("{} exited with {}:\n{}", self.script.display(), output.status, tail.join("\n"))));
        }
        let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or("");
        serde_json::from_str(line)
            .map_err(|e| BenchError::Python(format!("{}: unexpected output ({e}): {}", self.script.display(), stdout.trim())))
    }
}
