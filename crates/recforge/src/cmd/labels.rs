//! `recforge labels stats|export --labels URL`: what a label store holds — labels per teacher
//! version, and with `--events URL` the events with no label, ids carried by several events and
//! labels of no event — and one version's labels as Parquet
//! ([`recforge_distill::label_store::label_stats`], [`recforge_distill::label_store::export_labels`]).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use recforge_distill::label_store::{export_labels_at, label_stats_at};

#[derive(Subcommand)]
pub enum LabelsCommand {
    /// Labels per teacher version; with --events, the ids with no label or in several events.
    #[command(disable_version_flag = true)]
    Stats(StatsArgs),
    /// Write one version's labels as Parquet (id, label, version) for training elsewhere.
    #[command(disable_version_flag = true)]
    Export(ExportArgs),
}

#[derive(Args)]
pub struct StatsArgs {
    /// Label store: file://PATH (redb), redis://HOST:PORT[/NAME] or redis+cluster://HOST:PORT[,HOST:PORT…][/NAME].
    #[arg(long)]
    labels: String,
    /// Only this teacher version.
    #[arg(long = "version", id = "teacher_version")]
    teacher_version: Option<u64>,
    /// Check every event of this log: file://DIR, redis://HOST:PORT[/STREAM] or redis+cluster://…[/STREAM].
    #[arg(long)]
    events: Option<String>,
    /// JSON on stdout (nothing else goes to stdout).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Label store: file://PATH (redb), redis://HOST:PORT[/NAME] or redis+cluster://HOST:PORT[,HOST:PORT…][/NAME].
    #[arg(long)]
    labels: String,
    /// The teacher version to export.
    #[arg(long = "version", id = "teacher_version")]
    teacher_version: u64,
    /// The Parquet file to write.
    #[arg(long)]
    out: PathBuf,
    /// JSON on stdout (nothing else goes to stdout).
    #[arg(long)]
    json: bool,
}

pub fn run(command: LabelsCommand) -> Result<()> {
    match command {
        LabelsCommand::Stats(args) => {
            let stats = label_stats_at(&args.labels, args.teacher_version, args.events.as_deref())?;
            match args.json {
                true => println!("{}", serde_json::to_string_pretty(&stats)?),
                false => println!("{stats}"),
            }
        }
        LabelsCommand::Export(args) => {
            let outcome = export_labels_at(&args.labels, args.teacher_version, &args.out)?;
            match args.json {
                true => println!("{}", serde_json::to_string_pretty(&outcome)?),
                false => println!("wrote {} labels of version {} to {}", outcome.rows, outcome.version, outcome.path.display()),
            }
        }
    }
    Ok(())
}
