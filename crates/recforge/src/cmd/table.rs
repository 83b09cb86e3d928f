//! `recforge table CONFIG... --seeds 42,43,44`: the same split, several seeds, mean ± std.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use recforge_train::RunConfig;
use serde_json::{Value, json};

use crate::cmd::train;

#[derive(ClapArgs)]
pub struct Args {
    /// Training configs, one row each.
    #[arg(required = true)]
    configs: Vec<PathBuf>,
    /// Seeds to average over.
    #[arg(long, value_delimiter = ',', default_value = "42,43,44")]
    seeds: Vec<u64>,
    /// Folder for the runs (one sub-folder per config and seed).
    #[arg(long, default_value = "runs/table")]
    out: PathBuf,
    /// Also write the table as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    if args.seeds.is_empty() {
        bail!("--seeds needs at least one seed");
    }
    let mut rows = Vec::new();
    for path in &args.configs {
        let base = RunConfig::from_file(path)?;
        let mut runs = Vec::new();
        for &seed in &args.seeds {
            let mut config = base.clone();
            config.train.seed = seed;
            let out = args.out.join(base.name()).join(format!("seed-{seed}"));
            eprintln!("== {} seed {seed} ==", base.name());
            runs.push(train::train_config(&config, &out, false, true)?);
        }
        rows.push(summarise(base.name(), &runs));
    }
    println!("{}", markdown(&rows, &args.seeds));
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_vec_pretty(&rows)?)?;
    }
    Ok(())
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

fn summarise(name: &str, runs: &[Value]) -> Value {
    let field = |key: &str| -> Vec<f64> { runs.iter().filter_map(|r| r[key].as_f64()).collect() };
    let (auc, auc_std) = mean_std(&field("auc"));
    let (logloss, logloss_std) = mean_std(&field("logloss"));
    let (speed, _) = mean_std(&field("train_examples_per_sec"));
    json!({
        "config": name,
        "model": runs[0]["model"],
        "dataset": runs[0]["dataset"],
        "split": runs[0]["split"],
        "auc_mean": auc, "auc_std": auc_std,
        "logloss_mean": logloss, "logloss_std": logloss_std,
        "train_examples_per_sec": speed,
        "parameters": runs[0]["parameters"],
        "seeds": runs.len(),
    })
}

fn markdown(rows: &[Value], seeds: &[u64]) -> String {
    let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
    let mut out =
        String::from("| config | model | split | AUC | logloss | train ex/s | parameters |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {:.4} ± {:.4} | {:.4} ± {:.4} | {:.0} | {} |\n",
            r["config"].as_str().unwrap_or(""),
            r["model"].as_str().unwrap_or(""),
            r["split"].as_str().unwrap_or(""),
            r["auc_mean"].as_f64().unwrap_or(f64::NAN),
            r["auc_std"].as_f64().unwrap_or(f64::NAN),
            r["logloss_mean"].as_f64().unwrap_or(f64::NAN),
            r["logloss_std"].as_f64().unwrap_or(f64::NAN),
            r["train_examples_per_sec"].as_f64().unwrap_or(f64::NAN),
            r["parameters"],
        );
    }
    out + &format!("\nseeds: {} (mean ± sample std)", seeds.join(", "))
}
