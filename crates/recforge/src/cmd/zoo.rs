//! `recforge zoo --dataset ml-1m|obd`: every ranking model on one dataset, several seeds, with
//! serving latency and the Hiformer serving variants (`recforge_train::zoo::run_zoo`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_train::zoo::{ZooOptions, config_prefix, run_zoo};

#[derive(ClapArgs)]
pub struct Args {
    /// Dataset: trains `<configs>/<dataset>_ctr_<model>.toml` for each model (ml-1m, obd, or any
    /// name you wrote configs for; `ml1m` is accepted too).
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
    /// Override any value of every config, e.g. `--set train.batch_size=4096` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Ranks of the low-rank Hiformer serving variants (each also has its last layer pruned;
    /// a pruned full-rank variant is always measured). Empty: none.
    #[arg(long, value_delimiter = ',', default_value = "4,8,16")]
    ranks: Vec<usize>,
    /// Timed requests per latency measurement.
    #[arg(long, default_value_t = 200)]
    latency_calls: usize,
    /// Print results.json's content only.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let prefix = config_prefix(&args.dataset);
    let out = args.out.unwrap_or_else(|| PathBuf::from("runs").join(format!("zoo-{prefix}")));
    let options = ZooOptions {
        dataset: prefix.to_string(),
        seeds: args.seeds,
        models: args.models,
        configs: args.configs,
        out: out.clone(),
        epochs: args.epochs,
        overrides: args.set,
        ranks: args.ranks,
        latency_calls: args.latency_calls,
    };
    let results = run_zoo(&options, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!("{}", results.markdown());
    println!("\nresults: {} · report: {}", out.join("results.json").display(), out.join("report.html").display());
    Ok(())
}
