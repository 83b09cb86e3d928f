//! `recforge zoo --dataset ml1m|obd`: every ranking model on one dataset, the same split and
//! training budget for all, several seeds; test AUC, logloss, parameters, training speed and
//! serving latency at batch 1 and 256, plus the low-rank / pruned Hiformer serving variants.
//! Writes `runs/zoo-<dataset>/` (one run per model and seed, `results.json`, `report.html`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::Args as ClapArgs;
use recforge_models::ranking::to_serving;
use recforge_models::{ModelConfig, Ranker};
use recforge_train::{RunConfig, TrainedModel, evaluate, serving_latency};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cmd::train;
use crate::zoo_report::{self, Point};

/// Request sizes whose latency the table reports.
pub const LATENCY_BATCHES: [usize; 2] = [1, 256];

#[derive(ClapArgs)]
pub struct Args {
    /// Dataset: trains `<configs>/<dataset>_ctr_<model>.toml` for each model (ml1m, obd, or any
    /// name you wrote configs for).
    #[arg(long)]
    dataset: String,
    /// Seeds to average over.
    #[arg(long, value_delimiter = ',', default_value = "42,43,44")]
    seeds: Vec<u64>,
    /// Models to train, in table order.
    #[arg(long, value_delimiter = ',', default_value = "lr,mlp,dcn_v2,autoint,transformer,hetero_attention,hiformer")]
    models: Vec<String>,
    /// Folder holding the configs.
    #[arg(long, default_value = "configs")]
    configs: PathBuf,
    /// Output folder (default runs/zoo-<dataset>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override every config's [train] epochs (the same budget for all models).
    #[arg(long)]
    epochs: Option<usize>,
    /// Ranks of the low-rank Hiformer serving variants (each also has its last layer pruned;
    /// a pruned full-rank variant is always measured). Empty: none.
    #[arg(long, value_delimiter = ',', default_value = "4,8,16")]
    ranks: Vec<usize>,
    /// Timed requests per latency measurement.
    #[arg(long, default_value_t = 200)]
    latency_calls: usize,
}

/// One model (or serving variant) trained with one seed.
#[derive(Debug, Clone, Serialize)]
pub struct ZooRun {
    pub model: String,
    pub seed: u64,
    pub auc: f64,
    pub logloss: f64,
    pub parameters: usize,
    /// Training examples/s (of the trained model a serving variant comes from).
    pub train_examples_per_sec: f64,
    pub p50_ms_batch1: f64,
    pub p99_ms_batch1: f64,
    pub p50_ms_batch256: f64,
    pub p99_ms_batch256: f64,
}

pub fn run(args: Args) -> Result<()> {
    if args.seeds.is_empty() || args.models.is_empty() {
        bail!("--seeds and --models need at least one value each");
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("zoo-{}", args.dataset)));
    let configs = load_configs(&args)?;
    let task = recforge_data::Task::load(&configs[0].data.schema, &recforge_data::TaskOptions::default(), crate::progress::console())?;
    let device = Device::default();
    let mut runs: Vec<ZooRun> = Vec::new();
    for config in &configs {
        for &seed in &args.seeds {
            let mut config = config.clone();
            config.train.seed = seed;
            if let Some(epochs) = args.epochs {
                config.train.epochs = epochs;
            }
            eprintln!("== {} seed {seed} ==", config.model.name());
            let run_dir = out.join(config.model.name()).join(format!("seed-{seed}"));
            let (metrics, trained) = train::train_on(&config, &run_dir, &task, true)?;
            let speed = metrics["train_examples_per_sec"].as_f64().unwrap_or(f64::NAN);
            runs.push(measure(config.model.name(), seed, &metrics, speed, &trained.model, &trained, &task, &args, &device));
            if let (ModelConfig::Hiformer(hc), Ranker::Hiformer(model)) = (&config.model, &trained.model) {
                let variants = std::iter::once(None).chain(args.ranks.iter().map(|&r| Some(r)));
                for rank in variants {
                    let (served, _) = to_serving(model.clone(), hc, rank, true)?;
                    let served = Ranker::Hiformer(served);
                    let test = evaluate(&served, &trained.store, &task.dataset, &task.split.test, config.train.eval_batch_size, &device);
                    let name = variant_name(rank);
                    let metrics = json!({ "auc": test.auc, "logloss": test.logloss,
                        "parameters": served.num_params() + trained.store.num_parameters() });
                    runs.push(measure(&name, seed, &metrics, speed, &served, &trained, &task, &args, &device));
                }
            }
        }
    }
    let summary = summarise(&runs);
    let table = markdown(&summary, &args.seeds);
    println!("{table}");
    let command = format!(
        "recforge zoo --dataset {} --seeds {} --models {}{}",
        args.dataset,
        join(&args.seeds),
        args.models.join(","),
        args.epochs.map(|e| format!(" --epochs {e}")).unwrap_or_default()
    );
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let results = json!({ "dataset": args.dataset, "command": command, "seeds": args.seeds, "summary": summary, "runs": runs });
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&results)?)?;
    let plots: Vec<(String, Vec<Point>)> = [("batch1", 1), ("batch256", 256)]
        .iter()
        .map(|(key, batch)| {
            let points = summary
                .iter()
                .map(|s| Point {
                    label: s["model"].as_str().unwrap_or("?").to_string(),
                    latency_ms: s[format!("p50_ms_{key}")]["mean"].as_f64().unwrap_or(f64::NAN),
                    auc: s["auc"]["mean"].as_f64().unwrap_or(f64::NAN),
                })
                .collect();
            (format!("test AUC vs p50 latency, batch {batch}"), points)
        })
        .collect();
    let html = zoo_report::render(&format!("{} CTR", args.dataset), &table, &plots, &command);
    std::fs::write(out.join("report.html"), html)?;
    println!("\nresults: {} · report: {}", out.join("results.json").display(), out.join("report.html").display());
    Ok(())
}

/// The configs of the requested models; all must train on the same data schema (same split).
fn load_configs(args: &Args) -> Result<Vec<RunConfig>> {
    let mut configs = Vec::new();
    for model in &args.models {
        if !ModelConfig::KINDS.contains(&model.as_str()) {
            bail!("unknown model {model:?}; choose from {}", ModelConfig::KINDS.join(", "));
        }
        let path = args.configs.join(format!("{}_ctr_{model}.toml", args.dataset));
        if !path.is_file() {
            bail!("{} not found: the zoo trains <configs>/<dataset>_ctr_<model>.toml (see --configs)", path.display());
        }
        configs.push(RunConfig::from_file(&path)?);
    }
    let schema = std::fs::canonicalize(&configs[0].data.schema).unwrap_or(configs[0].data.schema.clone());
    for (config, model) in configs.iter().zip(&args.models).skip(1) {
        if std::fs::canonicalize(&config.data.schema).unwrap_or(config.data.schema.clone()) != schema {
            bail!("the {model} config reads another schema than the {} config; the zoo compares models on one split", args.models[0]);
        }
    }
    Ok(configs)
}

pub fn variant_name(rank: Option<usize>) -> String {
    match rank {
        Some(r) => format!("hiformer-r{r}-pruned"),
        None => "hiformer-pruned".to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    name: &str,
    seed: u64,
    metrics: &Value,
    speed: f64,
    model: &Ranker,
    trained: &TrainedModel,
    task: &recforge_data::Task,
    args: &Args,
    device: &Device,
) -> ZooRun {
    let latency = |batch| {
        serving_latency(model, &trained.store, &task.dataset, &task.split.test, batch, args.latency_calls, device)
    };
    let (one, many) = (latency(LATENCY_BATCHES[0]), latency(LATENCY_BATCHES[1]));
    ZooRun {
        model: name.to_string(),
        seed,
        auc: metrics["auc"].as_f64().unwrap_or(f64::NAN),
        logloss: metrics["logloss"].as_f64().unwrap_or(f64::NAN),
        parameters: metrics["parameters"].as_u64().unwrap_or(0) as usize,
        train_examples_per_sec: speed,
        p50_ms_batch1: one.p50_ms,
        p99_ms_batch1: one.p99_ms,
        p50_ms_batch256: many.p50_ms,
        p99_ms_batch256: many.p99_ms,
    }
}

const COLUMNS: [&str; 7] =
    ["auc", "logloss", "train_examples_per_sec", "p50_ms_batch1", "p99_ms_batch1", "p50_ms_batch256", "p99_ms_batch256"];

/// Mean and sample std per model and column, models in first-seen order.
fn summarise(runs: &[ZooRun]) -> Vec<Value> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        if !names.contains(&r.model.as_str()) {
            names.push(&r.model);
        }
    }
    names
        .iter()
        .map(|name| {
            let rows: Vec<Value> =
                runs.iter().filter(|r| r.model == *name).filter_map(|r| serde_json::to_value(r).ok()).collect();
            let mut entry = json!({ "model": name, "seeds": rows.len(), "parameters": rows[0]["parameters"] });
            for column in COLUMNS {
                let values: Vec<f64> = rows.iter().filter_map(|r| r[column].as_f64()).collect();
                let (mean, std) = mean_std(&values);
                entry[column] = json!({ "mean": mean, "std": std });
            }
            entry
        })
        .collect()
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

fn markdown(summary: &[Value], seeds: &[u64]) -> String {
    let mut out = String::from(
        "| model | test AUC | test logloss | parameters | train ex/s | p50 / p99 ms, batch 1 | p50 / p99 ms, batch 256 |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let get = |s: &Value, c: &str, k: &str| s[c][k].as_f64().unwrap_or(f64::NAN);
    for s in summary {
        out += &format!(
            "| {} | {:.4} ± {:.4} | {:.4} ± {:.4} | {} | {:.0} ± {:.0} | {:.2} ± {:.2} / {:.2} | {:.2} ± {:.2} / {:.2} |\n",
            s["model"].as_str().unwrap_or("?"),
            get(s, "auc", "mean"),
            get(s, "auc", "std"),
            get(s, "logloss", "mean"),
            get(s, "logloss", "std"),
            s["parameters"],
            get(s, "train_examples_per_sec", "mean"),
            get(s, "train_examples_per_sec", "std"),
            get(s, "p50_ms_batch1", "mean"),
            get(s, "p50_ms_batch1", "std"),
            get(s, "p99_ms_batch1", "mean"),
            get(s, "p50_ms_batch256", "mean"),
            get(s, "p50_ms_batch256", "std"),
            get(s, "p99_ms_batch256", "mean"),
        );
    }
    out + &format!("\nseeds: {} (mean ± sample std; p99 columns: mean over seeds)", join(seeds))
}

fn join(values: &[u64]) -> String {
    values.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

