//! Seed tables: each config trained with several seeds on the same split, one row of mean ±
//! sample std per config ([`seed_table`]), rendered as markdown by [`markdown`].

use std::path::{Path, PathBuf};

use recforge_data::{Progress, TaskOptions};
use serde::{Deserialize, Serialize};

use crate::metrics::mean_std;
use crate::run::{RunConfig, RunError};
use crate::run_case::{Run, RunMetrics};

/// One config's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    pub config: String,
    pub model: String,
    pub dataset: String,
    pub split: String,
    pub auc_mean: f64,
    pub auc_std: f64,
    pub logloss_mean: f64,
    pub logloss_std: f64,
    pub train_examples_per_sec: f64,
    pub parameters: usize,
    pub seeds: usize,
}

impl TableRow {
    /// The row of `config` from its runs' metrics (at least one).
    pub fn of(config: &str, runs: &[RunMetrics]) -> TableRow {
        let column = |f: fn(&RunMetrics) -> f64| mean_std(&runs.iter().map(f).collect::<Vec<_>>());
        let (auc_mean, auc_std) = column(|m| m.auc);
        let (logloss_mean, logloss_std) = column(|m| m.logloss);
        let first = &runs[0];
        TableRow {
            config: config.to_string(),
            model: first.model.clone(),
            dataset: first.dataset.clone(),
            split: first.split.clone(),
            auc_mean,
            auc_std,
            logloss_mean,
            logloss_std,
            train_examples_per_sec: column(|m| m.train_examples_per_sec).0,
            parameters: first.parameters,
            seeds: runs.len(),
        }
    }
}

/// Train every config with every seed into `out/<config name>/seed-<seed>` (after applying
/// `overrides` to each config) and summarise each config in a row.
pub fn seed_table(
    configs: &[PathBuf],
    seeds: &[u64],
    out: &Path,
    overrides: &[String],
    progress: &dyn Progress,
) -> Result<Vec<TableRow>, RunError> {
    let mut rows = Vec::new();
    for path in configs {
        let base = RunConfig::from_file_with_overrides(path, overrides)?;
        let mut runs = Vec::new();
        for &seed in seeds {
            let config = RunConfig { train: crate::TrainConfig { seed, ..base.train.clone() }, ..base.clone() };
            tracing::info!("== {} seed {seed} ==", base.name());
            let run = Run::train_to(&config, &out.join(base.name()).join(format!("seed-{seed}")), &TaskOptions::default(), progress)?;
            runs.extend(run.metrics);
        }
        if !runs.is_empty() {
            rows.push(TableRow::of(base.name(), &runs));
        }
    }
    Ok(rows)
}

/// The table in markdown.
pub fn markdown(rows: &[TableRow], seeds: &[u64]) -> String {
    let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
    let mut out =
        String::from("| config | model | split | AUC | logloss | train ex/s | parameters |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {:.4} ± {:.4} | {:.4} ± {:.4} | {:.0} | {} |\n",
            r.config, r.model, r.split, r.auc_mean, r.auc_std, r.logloss_mean, r.logloss_std, r.train_examples_per_sec, r.parameters,
        );
    }
    out + &format!("\nseeds: {} (mean ± sample std)", seeds.join(", "))
}
