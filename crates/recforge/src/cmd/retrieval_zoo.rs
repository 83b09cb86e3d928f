//! `recforge retrieval-zoo`: the multi-interest retrieval experiment
//! ([`recforge_train::retrieval::experiment`]) — parse, run, print the tables.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_models::retrieval::idw::IdwConfig;
use recforge_train::retrieval::experiment::{self, RESULTS_FILE};
use recforge_train::retrieval::report::markdown_tables;
use recforge_train::retrieval::{RetrievalTrainConfig, SequenceDataset, ZooConfig};
use recforge_train::sasrec::SasRecTrainConfig;

#[derive(ClapArgs)]
pub struct Args {
    /// `ml-1m`, `ml-100k` (or `ml1m`, `ml100k`), or a schema TOML declaring user, item,
    /// timestamp and item-side features.
    #[arg(long)]
    dataset: String,
    /// Training seeds (comma-separated); the data split and evaluation negatives do not move.
    #[arg(long, alias = "seed", value_delimiter = ',', default_value = "42,43,44")]
    seeds: Vec<u64>,
    /// Output folder (default runs/retrieval-zoo-<dataset>, e.g. runs/retrieval-zoo-ml1m).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rows to run (comma-separated; default all but sasrec): popularity, sasrec, sur, mur,
    /// mur-invfreq, mur-idw, mur-idw-cal. The IDW rows train mur as their starting point;
    /// sasrec is the sequential reference (d 50, 2 blocks) on the same split and protocols.
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
    /// Maximum epochs of the first training of each model (early stopping on valid NDCG@10;
    /// this and the training flags below default to `RetrievalTrainConfig`'s values).
    #[arg(long, default_value_t = RetrievalTrainConfig::default().epochs)]
    epochs: usize,
    /// Maximum epochs of each IDW retraining and of calibration.
    #[arg(long, default_value_t = RetrievalTrainConfig::default().stage_epochs)]
    stage_epochs: usize,
    /// Epochs without validation improvement before a stage stops.
    #[arg(long, default_value_t = RetrievalTrainConfig::default().patience)]
    patience: usize,
    /// At most this many training targets per user per epoch, redrawn each epoch (default all).
    #[arg(long)]
    max_examples_per_user: Option<usize>,
    /// Training examples per in-batch softmax step.
    #[arg(long, default_value_t = RetrievalTrainConfig::default().batch_size)]
    batch_size: usize,
    /// Softmax temperature.
    #[arg(long, default_value_t = RetrievalTrainConfig::default().temperature)]
    temperature: f64,
    /// Embedding / user vector width d.
    #[arg(long, default_value_t = RetrievalTrainConfig::default().dim)]
    dim: usize,
    /// Number of user vectors H of MUR.
    #[arg(long, default_value_t = 3)]
    interests: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = RetrievalTrainConfig::default().lr)]
    lr: f64,
    /// Weight of the head-disagreement loss (0 = off).
    #[arg(long, default_value_t = RetrievalTrainConfig::default().disagreement)]
    disagreement: f64,
    /// Train without the logQ correction of the in-batch softmax.
    #[arg(long)]
    no_logq: bool,
    /// Keep duplicate in-batch targets as negatives (accidental hits are removed by default).
    #[arg(long)]
    no_mask_duplicates: bool,
    /// Train nothing: rewrite table.md and report.html from the results.json already in the
    /// output folder (e.g. of an interrupted run; rows cover the seeds that finished).
    #[arg(long)]
    report_only: bool,
    /// Print results.json on stdout instead of the tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let dataset = SequenceDataset::resolve(&args.dataset)?;
    let out = args.out.clone().unwrap_or_else(|| experiment::default_out(&dataset));
    let (results, table) = if args.report_only {
        let results = experiment::read_results(&out)?;
        let table = experiment::write_report(&out, &results)?;
        (results, table)
    } else {
        let config = ZooConfig {
            train: RetrievalTrainConfig {
                epochs: args.epochs,
                stage_epochs: args.stage_epochs,
                patience: args.patience,
                max_examples_per_user: args.max_examples_per_user,
                batch_size: args.batch_size,
                temperature: args.temperature,
                dim: args.dim,
                lr: args.lr,
                disagreement: args.disagreement,
                logq: !args.no_logq,
                mask_duplicates: !args.no_mask_duplicates,
                ..RetrievalTrainConfig::default()
            },
            interests: args.interests,
            seeds: args.seeds,
            idw: IdwConfig::default(),
            rows: args.rows,
            sasrec: SasRecTrainConfig::default(),
        };
        let results = experiment::run_zoo(&dataset, &config, &out, crate::progress::console())?;
        let table = markdown_tables(&results);
        (results, table)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{table}");
        println!("wrote {}/{RESULTS_FILE}, table.md, report.html", out.display());
    }
    Ok(())
}
