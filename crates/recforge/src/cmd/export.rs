//! `recforge export RUN_DIR --low-rank R --prune-last-layer [--finetune-steps N] [--out DIR]`:
//! the serving form of a trained Hiformer (composite Q/K/V factorised by truncated SVD, last
//! layer computed for the task tokens only), optionally fine-tuned for a few steps, written as
//! a run directory `recforge eval` reads. Prints test AUC and serving latency against the
//! original; `--ranks 4,8,16,32` sweeps several ranks.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::Args as ClapArgs;
use recforge_models::ModelConfig;
use recforge_models::Ranker;
use recforge_models::ranking::to_serving;
use recforge_train::{RunConfig, RunDir, TrainedModel, evaluate, fine_tune, serving_latency};
use serde_json::{Value, json};

use crate::cmd::zoo::{LATENCY_BATCHES, variant_name};

#[derive(ClapArgs)]
pub struct Args {
    /// A Hiformer run directory written by `recforge train` (or `recforge zoo`).
    run_dir: PathBuf,
    /// Factorise the composite Q/K/V projections to this rank (truncated SVD).
    #[arg(long, conflicts_with = "ranks")]
    low_rank: Option<usize>,
    /// Sweep several ranks instead (each variant is written to OUT/<variant>).
    #[arg(long, value_delimiter = ',')]
    ranks: Vec<usize>,
    /// Compute the last layer for the task tokens only (exact: the head reads nothing else).
    #[arg(long)]
    prune_last_layer: bool,
    /// Fine-tune each factorised model for this many steps on the training split (0 = none).
    #[arg(long, default_value_t = 0)]
    finetune_steps: usize,
    /// Output folder (default RUN_DIR/serving).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Timed requests per latency measurement.
    #[arg(long, default_value_t = 200)]
    latency_calls: usize,
}

pub fn run(args: Args) -> Result<()> {
    let run = RunDir::open(&args.run_dir)?;
    let config = run.load_config()?;
    let ModelConfig::Hiformer(hiformer_config) = &config.model else {
        bail!(
            "{} holds a {} model; the serving export factorises Hiformer's composite projections (train a kind = \"hiformer\" config)",
            args.run_dir.display(),
            config.model.name()
        );
    };
    let ranks: Vec<Option<usize>> = match (args.low_rank, args.ranks.is_empty()) {
        (Some(r), _) => vec![Some(r)],
        (None, false) => args.ranks.iter().map(|&r| Some(r)).collect(),
        (None, true) => vec![None],
    };
    if ranks == [None] && !args.prune_last_layer {
        bail!("nothing to export: pass --low-rank R (or --ranks), --prune-last-layer, or both");
    }
    let task = recforge_data::Task::load(&config.data.schema, &recforge_data::TaskOptions::default(), crate::progress::console())?;
    let device = Device::default();
    let trained = run.load_model(&config, &task.dataset, &device)?;
    let Ranker::Hiformer(model) = &trained.model else { bail!("the run's weights are not a Hiformer") };
    let out = args.out.clone().unwrap_or_else(|| args.run_dir.join("serving"));
    let single = ranks.len() == 1;

    let original = measure("original", &trained, &config, &task, &args, &device);
    let mut rows = vec![original.clone()];
    for rank in ranks {
        let (served, exported) = to_serving(model.clone(), hiformer_config, rank, args.prune_last_layer)?;
        let mut variant_config = config.clone();
        variant_config.model = ModelConfig::Hiformer(exported);
        let mut variant =
            TrainedModel { config: variant_config.model.clone(), model: Ranker::Hiformer(served), store: trained.store.clone() };
        if args.finetune_steps > 0 && rank.is_some() {
            eprintln!("fine-tuning rank {} for {} steps", rank.unwrap_or(0), args.finetune_steps);
            variant = fine_tune(variant, &variant_config.train, &task.dataset, &task.split, args.finetune_steps, true)
                .context("fine-tuning the factorised model")?;
        }
        let mut name = if args.prune_last_layer { variant_name(rank) } else { format!("hiformer-r{}", rank.unwrap_or(0)) };
        if args.finetune_steps > 0 && rank.is_some() {
            name += &format!("-ft{}", args.finetune_steps);
        }
        let mut row = measure(&name, &variant, &variant_config, &task, &args, &device);
        row["auc_change"] = json!(row["auc"].as_f64().unwrap_or(f64::NAN) - original["auc"].as_f64().unwrap_or(f64::NAN));
        for batch in LATENCY_BATCHES {
            let key = format!("p50_ms_batch{batch}");
            let speedup = original[&key].as_f64().unwrap_or(f64::NAN) / row[&key].as_f64().unwrap_or(f64::NAN);
            row[format!("speedup_batch{batch}")] = json!(speedup);
        }
        let dir = if single { out.clone() } else { out.join(&name) };
        let variant_run = RunDir::create(&dir)?;
        variant_run.save_config(&variant_config)?;
        variant_run.save_model(&variant)?;
        variant_run.write_json(RunDir::METRICS, &row)?;
        row["dir"] = json!(dir.display().to_string());
        rows.push(row);
    }
    println!("{}", table(&rows));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("export.json"), serde_json::to_vec_pretty(&rows)?)?;
    println!("\nexport written to {} (export.json; `recforge eval` reads each variant folder)", out.display());
    Ok(())
}

fn measure(name: &str, trained: &TrainedModel, config: &RunConfig, task: &recforge_data::Task, args: &Args, device: &Device) -> Value {
    let test = evaluate(&trained.model, &trained.store, &task.dataset, &task.split.test, config.train.eval_batch_size, device);
    let mut row = json!({
        "variant": name,
        "auc": test.auc,
        "logloss": test.logloss,
        "parameters": trained.num_parameters(),
        "dense_parameters": trained.model.num_params(),
    });
    for batch in LATENCY_BATCHES {
        let l = serving_latency(&trained.model, &trained.store, &task.dataset, &task.split.test, batch, args.latency_calls, device);
        row[format!("p50_ms_batch{batch}")] = json!(l.p50_ms);
        row[format!("p99_ms_batch{batch}")] = json!(l.p99_ms);
    }
    row
}

fn table(rows: &[Value]) -> String {
    let mut out = String::from(
        "| variant | test AUC | ΔAUC | logloss | dense params | p50 ms b1 | p50 ms b256 | speed-up b1 | speed-up b256 |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let f = |r: &Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    for r in rows {
        out += &format!(
            "| {} | {:.4} | {:+.4} | {:.4} | {} | {:.3} | {:.3} | {:.2}× | {:.2}× |\n",
            r["variant"].as_str().unwrap_or("?"),
            f(r, "auc"),
            r["auc_change"].as_f64().unwrap_or(0.0),
            f(r, "logloss"),
            r["dense_parameters"],
            f(r, "p50_ms_batch1"),
            f(r, "p50_ms_batch256"),
            r["speedup_batch1"].as_f64().unwrap_or(1.0),
            r["speedup_batch256"].as_f64().unwrap_or(1.0),
        );
    }
    out
}
