//! `recforge labeler --events URL --labels URL --teacher RUN_DIR`: the teacher-label service.
//! Consumes an event log in a consumer group, scores events with the teacher in batches and
//! writes labels; offsets are committed only after the labels are durable.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};
use recforge_data::{Schema, open_event_log};
use recforge_distill::{LabelerOptions, RefreshOptions, Teacher, open_label_store, run_labeler};
use recforge_train::RunDir;


#[derive(ClapArgs)]
pub struct Args {
    /// Event log: file://DIR (one consumer process per group; scale with --workers) or
    /// redis://HOST:PORT[/STREAM] (several labeler processes share the group).
    #[arg(long)]
    events: String,
    /// Label store: file://PATH (a redb file), redis://HOST:PORT[/NAME] or mem://.
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
    #[arg(long, default_value_t = 512)]
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
    #[arg(long)]
    max_events: Option<u64>,
    /// Stop after this many seconds without a new event (default: run until killed).
    #[arg(long)]
    idle_exit: Option<f64>,
    /// Write the run's statistics (labels/s, lag percentiles, forward passes) as JSON here.
    #[arg(long)]
    stats_json: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let run = RunDir::open(&args.teacher)?;
    let config = run.load_config()?;
    let schema = Schema::from_toml_file(&config.data.schema)
        .with_context(|| format!("reading the teacher's data schema {}", config.data.schema.display()))?;
    let (dataset, _) = recforge_data::prepare(&schema, &recforge_data::TaskOptions::default().prepare_options(crate::progress::console()))?;
    let encoder = dataset.encoder.clone().ok_or_else(|| anyhow!("the teacher's prepared dataset has no encoder; re-prepare it with --force"))?;
    drop(dataset);
    let teacher = Teacher::load(&args.teacher, args.teacher_version, Arc::clone(&encoder))?;
    let log = open_event_log(&args.events)?;
    let store = open_label_store(&args.labels)?;
    let refresh = match (&args.refresh_dir, args.refresh_every) {
        (Some(dir), every) => Some(RefreshOptions { every: every.unwrap_or(0), window: args.refresh_window, steps: args.refresh_steps, dir: dir.clone() }),
        (None, Some(_)) => anyhow::bail!("--refresh-every needs --refresh-dir (where the refreshed teachers are written)"),
        (None, None) => None,
    };
    let mut options = LabelerOptions {
        group: args.group.clone(),
        batch: args.batch,
        workers: args.workers,
        max_events: args.max_events,
        idle_exit: args.idle_exit.map(Duration::from_secs_f64),
        refresh,
        ..LabelerOptions::default()
    };
    if let Some(name) = &args.consumer {
        options.consumer = name.clone();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("labeler {spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar.set_message(format!("waiting for events on {}", args.events));
    let stats = run_labeler(log.as_ref(), store.as_ref(), teacher, &options, |s| {
        bar.set_message(format!("{} events · {:.0} labels/s · teacher v{}", s.events, s.labels_per_sec, s.versions.last().copied().unwrap_or(0)));
    });
    bar.finish_and_clear();
    let stats = stats?;
    println!(
        "labelled {} events in {:.2}s: {:.0} labels/s, lag p50 {:.0} ms p99 {:.0} ms, {} teacher forward passes, {} refreshes, versions {:?}",
        stats.events, stats.seconds, stats.labels_per_sec, stats.lag_ms_p50, stats.lag_ms_p99, stats.forward_passes, stats.refreshes, stats.versions
    );
    if let Some(path) = &args.stats_json {
        std::fs::write(path, serde_json::to_vec_pretty(&stats)?).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
