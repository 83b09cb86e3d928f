//! `recforge events replay --dataset ml-1m --to URL [--rate R]`: a dataset as a timed event
//! stream, in timestamp order, for demos, tests and benchmarks ([`recforge_distill::replay`]).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use recforge_data::TaskOptions;
use recforge_distill::replay::{ReplayOptions, replay, schema_for};

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Append a dataset's rows to an event log in timestamp order.
    Replay(ReplayArgs),
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The dataset, as a name or a schema TOML (same as --dataset / --data).
    #[arg(value_name = "DATASET", conflicts_with_all = ["dataset", "data"])]
    positional: Option<String>,
    /// A named dataset: ml-1m, ml-100k, obd (configs/data/<name>.toml; ml1m and ml100k also work).
    #[arg(long, conflicts_with = "data")]
    dataset: Option<String>,
    /// A data schema TOML.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The event log: file://DIR or redis://HOST:PORT[/STREAM].
    #[arg(long)]
    to: String,
    /// Events per second (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Replay only the first N events (in time order).
    #[arg(long)]
    limit: Option<usize>,
    /// Events per append (one fsync or one Redis round trip each).
    #[arg(long = "batch-size", alias = "batch", default_value_t = 1000)]
    batch: usize,
    /// Where dataset names are looked up.
    #[arg(long, default_value = "configs/data")]
    configs: PathBuf,
    /// Print what was appended as JSON on stdout (nothing else goes to stdout).
    #[arg(long)]
    json: bool,
}

pub fn run(command: EventsCommand) -> Result<()> {
    let EventsCommand::Replay(args) = command;
    let schema = match (&args.data, args.dataset.as_ref().or(args.positional.as_ref())) {
        (Some(path), _) => path.clone(),
        (None, Some(name)) => schema_for(name, &args.configs)?,
        (None, None) => bail!("name the dataset: --dataset ml-1m (or ml-100k, obd), or --data SCHEMA.toml"),
    };
    let options = ReplayOptions { rate: args.rate, limit: args.limit, batch: args.batch };
    let out = replay(&schema, &args.to, &options, &TaskOptions::default(), crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "appended {} events of {} to {} (offsets {}..{}) in {:.2}s: {:.0} events/s",
        out.events,
        out.dataset,
        out.to,
        out.first_offset,
        out.first_offset + out.events as u64,
        out.seconds,
        out.events_per_sec
    );
    Ok(())
}
