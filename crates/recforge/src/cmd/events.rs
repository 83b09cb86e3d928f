//! `recforge events replay DATASET --to URL [--rate R]`: a dataset as a timed event stream, in
//! timestamp order, for demos, tests and benchmarks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use recforge_data::{Event, Schema, open_event_log};


#[derive(Subcommand)]
pub enum EventsCommand {
    /// Append a dataset's rows to an event log in timestamp order.
    Replay(ReplayArgs),
}

#[derive(Args)]
pub struct ReplayArgs {
    /// A dataset name (`ml1m`, `ml100k`, `obd`: configs/data/<name>.toml) or a schema TOML.
    dataset: String,
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
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Where dataset names are looked up.
    #[arg(long, default_value = "configs/data")]
    configs: PathBuf,
}

pub fn run(command: EventsCommand) -> Result<()> {
    match command {
        EventsCommand::Replay(args) => replay(&args),
    }
}

fn schema_path(dataset: &str, configs: &Path) -> Result<PathBuf> {
    let direct = PathBuf::from(dataset);
    if direct.is_file() {
        return Ok(direct);
    }
    let named = configs.join(format!("{dataset}.toml"));
    if named.is_file() {
        return Ok(named);
    }
    bail!("{dataset:?} is neither a schema file nor a dataset in {} (try ml1m, ml100k or obd)", configs.display())
}

fn replay(args: &ReplayArgs) -> Result<()> {
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        bail!("--rate must be a finite number of events per second, 0 for unthrottled (got {})", args.rate);
    }
    let path = schema_path(&args.dataset, &args.configs)?;
    let schema = Schema::from_toml_file(&path).with_context(|| format!("reading {}", path.display()))?;
    let (data, _) = recforge_data::prepare(&schema, &recforge_data::TaskOptions::default().prepare_options(crate::progress::console()))?;
    let encoder = data.encoder.clone().ok_or_else(|| anyhow!("the prepared dataset has no encoder; re-prepare it with --force"))?;
    let mut order: Vec<usize> = (0..data.len()).collect();
    if let Some(ts) = &data.timestamps {
        order.sort_by_key(|&r| (ts[r], r));
    } else {
        tracing::warn!("{} has no timestamp column: replaying in file order", path.display());
    }
    order.truncate(args.limit.unwrap_or(usize::MAX));
    let log = open_event_log(&args.to)?;
    let batch = if args.rate > 0.0 { ((args.rate / 100.0) as usize).clamp(1, args.batch.max(1)) } else { args.batch.max(1) };
    let bar = ProgressBar::new(order.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("replay [{bar:30}] {pos}/{len} events · {per_sec} · ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut first_offset = None;
    for (i, rows) in order.chunks(batch).enumerate() {
        if args.rate > 0.0 {
            let due = Duration::from_secs_f64((i * batch) as f64 / args.rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let events: Vec<Event> = rows.iter().map(|&r| Event::from_dataset_row(&data, &encoder, r)).collect();
        let offset = log.append(&events)?;
        first_offset.get_or_insert(offset);
        bar.inc(rows.len() as u64);
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "appended {} events of {} to {} (offsets {}..{}) in {:.2}s: {:.0} events/s",
        order.len(),
        schema.name,
        args.to,
        first_offset.unwrap_or(0),
        first_offset.unwrap_or(0) + order.len() as u64,
        seconds,
        order.len() as f64 / seconds.max(1e-9)
    );
    Ok(())
}
