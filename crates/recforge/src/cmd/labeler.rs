//! `recforge labeler --events URL --labels URL --teacher RUN_DIR`: the teacher-label service.
//! Consumes an event log in a consumer group, scores events with the teacher in batches and
//! writes labels; offsets are committed only after the labels are durable
//! ([`recforge_distill::replay::run_labeler_job`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use recforge_data::TaskOptions;
use recforge_distill::replay::{LabelerJob, run_labeler_job};
use recforge_distill::{LabelerOptions, RefreshOptions};

#[derive(ClapArgs)]
pub struct Args {
    /// Event log: file://DIR (one consumer process per group; scale with --workers),
    /// redis://HOST:PORT[/STREAM] or redis+cluster://HOST:PORT[,HOST:PORT…][/STREAM] (several
    /// labeler processes share the group).
    #[arg(long)]
    events: String,
    /// Label store: file://PATH (a redb file), redis://HOST:PORT[/NAME], redis+cluster://HOST:PORT[,HOST:PORT…][/NAME] or mem://.
    #[arg(long)]
    labels: String,
    /// The teacher: a run directory written by `recforge train`.
    #[arg(long)]
    teacher: PathBuf,
    /// The version the teacher's labels are stored under (refreshes count up from it).
    #[arg(long, default_value_t = 1)]
    teacher_version: u64,
    /// Threads scoring each batch, each with its own copy of the teacher.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Consumer group.
    #[arg(long, default_value = "labelers")]
    group: String,
    /// This labeler's name in the group (default labeler-<pid>); restart under the same
    /// name to get its unacknowledged Redis events back at once.
    #[arg(long)]
    consumer: Option<String>,
    /// Events per batch (one label write and one offset commit each).
    #[arg(long = "batch-size", alias = "batch", default_value_t = 512)]
    batch: usize,
    /// Refresh the teacher after this many labelled events: fine-tune it on the newest
    /// --refresh-window events, save it as a new version under --refresh-dir and label with
    /// it from then on.
    #[arg(long)]
    refresh_every: Option<u64>,
    /// Events kept for refreshing.
    #[arg(long, default_value_t = 20_000)]
    refresh_window: usize,
    /// Mini-batches of fine-tuning per refresh.
    #[arg(long, default_value_t = 20)]
    refresh_steps: usize,
    /// Where refreshed teachers and the CURRENT pointer live; labelers given the same folder
    /// without --refresh-every follow the published version.
    #[arg(long)]
    refresh_dir: Option<PathBuf>,
    /// Stop after labelling this many events.
    #[arg(long = "limit", alias = "max-events")]
    max_events: Option<u64>,
    /// Stop after this many seconds without a new event (default: run until killed).
    #[arg(long)]
    idle_exit: Option<f64>,
    /// How long Redis calls keep retrying a lost connection, in seconds (default: until Redis
    /// is back, warning every 30 s). A URL's own `retries=N` or `retry_secs=S` wins.
    #[arg(long)]
    redis_retry_secs: Option<f64>,
    /// Serve Prometheus metrics (labels/s, lag, dead letters, teacher version) at
    /// http://ADDR/metrics while running, e.g. 127.0.0.1:9464.
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Write the run's statistics (labels/s, lag percentiles, forward passes) as JSON here.
    #[arg(long = "out", alias = "stats-json")]
    stats_json: Option<PathBuf>,
    /// Print the run's statistics as JSON on stdout (nothing else goes to stdout).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let refresh = match (&args.refresh_dir, args.refresh_every) {
        (Some(dir), every) => Some(RefreshOptions { every: every.unwrap_or(0), window: args.refresh_window, steps: args.refresh_steps, dir: dir.clone() }),
        (None, Some(_)) => anyhow::bail!("--refresh-every needs --refresh-dir (where the refreshed teachers are written)"),
        (None, None) => None,
    };
    let defaults = LabelerOptions::default();
    let options = LabelerOptions {
        group: args.group,
        consumer: args.consumer.unwrap_or(defaults.consumer),
        batch: args.batch,
        workers: args.workers,
        max_events: args.max_events,
        idle_exit: args.idle_exit.map(Duration::from_secs_f64),
        refresh,
        ..defaults
    };
    let job = LabelerJob { teacher: args.teacher, teacher_version: args.teacher_version, events: args.events, labels: args.labels, redis_retry_secs: args.redis_retry_secs, metrics_addr: args.metrics_addr, options };
    let stats = run_labeler_job(&job, &TaskOptions::default(), crate::progress::console())?;
    if let Some(path) = &args.stats_json {
        std::fs::write(path, serde_json::to_vec_pretty(&stats)?).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    println!(
        "labelled {} events in {:.2}s: {:.0} labels/s, lag p50 {:.0} ms p99 {:.0} ms, {} teacher forward passes, {} refreshes, versions {:?}, {} dead letters",
        stats.events,
        stats.seconds,
        stats.labels_per_sec,
        stats.lag_ms_p50,
        stats.lag_ms_p99,
        stats.forward_passes,
        stats.refreshes,
        stats.versions,
        stats.dead_letters
    );
    Ok(())
}
