//! `recforge export RUN_DIR --low-rank R --prune-last-layer [--finetune-steps N] [--out DIR]`:
//! the serving form of a trained Hiformer, each variant written as a run folder `recforge
//! eval` reads (`recforge_train::export::export_serving`); `--ranks 4,8,16,32` sweeps ranks.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_train::export::{ExportOptions, export_serving, markdown};

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
    /// Print export.json's rows only.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let ranks = match (args.low_rank, args.ranks.is_empty()) {
        (Some(r), _) => vec![Some(r)],
        (None, false) => args.ranks.iter().map(|&r| Some(r)).collect(),
        (None, true) => vec![None],
    };
    let out = args.out.unwrap_or_else(|| args.run_dir.join("serving"));
    let options = ExportOptions {
        ranks,
        prune_last_layer: args.prune_last_layer,
        finetune_steps: args.finetune_steps,
        out: out.clone(),
        latency_calls: args.latency_calls,
    };
    let rows = export_serving(&args.run_dir, &options, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{}", markdown(&rows));
    println!("\nexport written to {} (export.json; `recforge eval` reads each variant folder)", out.display());
    Ok(())
}
