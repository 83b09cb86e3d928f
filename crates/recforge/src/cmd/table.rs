//! `recforge table CONFIG... --seeds 42,43,44`: the same split, several seeds, mean ± std
//! (`recforge_train::table`).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use recforge_train::table::{markdown, seed_table};

#[derive(ClapArgs)]
pub struct Args {
    /// Training configs, one row each.
    #[arg(required = true)]
    configs: Vec<PathBuf>,
    /// Seeds to average over.
    #[arg(long, value_delimiter = ',', default_value = "42,43,44")]
    seeds: Vec<u64>,
    /// Override any value of every config, e.g. `--set train.epochs=2` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Folder for the runs (one sub-folder per config and seed).
    #[arg(long, default_value = "runs/table")]
    out: PathBuf,
    /// Print the table as JSON on stdout instead of markdown (it is always written to
    /// OUT/table.json and OUT/table.md too).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.seeds.is_empty() {
        bail!("--seeds needs at least one seed");
    }
    let rows = seed_table(&args.configs, &args.seeds, &args.out, &args.set, crate::progress::console())?;
    let table = markdown(&rows, &args.seeds);
    let json = serde_json::to_string_pretty(&rows)?;
    std::fs::write(args.out.join("table.md"), &table)?;
    std::fs::write(args.out.join("table.json"), &json)?;
    if args.json {
        println!("{json}");
    } else {
        println!("{table}\ntable: {}", args.out.join("table.md").display());
    }
    Ok(())
}
