//! `recforge events replay --dataset ml-1m --to URL [--rate R]`: a dataset as a timed event
//! stream, in timestamp order, for demos, tests and benchmarks ([`recforge_distill::replay`]);
//! `events stats|dead-letter|verify|repair|trim --events URL`: what is inside a log and how
//! to keep it healthy ([`recforge_data::event_log`]).

#[cfg(feature = "distill")]
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use recforge_data::event_log::{self, Retention};

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Append a dataset's rows to an event log in timestamp order.
    #[cfg(feature = "distill")]
    Replay(ReplayArgs),
    /// Records, bytes, segments, dead letters, and each consumer group's committed offset and lag.
    Stats(LogArgs),
    /// List the dead-letter log: records a consumer group could not decode or encode, with the reason.
    DeadLetter(DeadLetterArgs),
    /// Read every record of a file log; tell a torn tail (harmless) from corruption (exit 1).
    Verify(LogArgs),
    /// Repair corruption found by `verify`: a damaged record becomes a dead-lettered tombstone;
    /// a damaged frame is cut only with --truncate.
    Repair(RepairArgs),
    /// Drop old records once (never one a consumer group has not committed).
    Trim(TrimArgs),
}

#[derive(Args)]
pub struct LogArgs {
    /// The event log: file://DIR, redis://HOST:PORT[/STREAM] or redis+cluster://HOST:PORT[,HOST:PORT…][/STREAM].
    #[arg(long)]
    events: String,
    /// JSON on stdout (nothing else goes to stdout).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DeadLetterArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Skip the first N dead letters.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// List at most N.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Args)]
pub struct RepairArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Allow cutting the log at a record whose frame is damaged (losing what follows).
    #[arg(long)]
    truncate: bool,
}

#[derive(Args)]
pub struct TrimArgs {
    #[command(flatten)]
    log: LogArgs,
    /// File log: keep at most this many bytes of segments.
    #[arg(long)]
    retain_bytes: Option<u64>,
    /// Keep records appended in the last H hours.
    #[arg(long)]
    retain_hours: Option<f64>,
    /// Redis: keep at most N records (MAXLEN).
    #[arg(long)]
    retain_events: Option<u64>,
}

#[cfg(feature = "distill")]
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
    /// The event log: file://DIR, redis://HOST:PORT[/STREAM] or redis+cluster://HOST:PORT[,HOST:PORT…][/STREAM].
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
    match command {
        #[cfg(feature = "distill")]
        EventsCommand::Replay(args) => run_replay(args),
        EventsCommand::Stats(args) => {
            let stats = event_log::log_stats(&args.events)?;
            show(&stats, args.json)
        }
        EventsCommand::DeadLetter(args) => {
            let letters = event_log::list_dead_letters(&args.log.events, args.from, args.limit)?;
            if args.log.json {
                return print_json(&letters);
            }
            letters.iter().for_each(|d| println!("{d}"));
            println!("{} dead letter(s)", letters.len());
            Ok(())
        }
        EventsCommand::Verify(args) => {
            let report = event_log::verify_log(&args.events)?;
            show(&report, args.json)?;
            if report.corrupt_segments > 0 {
                anyhow::bail!("{} corrupt segment(s): run `recforge events repair --events {}`", report.corrupt_segments, args.events);
            }
            Ok(())
        }
        EventsCommand::Repair(args) => {
            show(&event_log::repair_log(&args.log.events, args.truncate)?, args.log.json)
        }
        EventsCommand::Trim(args) => {
            let retention = Retention { bytes: args.retain_bytes, hours: args.retain_hours, events: args.retain_events };
            if !retention.is_set() {
                anyhow::bail!("name what to keep: --retain-bytes N, --retain-hours H or --retain-events N");
            }
            show(&event_log::trim_log(&args.log.events, &retention)?, args.log.json)
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// JSON with --json, else the value's own text.
fn show(value: &(impl serde::Serialize + std::fmt::Display), json: bool) -> Result<()> {
    if json {
        return print_json(value);
    }
    println!("{value}");
    Ok(())
}

#[cfg(feature = "distill")]
fn run_replay(args: ReplayArgs) -> Result<()> {
    use recforge_data::TaskOptions;
    use recforge_distill::replay::{ReplayOptions, replay, schema_for};
    let schema = match (&args.data, args.dataset.as_ref().or(args.positional.as_ref())) {
        (Some(path), _) => path.clone(),
        (None, Some(name)) => schema_for(name, &args.configs)?,
        (None, None) => anyhow::bail!("name the dataset: --dataset ml-1m (or ml-100k, obd), or --data SCHEMA.toml"),
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
