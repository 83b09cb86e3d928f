//! `recforge._native.train`: a ranking config (file or TOML text) trained into a run folder
//! (`recforge_train::Run::train_to`), as `recforge train` does.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use recforge_data::TaskOptions;
use recforge_train::{Run, RunConfig};

use crate::errors::to_py;
use crate::progress::PyProgress;

/// Where the config comes from.
fn load_config(config_path: Option<PathBuf>, config_json: Option<String>, overrides: &[String]) -> anyhow::Result<RunConfig> {
    match (config_path, config_json) {
        (Some(path), None) => Ok(RunConfig::from_file_with_overrides(&path, overrides)?),
        (None, Some(json)) => {
            // A Python dict, as JSON: the same tables as a config file; relative paths are
            // resolved against the working directory.
            let text = crate::toml_from_json(&json)?;
            Ok(RunConfig::from_toml_with_overrides(&text, Path::new("<config dict>"), Path::new("."), None, overrides)?)
        }
        _ => anyhow::bail!("pass a config file path or a config dict"),
    }
}

/// Train the config and write the run folder; returns the folder's path.
#[pyfunction]
#[pyo3(signature = (config_path=None, config_json=None, overrides=Vec::new(), seed=None, epochs=None, out=None, skip_bad_rows=false, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    config_path: Option<PathBuf>,
    config_json: Option<String>,
    overrides: Vec<String>,
    seed: Option<u64>,
    epochs: Option<usize>,
    out: Option<PathBuf>,
    skip_bad_rows: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<PathBuf> {
    let mut config = load_config(config_path, config_json, &overrides).map_err(to_py)?;
    config.train.seed = seed.unwrap_or(config.train.seed);
    config.train.epochs = epochs.unwrap_or(config.train.epochs);
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(config.name()));
    let options = TaskOptions { skip_bad_rows, ..Default::default() };
    let watcher = PyProgress::new(progress);
    let result = py.detach(|| Run::train_to(&config, &out, &options, &watcher));
    watcher.finish(result)?;
    Ok(out)
}
