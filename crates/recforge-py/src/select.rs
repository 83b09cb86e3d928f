//! `recforge._native.select`: keep a fraction of in-memory texts with a data-selection sampler
//! (`recforge_select::run::select_texts`).

use std::path::PathBuf;

use pyo3::prelude::*;
use recforge_select::Selection;
use recforge_select::models::{ModelOptions, SamplerKind};
use recforge_select::run::{KeepOptions, select_texts};

use crate::errors::to_py;
use crate::progress::PyProgress;

/// Indices of the kept texts (ascending) and every text's score.
#[pyfunction]
#[pyo3(signature = (texts, sampler="density", keep=0.1, mode=None, threshold=None, cache=None, llm=None, encoder=None, batch_size=8, seed=0, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn select(
    py: Python<'_>,
    texts: Vec<String>,
    sampler: &str,
    keep: f64,
    mode: Option<&str>,
    threshold: Option<f32>,
    cache: Option<PathBuf>,
    llm: Option<PathBuf>,
    encoder: Option<PathBuf>,
    batch_size: usize,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Vec<usize>, Vec<f32>)> {
    let kind: SamplerKind = sampler.parse().map_err(|e: String| to_py(anyhow::anyhow!(e)))?;
    let selection = match (mode, threshold) {
        (None, None) => None,
        (Some("topk"), _) => Some(Selection::TopK),
        (Some("ipw"), _) => Some(Selection::InversePropensity),
        (Some("threshold") | None, Some(t)) => Some(Selection::Threshold(t)),
        (Some("threshold"), None) => return Err(to_py(anyhow::anyhow!("mode=\"threshold\" needs threshold=VALUE"))),
        (Some(other), _) => return Err(to_py(anyhow::anyhow!("unknown mode \"{other}\"; choose topk, threshold or ipw"))),
    };
    let models = ModelOptions { llm, encoder, ..ModelOptions::default() };
    let keep = KeepOptions { keep, selection, seed };
    let watcher = PyProgress::new(progress);
    let result = py.detach(|| select_texts(&texts, kind, &models, cache.as_deref(), batch_size, &keep, &watcher));
    let chosen = watcher.finish(result)?;
    Ok((chosen.kept, chosen.scores))
}
