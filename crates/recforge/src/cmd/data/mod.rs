//! `recforge data fetch | inspect | prepare | synth | align-ml100k`.

mod align_ml100k;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use recforge_data::{Dataset, Format, PrepareReport, Schema, TaskOptions};

use recforge_data::paths;

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
    /// Write the train/valid/test part of every row (`row,part` CSV, rows in file order) of the
    /// split a schema declares, so another tool can train and test on exactly the same rows.
    #[command(name = "export-split")]
    ExportSplit(ExportSplitArgs),
    /// Rewrite MovieLens-100K in MovieLens-1M's vocabulary (item ids, age groups, occupation
    /// codes), so models trained on ML-1M read it (configs/data/ml100k_as_ml1m_temporal.toml).
    #[command(name = "align-ml100k")]
    AlignMl100k(align_ml100k::Args),
}

#[derive(Args)]
pub struct FetchArgs {
    /// Comma-separated groups: ml-1m, ml-100k, obd, adult, minilm, smollm2, text (default: all).
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
        DataCommand::Fetch(args) => Ok(recforge_data::fetch::fetch(args.only.as_deref(), args.check)?),
        DataCommand::Inspect(args) => {
            let schema = args.schema.as_deref().map(Schema::from_toml_file).transpose()?;
            let report = recforge_data::inspect(&args.path, Format::Auto, schema.as_ref(), args.max_rows)?;
            println!("{report}");
            Ok(())
        }
        DataCommand::Prepare(args) => {
            let schema = Schema::from_toml_file(&args.schema)?;
            let options = TaskOptions {
                cache_dir: args.cache_dir.unwrap_or_else(paths::prepared_cache_dir),
                skip_bad_rows: args.skip_bad_rows,
                force: args.force,
            };
            let (data, report) = recforge_data::prepare(&schema, &options.prepare_options(crate::progress::console()))?;
            print_summary(&data, &report);
            Ok(())
        }
        DataCommand::AlignMl100k(args) => align_ml100k::run(args),
        DataCommand::ExportSplit(args) => {
            let task = recforge_data::Task::load(&args.schema, &TaskOptions::default(), crate::progress::console())?;
            match args.format {
                SplitFormat::Rows => {
                    let out = args.out.unwrap_or_else(|| PathBuf::from("split.csv"));
                    task.write_split_assignment(&out)?;
                    eprintln!("wrote {} ({} train, {} valid, {} test rows)", out.display(), task.split.train.len(), task.split.valid.len(), task.split.test.len());
                }
                SplitFormat::Recbole => {
                    let name = recforge_data::paths::stem_name(&args.schema);
                    let out = args.out.unwrap_or_else(|| PathBuf::from("runs/recbole"));
                    let export = recforge_data::recbole_export::export_task(&task, &out, &name, args.min_interactions)?;
                    eprintln!(
                        "wrote {} ({} users, {} items, {} interactions); RecBole: data_path {}, dataset {}, eval_args split LS valid_and_test, order TO",
                        export.path.display(),
                        export.users,
                        export.items,
                        export.interactions,
                        out.display(),
                        export.dataset
                    );
                }
            }
            Ok(())
        }
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

#[derive(Args)]
pub struct ExportSplitArgs {
    /// The data schema TOML whose split to export.
    schema: PathBuf,
    /// `rows`: the `row,part` CSV of the schema's split. `recbole`: the leave-one-out
    /// histories (user, item, timestamp declared) as a RecBole atomic `.inter` file whose
    /// temporal leave-one-out split is recforge's.
    #[arg(long, value_enum, default_value_t = SplitFormat::Rows)]
    format: SplitFormat,
    /// Where to write: the CSV (default split.csv), or the folder that gets
    /// `<schema stem>/<schema stem>.inter` (default runs/recbole).
    #[arg(long)]
    out: Option<PathBuf>,
    /// `recbole` only: k-core of the histories (users and items with fewer interactions are
    /// dropped), as the retrieval and sequential trainers use.
    #[arg(long, default_value_t = 5)]
    min_interactions: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SplitFormat {
    Rows,
    Recbole,
}
