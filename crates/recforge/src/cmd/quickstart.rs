//! `recforge quickstart`: the tour of the product, end to end on real data.
//!
//! Fetches MovieLens-1M if it is missing, prepares it as a CTR task (label = rating ≥ 4),
//! trains logistic regression and an MLP over the EmbeddingStore, tests both, and writes
//! `runs/quickstart/` (the MLP run with metrics.json, checkpoint and report.html; the LR
//! baseline beside it in `runs/quickstart/baseline-lr/`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use recforge_train::RunConfig;

use crate::cmd::train;
use recforge_data::paths;

/// The quickstart's data schema and model configs, built into the binary so the command runs
/// from any folder; the same files are in configs/.
const ML1M_SCHEMA: &str = include_str!("../../../../configs/data/ml1m.toml");
const ML1M_MLP: &str = include_str!("../../../../configs/ml1m_ctr_mlp.toml");
const ML1M_LR: &str = include_str!("../../../../configs/ml1m_ctr_lr.toml");

#[derive(ClapArgs)]
pub struct Args {
    /// Where to write the run.
    #[arg(long, default_value = "runs/quickstart")]
    out: PathBuf,
    /// Override the number of epochs (default: the config's).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    let ratings = paths::data_dir().join("ml-1m").join("ml-1m.inter");
    if !ratings.is_file() {
        println!("MovieLens-1M not found at {}; fetching it first.", ratings.display());
        recforge_data::fetch::fetch(Some("ml-1m"), false)?;
    }
    let inputs = args.out.join("inputs");
    std::fs::create_dir_all(inputs.join("data")).with_context(|| format!("creating {}", inputs.display()))?;
    std::fs::write(inputs.join("data").join("ml1m.toml"), ML1M_SCHEMA)?;
    std::fs::write(inputs.join("ml1m_ctr_mlp.toml"), ML1M_MLP)?;
    std::fs::write(inputs.join("ml1m_ctr_lr.toml"), ML1M_LR)?;

    let mut results = Vec::new();
    for (file, out) in [("ml1m_ctr_lr.toml", args.out.join("baseline-lr")), ("ml1m_ctr_mlp.toml", args.out.clone())] {
        let mut config = RunConfig::from_file(&inputs.join(file))?;
        config.train.seed = args.seed;
        if let Some(epochs) = args.epochs {
            config.train.epochs = epochs;
        }
        println!("== training {} on MovieLens-1M CTR ==", config.model.name());
        let metrics = train::train_config(&config, &out, false, true)?;
        results.push((config.model.name(), metrics));
    }

    println!("\nMovieLens-1M CTR (label = rating >= 4), test split:");
    println!("{:<6} {:>8} {:>9} {:>14} {:>12}", "model", "AUC", "logloss", "train ex/s", "parameters");
    for (name, m) in &results {
        println!(
            "{:<6} {:>8.4} {:>9.4} {:>14.0} {:>12}",
            name,
            m["auc"].as_f64().unwrap_or(f64::NAN),
            m["logloss"].as_f64().unwrap_or(f64::NAN),
            m["train_examples_per_sec"].as_f64().unwrap_or(f64::NAN),
            m["parameters"]
        );
    }
    println!("\nreport: {}", args.out.join("report.html").display());
    Ok(())
}
