//! `recforge data fetch | inspect | prepare | synth | align-ml100k`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use recforge_data::{Dataset, Format, PrepareOptions, PrepareReport, Schema, Split};

use crate::paths;

/// The fetch script and its checksum manifest travel inside the binary, so `recforge data
/// fetch` works from any folder.
const FETCH_SCRIPT: &str = include_str!("../../../../scripts/fetch-data.sh");
const CHECKSUMS: &str = include_str!("../../../../scripts/data-checksums.sha256");

#[derive(Subcommand)]
pub enum DataCommand {
    /// Fetch the real datasets and models named in DATA.md into $RECFORGE_DATA (default ./data).
    Fetch(FetchArgs),
    /// Print inferred columns, types, cardinalities, missing values and the label rate of a file.
    Inspect(InspectArgs),
    /// Prepare (encode and cache) the dataset a schema declares; prints a summary.
    Prepare(PrepareArgs),
    /// Write a synthetic CTR log with a planted signal, and the schema that reads it.
    Synth(SynthArgs),
    /// Rewrite MovieLens-100K in MovieLens-1M's vocabulary (item ids, age groups, occupation
    /// codes), so models trained on ML-1M read it (configs/data/ml100k_as_ml1m_temporal.toml).
    #[command(name = "align-ml100k")]
    AlignMl100k(crate::cmd::align_ml100k::Args),
}

#[derive(Args)]
pub struct FetchArgs {
    /// Comma-separated groups: ml-1m, ml-100k, obd, minilm, smollm2, text (default: all).
    #[arg(long)]
    only: Option<String>,
    /// Verify what is present against the checksums; fetch nothing.
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
pub struct InspectArgs {
    /// A CSV, TSV, Parquet, RecBole atomic or Open Bandit file.
    path: PathBuf,
    /// A schema TOML; its label column gives the label rate.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Stop after this many rows (default: read the whole file).
    #[arg(long)]
    max_rows: Option<u64>,
}

#[derive(Args)]
pub struct PrepareArgs {
    /// The data schema TOML.
    schema: PathBuf,
    /// Skip malformed rows (counted and reported) instead of stopping at the first one.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Rebuild even when a cached preparation exists.
    #[arg(long)]
    force: bool,
    /// Where prepared datasets are cached (default $RECFORGE_DATA/prepared).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct SynthArgs {
    /// Output folder (gets synthetic.csv and schema.toml).
    #[arg(long, default_value = "data/synthetic")]
    out: PathBuf,
    /// Number of rows.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Fetch(args) => fetch(args.only.as_deref(), args.check),
        DataCommand::Inspect(args) => {
            let schema = args.schema.as_deref().map(Schema::from_toml_file).transpose()?;
            let report = recforge_data::inspect(&args.path, Format::Auto, schema.as_ref(), args.max_rows)?;
            println!("{report}");
            Ok(())
        }
        DataCommand::Prepare(args) => {
            let schema = Schema::from_toml_file(&args.schema)?;
            let cache_dir = args.cache_dir.unwrap_or_else(paths::prepared_cache_dir);
            let (data, report) = prepare(&schema, &cache_dir, args.skip_bad_rows, args.force)?;
            print_summary(&data, &report);
            Ok(())
        }
        DataCommand::AlignMl100k(args) => crate::cmd::align_ml100k::run(args),
        DataCommand::Synth(args) => {
            let started = Instant::now();
            let schema = recforge_data::write_synthetic_ctr(&args.out, args.rows, args.seed)?;
            println!(
                "wrote {} rows in {:.1}s; prepare with: recforge data prepare {}",
                args.rows,
                started.elapsed().as_secs_f64(),
                schema.display()
            );
            Ok(())
        }
    }
}

/// Run the embedded fetch script for `only` (None = everything).
pub fn fetch(only: Option<&str>, check: bool) -> Result<()> {
    let data = paths::data_dir();
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let data = std::fs::canonicalize(&data)?;
    let scripts = data.join(".cache").join("fetch-script");
    std::fs::create_dir_all(&scripts)?;
    std::fs::write(scripts.join("fetch-data.sh"), FETCH_SCRIPT)?;
    std::fs::write(scripts.join("data-checksums.sha256"), CHECKSUMS)?;
    let mut command = Command::new("bash");
    command.arg(scripts.join("fetch-data.sh")).env("RECFORGE_DATA", &data);
    if let Some(only) = only {
        command.args(["--only", only]);
    }
    if check {
        command.arg("--check");
    }
    let status = command.status().context("running bash (is it installed?)")?;
    if !status.success() {
        bail!("fetching data failed (see the messages above); the files can also be placed by hand under {}", data.display());
    }
    Ok(())
}

/// A prepared dataset, its split, and the schema that declared both.
pub struct Task {
    pub schema: Schema,
    pub dataset: Dataset,
    pub split: Split,
    pub prepared: PrepareReport,
}

/// Prepare (or load from cache) the dataset a schema declares and split it; when the schema
/// asks for sampled negatives they are added per split, after splitting.
pub fn load_task(schema_path: &Path, skip_bad_rows: bool) -> Result<Task> {
    let schema = Schema::from_toml_file(schema_path)
        .with_context(|| format!("reading the data schema {}", schema_path.display()))?;
    let (dataset, prepared) = prepare(&schema, &paths::prepared_cache_dir(), skip_bad_rows, false)?;
    let split = dataset.split(&schema.split)?;
    let (dataset, split) = match &schema.negatives {
        Some(negatives) => recforge_data::sample_negatives_into_split(&dataset, &split, negatives.per_positive, negatives.seed)?,
        None => (dataset, split),
    };
    Ok(Task { schema, dataset, split, prepared })
}

/// Prepare with a progress bar over the bytes of the main file.
pub fn prepare(schema: &Schema, cache_dir: &Path, skip_bad_rows: bool, force: bool) -> Result<(Dataset, PrepareReport)> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("preparing {prefix} [{bar:30}] {bytes}/{total_bytes} · {msg} · ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(schema.name.clone());
    let progress_bar = bar.clone();
    let options = PrepareOptions {
        cache_dir: cache_dir.to_path_buf(),
        skip_bad_rows,
        force,
        progress: Some(Box::new(move |rows, read, total| {
            progress_bar.set_length(total);
            progress_bar.set_position(read);
            progress_bar.set_message(format!("{rows} rows"));
        })),
    };
    let result = recforge_data::prepare(schema, &options);
    bar.finish_and_clear();
    let (data, report) = result?;
    if report.rows_skipped > 0 {
        tracing::warn!(
            skipped = report.rows_skipped,
            "skipped malformed rows (--skip-bad-rows); first: {}",
            report.first_errors.first().map(String::as_str).unwrap_or("")
        );
    }
    Ok((data, report))
}

/// A short human summary of a prepared dataset.
pub fn print_summary(data: &Dataset, report: &PrepareReport) {
    let meta = &data.meta;
    println!(
        "{}: {} rows, label rate {:.4}, {} ({:.2}s{})",
        meta.name,
        meta.rows,
        meta.label_rate,
        report.cache_path.display(),
        report.seconds,
        if report.cache_hit { ", cached" } else { "" }
    );
    if report.rows_skipped > 0 {
        println!("skipped {} malformed rows of {}", report.rows_skipped, report.rows_read);
    }
    println!("{:<24} {:<18} {:>12}", "feature", "kind", "cardinality");
    for feature in &meta.features {
        println!("{:<24} {:<18} {:>12}", feature.name, format!("{:?}", feature.kind), feature.cardinality);
    }
}
