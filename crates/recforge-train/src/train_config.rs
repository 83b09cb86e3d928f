//! `recforge train CONFIG`: one entry point for every model family. [`train_config`] reads the
//! config's `[model] kind` and trains either a ranking [`Run`] (lr, mlp, dcn_v2, ...) or a
//! sequential run (`sur`, `mur`, `sasrec`, `bpr`, `ease`; [`crate::retrieval::seq_run`]), each
//! into its run folder (default `runs/<config name>`).

use std::path::{Path, PathBuf};

use recforge_data::{Progress, TaskOptions};

use crate::retrieval::{SEQUENTIAL_KINDS, SeqRunConfig, SeqRunError, SeqRunOutcome, train_seq_run};
use crate::run::{RunConfig, RunError};
use crate::run_case::Run;

/// A trained run of either family.
pub enum TrainedRun {
    Ranking { run: Box<Run>, out: PathBuf },
    Sequential(Box<SeqRunOutcome>),
}

/// Why `recforge train` stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainConfigError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Sequential(#[from] SeqRunError),
}

/// The `[model] kind` of the config at `path` after `overrides`, if it names one.
fn model_kind(path: &Path, overrides: &[String]) -> Result<Option<String>, RunError> {
    let config_error = |message: String| RunError::Config { path: path.into(), message };
    let text = std::fs::read_to_string(path).map_err(|source| RunError::Io { path: path.into(), source })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| config_error(e.to_string()))?;
    recforge_data::apply_overrides(&mut table, overrides).map_err(|e| config_error(e.to_string()))?;
    Ok(table.get("model").and_then(|m| m.get("kind")).and_then(toml::Value::as_str).map(str::to_owned))
}

/// Trains the model `config` describes (after `--set` `overrides`) into `out` (default
/// `runs/<name>`); `options` apply to ranking data preparation.
pub fn train_config(
    config: &Path,
    overrides: &[String],
    out: Option<&Path>,
    options: &TaskOptions,
    progress: &dyn Progress,
) -> Result<TrainedRun, TrainConfigError> {
    let default_out = |name: &str| PathBuf::from("runs").join(name);
    if model_kind(config, overrides)?.is_some_and(|kind| SEQUENTIAL_KINDS.contains(&kind.as_str())) {
        let config = SeqRunConfig::from_file_with_overrides(config, overrides)?;
        let out = out.map_or_else(|| default_out(config.name()), Path::to_path_buf);
        return Ok(TrainedRun::Sequential(Box::new(train_seq_run(&config, &out, progress)?)));
    }
    let config = RunConfig::from_file_with_overrides(config, overrides)?;
    let out = out.map_or_else(|| default_out(config.name()), Path::to_path_buf);
    let run = Run::train_to(&config, &out, options, progress)?;
    Ok(TrainedRun::Ranking { run: Box::new(run), out })
}
