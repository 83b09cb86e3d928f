//! `recforge runs list [DIR] | show RUN | compare RUN RUN... [--out compare.html]`: browse run
//! folders (`recforge_train::runs`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use recforge_train::runs::{compare, list, show};

#[derive(Subcommand)]
pub enum RunsCommand {
    /// Every run folder under DIR: name, model, dataset, test AUC, logloss, date.
    List(ListArgs),
    /// One run's metrics and config.
    Show(ShowArgs),
    /// Runs side by side: metrics, the config keys that differ; `--out` writes an HTML page
    /// with their validation curves overlaid.
    Compare(CompareArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Folder holding run folders (searched a few levels deep).
    #[arg(default_value = "runs")]
    dir: PathBuf,
    /// Print JSON only.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    run: PathBuf,
    /// Print JSON only.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Two or more run folders.
    #[arg(required = true, num_args = 2..)]
    runs: Vec<PathBuf>,
    /// Write an HTML comparison page here (validation curves overlaid, both tables).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON only.
    #[arg(long)]
    json: bool,
}

pub fn run(command: RunsCommand) -> Result<()> {
    match command {
        RunsCommand::List(args) => {
            let entries = list(&args.dir)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(());
            }
            let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(4).max(4);
            println!("{:<width$}  {:<18} {:<16} {:>8} {:>8}  {}", "name", "model", "dataset", "AUC", "logloss", "date");
            let number = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
            for e in &entries {
                let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
                println!(
                    "{:<width$}  {:<18} {:<16} {:>8} {:>8}  {}",
                    e.name,
                    text(&e.model),
                    text(&e.dataset),
                    number(e.auc),
                    number(e.logloss),
                    text(&e.date)
                );
            }
        }
        RunsCommand::Show(args) => {
            let details = show(&args.run)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&details)?);
                return Ok(());
            }
            println!("run {}", details.path.display());
            match &details.metrics {
                Some(metrics) => metrics.rows().iter().for_each(|(k, v)| println!("  {k:<24} {v}")),
                None => println!("  (metrics.json is not a training run's metrics)"),
            }
            println!("config:");
            details.config_keys().iter().for_each(|(k, v)| println!("  {k} = {v}"));
        }
        RunsCommand::Compare(args) => {
            if args.runs.len() < 2 {
                bail!("compare needs two or more run folders");
            }
            let comparison = compare(&args.runs)?;
            if let Some(out) = &args.out {
                std::fs::write(out, comparison.html()).with_context(|| format!("writing {}", out.display()))?;
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&comparison)?);
                return Ok(());
            }
            print!("{}", comparison.text());
            if let Some(out) = &args.out {
                println!("\ncomparison page: {}", out.display());
            }
        }
    }
    Ok(())
}
