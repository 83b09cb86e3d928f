//! The quickstart: the tour of the product, end to end on real data. Fetches MovieLens-1M if it
//! is missing, prepares it as a CTR task (label = rating ≥ 4), trains logistic regression and an
//! MLP over the EmbeddingStore, tests both, and writes `<out>/` (the MLP run with metrics.json,
//! checkpoint and report.html; the LR baseline beside it in `<out>/baseline-lr/`).

use std::path::Path;

use recforge_data::{Progress, TaskOptions, paths};

use crate::run::{RunConfig, RunError};
use crate::run_case::{Run, RunMetrics};

/// The quickstart's data schema and model configs, built in so it runs from any folder; the
/// same files are in configs/.
const ML1M_SCHEMA: &str = include_str!("../../../configs/data/ml1m.toml");
const ML1M_MLP: &str = include_str!("../../../configs/ml1m_ctr_mlp.toml");
const ML1M_LR: &str = include_str!("../../../configs/ml1m_ctr_lr.toml");

/// Run the quickstart into `out` with `seed` (and `epochs` instead of the configs' when given);
/// returns the metrics of the LR baseline and the MLP, in that order.
pub fn quickstart(out: &Path, epochs: Option<usize>, seed: u64, progress: &dyn Progress) -> Result<Vec<RunMetrics>, RunError> {
    let ratings = paths::data_dir().join("ml-1m").join("ml-1m.inter");
    if !ratings.is_file() {
        tracing::info!("MovieLens-1M not found at {}; fetching it first", ratings.display());
        recforge_data::fetch::fetch(Some("ml-1m"), false)?;
    }
    let inputs = out.join("inputs");
    for (name, text) in [("data/ml1m.toml", ML1M_SCHEMA), ("ml1m_ctr_mlp.toml", ML1M_MLP), ("ml1m_ctr_lr.toml", ML1M_LR)] {
        let path = inputs.join(name);
        let parent = path.parent().unwrap_or(&inputs);
        std::fs::create_dir_all(parent).map_err(|source| RunError::Io { path: parent.into(), source })?;
        std::fs::write(&path, text).map_err(|source| RunError::Io { path: path.clone(), source })?;
    }
    let mut results = Vec::new();
    for (file, run_out) in [("ml1m_ctr_lr.toml", out.join("baseline-lr")), ("ml1m_ctr_mlp.toml", out.to_path_buf())] {
        let mut config = RunConfig::from_file(&inputs.join(file))?;
        config.train.seed = seed;
        config.train.epochs = epochs.unwrap_or(config.train.epochs);
        tracing::info!("== training {} on MovieLens-1M CTR ==", config.model.name());
        results.extend(Run::train_to(&config, &run_out, &TaskOptions::default(), progress)?.metrics);
    }
    Ok(results)
}
