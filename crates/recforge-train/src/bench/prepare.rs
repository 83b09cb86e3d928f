//! `recforge bench prepare`: the time and peak memory of preparing a log (a synthetic one,
//! generated when missing, or any schema's), cold (forced) and then from the cache.

use std::path::{Path, PathBuf};
use std::time::Instant;

use recforge_data::{Progress, Schema, TaskOptions};
use serde::{Deserialize, Serialize};

use super::BenchError;

/// What preparing cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareReport {
    pub source: PathBuf,
    pub source_bytes: u64,
    pub rows: u64,
    /// Seconds of the synthetic log's generation, when this run generated it.
    pub generated_seconds: Option<f64>,
    pub cold_seconds: f64,
    pub cached_seconds: f64,
    pub peak_rss_bytes: u64,
    pub rss_before_bytes: u64,
}

impl PrepareReport {
    /// The report as aligned text lines, as `recforge bench prepare` prints it.
    pub fn text(&self) -> String {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let mut out = String::new();
        if let Some(seconds) = self.generated_seconds {
            out += &format!("generated {} rows in {seconds:.1}s\n", self.rows);
        }
        out += &format!("source file      {:>10.1} MiB ({})\n", mib(self.source_bytes), self.source.display());
        out += &format!("rows             {:>10}\n", self.rows);
        out += &format!("prepare (cold)   {:>10.2} s  ({:.0} rows/s)\n", self.cold_seconds, self.rows_per_sec());
        out += &format!("load (cached)    {:>10.2} s\n", self.cached_seconds);
        out += &format!(
            "peak RSS         {:>10.1} MiB (before prepare {:.1} MiB); {:.2}x the file size",
            mib(self.peak_rss_bytes),
            mib(self.rss_before_bytes),
            self.peak_rss_bytes as f64 / self.source_bytes.max(1) as f64
        );
        out
    }

    pub fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.cold_seconds.max(1e-9)
    }
}

/// The schema to prepare: `schema` if given, else a synthetic log of `rows` rows in `dir`
/// (generated with seed 42 when missing); returns it and the generation time.
pub fn synthetic_schema(schema: Option<PathBuf>, rows: u64, dir: &Path) -> Result<(PathBuf, Option<f64>), BenchError> {
    if let Some(path) = schema {
        return Ok((path, None));
    }
    let path = dir.join("schema.toml");
    if path.is_file() {
        return Ok((path, None));
    }
    let started = Instant::now();
    recforge_data::write_synthetic_ctr(dir, rows, 42)?;
    Ok((path, Some(started.elapsed().as_secs_f64())))
}

/// Prepare `schema_path` cold (forced) into `cache_dir`, then load it from the cache.
pub fn prepare_bench(schema_path: &Path, cache_dir: &Path, progress: &dyn Progress) -> Result<PrepareReport, BenchError> {
    let schema = Schema::from_toml_file(schema_path)?;
    let source_bytes = std::fs::metadata(&schema.source.path).map(|m| m.len()).unwrap_or(0);
    let options = |force| TaskOptions { cache_dir: cache_dir.to_path_buf(), force, ..Default::default() };
    let rss_before_bytes = peak_rss_bytes();
    let (dataset, cold) = recforge_data::prepare(&schema, &options(true).prepare_options(progress))?;
    let peak_rss_bytes = peak_rss_bytes();
    drop(dataset);
    let (_, warm) = recforge_data::prepare(&schema, &options(false).prepare_options(progress))?;
    Ok(PrepareReport {
        source: schema.source.path.clone(),
        source_bytes,
        rows: cold.rows_kept,
        generated_seconds: None,
        cold_seconds: cold.seconds,
        cached_seconds: warm.seconds,
        peak_rss_bytes,
        rss_before_bytes,
    })
}

/// Peak resident set size of this process (Linux `VmHWM`), in bytes (0 where unreadable).
pub fn peak_rss_bytes() -> u64 {
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
