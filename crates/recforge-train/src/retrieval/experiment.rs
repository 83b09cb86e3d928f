//! The multi-interest retrieval experiment of arXiv 2308.01563 on one dataset: popularity,
//! SUR, MUR, MUR + inverse-frequency weights, MUR + IDW and MUR + IDW + calibration (and, on
//! request, SASRec as the sequential reference on the same split and protocols), over
//! several seeds, with HR@{10,50,100,200} overall/head/tail under full-corpus ranking and 99
//! sampled negatives. [`run_zoo`] writes `results.json` (after every trained row, so an
//! interrupted run keeps what finished), `table.md`, `report.html` and, for the first seed, one
//! retrieval run directory per trained row (loadable by [`super::RetrievalRun::load`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use recforge_data::{Dataset, Progress, TaskOptions};
use recforge_models::layers::seed_dropout;
use recforge_models::retrieval::idw::{IdwConfig, example_weights, uniform_weights};
use recforge_models::retrieval::{RetrievalModel, RetrievalModelConfig};
use serde::{Deserialize, Serialize};

use super::datasets::SequenceDataset;
use super::evaluate::{EvalSplit, RetrievalMetrics, evaluate_model, evaluate_popularity, evaluate_with};
use super::fit::{Selection, Stage, train_stage};
use super::idw_loop::{IdwRound, run_idw};
use super::report::{markdown_tables, render_html};
use super::architecture::SequentialModel;
use super::run::{RetrievalRunInfo, RunVocabulary, save_run};
use super::{RetrievalData, RetrievalError, RetrievalTrainConfig};
use crate::run::RunError;
use crate::sasrec::{SasRecError, SasRecTrainConfig, score_histories, train_sasrec};

/// The experiment's rows, in table order.
pub const ROWS: [&str; 7] = ["popularity", "sasrec", "sur", "mur", "mur-invfreq", "mur-idw", "mur-idw-cal"];
/// The rows run when none are named: all but SASRec (the reference, run on request).
pub const DEFAULT_ROWS: [&str; 6] = ["popularity", "sur", "mur", "mur-invfreq", "mur-idw", "mur-idw-cal"];
/// What [`run_zoo`] writes into its output folder.
pub const RESULTS_FILE: &str = "results.json";
pub const TABLE_FILE: &str = "table.md";
pub const REPORT_FILE: &str = "report.html";

/// What the experiment trains.
#[derive(Debug, Clone)]
pub struct ZooConfig {
    /// Training settings shared by every row (its `seed` is replaced by each of `seeds`).
    pub train: RetrievalTrainConfig,
    /// Number of user vectors H of the multi-interest rows.
    pub interests: usize,
    /// Training seeds; the data split and the evaluation negatives do not move with them.
    pub seeds: Vec<u64>,
    pub idw: IdwConfig,
    /// The rows to run, a subset of [`ROWS`] (empty = [`DEFAULT_ROWS`]); `mur-idw` and
    /// `mur-idw-cal` start from a trained `mur`, which is trained for them even when not listed.
    pub rows: Vec<String>,
    /// SASRec's sizes and training (its `epochs`, `patience` and `seed` are taken from `train`).
    pub sasrec: SasRecTrainConfig,
}

impl ZooConfig {
    /// Whether `row` is run.
    pub fn runs(&self, row: &str) -> bool {
        if self.rows.is_empty() { DEFAULT_ROWS.contains(&row) } else { self.rows.iter().any(|r| r == row) }
    }
}

/// One row's test metrics for one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowResult {
    pub row: String,
    pub seed: u64,
    pub test: RetrievalMetrics,
    pub seconds: f64,
}

/// Everything `results.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZooResults {
    pub dataset: String,
    pub config: RetrievalTrainConfig,
    pub interests: usize,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    pub results: Vec<RowResult>,
    /// Per seed, the IDW rounds (validation head/tail HR@200).
    pub idw_rounds: BTreeMap<u64, Vec<IdwRound>>,
}

/// Why the experiment stopped.
#[derive(Debug, thiserror::Error)]
pub enum ZooError {
    #[error("no training seed given: pass at least one (e.g. --seeds 42)")]
    NoSeeds,
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    SasRec(#[from] SasRecError),
    #[error("the prepared dataset carries no {0}; declare user and item features in the schema")]
    Vocabulary(&'static str),
    #[error("unknown row {0:?}: expected some of {ROWS:?}")]
    UnknownRow(String),
}

/// Trains and evaluates every row for every seed on `dataset`, writing into `out`.
pub fn run_zoo(dataset: &SequenceDataset, config: &ZooConfig, out: &Path, progress: &dyn Progress) -> Result<ZooResults, ZooError> {
    let Some(&first_seed) = config.seeds.first() else { return Err(ZooError::NoSeeds) };
    if let Some(unknown) = config.rows.iter().find(|r| !ROWS.contains(&r.as_str())) {
        return Err(ZooError::UnknownRow(unknown.clone()));
    }
    let (prepared, _) = recforge_data::prepare(&dataset.schema, &TaskOptions::default().prepare_options(progress))?;
    let data = RetrievalData::from_dataset(&prepared, &config.train)?;
    std::fs::create_dir_all(out).map_err(|source| RunError::Io { path: out.into(), source })?;
    tracing::info!(
        dataset = dataset.name.as_str(),
        users = data.sequences.users.len(),
        items = data.sequences.train_counts.iter().filter(|&&c| c > 0).count(),
        interactions = data.sequences.interactions(),
        training_targets = data.sequences.train_examples().len(),
        "retrieval zoo data ({}-core)",
        config.train.min_interactions
    );
    let mut zoo = Zoo {
        results: ZooResults {
            dataset: dataset.name.clone(),
            config: config.train.clone(),
            interests: config.interests,
            users: data.sequences.users.len(),
            items: data.sequences.num_items,
            interactions: data.sequences.interactions(),
            results: Vec::new(),
            idw_rounds: BTreeMap::new(),
        },
        prepared: &prepared,
        data: &data,
        out,
        first_seed,
    };
    if config.runs("popularity") {
        let popularity = evaluate_popularity(&data, EvalSplit::Test);
        for &seed in &config.seeds {
            zoo.results.results.push(RowResult { row: "popularity".into(), seed, test: popularity.clone(), seconds: 0.0 });
        }
    }
    let idw = config.runs("mur-idw") || config.runs("mur-idw-cal");
    let ones = vec![1f32; data.sequences.num_items];
    let inverse = example_weights(&uniform_weights(&data.sequences.train_counts), &data.sequences.train_counts);
    for &seed in &config.seeds {
        let train = RetrievalTrainConfig { seed, ..config.train.clone() };
        if config.runs("sasrec") {
            let started = Instant::now();
            let sasrec = SasRecTrainConfig { epochs: train.epochs, patience: train.patience, seed, ..config.sasrec.clone() };
            let (model, _) = train_sasrec(&data.sequences, &sasrec, progress)?;
            let device = Device::default();
            let test = evaluate_with(&data, EvalSplit::Test, |chunk| {
                let contexts: Vec<&[u32]> = chunk.iter().map(|&e| data.sequences.context(e, usize::MAX)).collect();
                score_histories(&model, &contexts, &device)
            });
            zoo.push("sasrec", seed, test, started.elapsed().as_secs_f64());
            write_results(out, &zoo.results)?;
        }
        for (row, interests, weights) in [("sur", 1, &ones), ("mur", config.interests, &ones), ("mur-invfreq", config.interests, &inverse)] {
            if !config.runs(row) && !(row == "mur" && idw) {
                continue;
            }
            let started = Instant::now();
            let stage = Stage {
                name: format!("{row} s{seed}"),
                example_weights: weights,
                lr: train.lr,
                max_epochs: train.epochs,
                freeze_items: false,
                selection: Selection::Ndcg,
                seed,
            };
            let (model, _) = train_stage(fresh_model(&data, &train, interests), &data, &train, &stage, progress)?;
            if config.runs(row) {
                zoo.record(row, &model, &train, started.elapsed().as_secs_f64())?;
            }
            if row == "mur" && idw {
                let started = Instant::now();
                let outcome = run_idw(model, &data, &train, &config.idw, progress)?;
                let seconds = started.elapsed().as_secs_f64();
                if config.runs("mur-idw") {
                    zoo.record("mur-idw", &outcome.idw, &train, seconds)?;
                }
                if config.runs("mur-idw-cal") {
                    zoo.record("mur-idw-cal", &outcome.calibrated, &train, seconds)?;
                }
                zoo.results.idw_rounds.insert(seed, outcome.rounds);
            }
            write_results(out, &zoo.results)?;
        }
    }
    write_report(out, &zoo.results)?;
    Ok(zoo.results)
}

/// Reads the `results.json` of an earlier (possibly interrupted) run in `out`.
pub fn read_results(out: &Path) -> Result<ZooResults, RunError> {
    let path = out.join(RESULTS_FILE);
    let text = std::fs::read(&path).map_err(|source| RunError::Io { path: path.clone(), source })?;
    serde_json::from_slice(&text).map_err(|e| RunError::Config { path, message: e.to_string() })
}

/// Writes `table.md` and `report.html` of `results` into `out`; returns the tables.
pub fn write_report(out: &Path, results: &ZooResults) -> Result<String, RunError> {
    let table = markdown_tables(results);
    write(&out.join(TABLE_FILE), table.as_bytes())?;
    write(&out.join(REPORT_FILE), render_html(results, &table).as_bytes())?;
    Ok(table)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    std::fs::write(path, bytes).map_err(|source| RunError::Io { path: path.into(), source })
}

fn write_results(out: &Path, results: &ZooResults) -> Result<(), RunError> {
    let path = out.join(RESULTS_FILE);
    let text = serde_json::to_vec_pretty(results).map_err(|e| RunError::Config { path: path.clone(), message: e.to_string() })?;
    write(&path, &text)
}

/// A fresh model on the autodiff device, initialised from the training seed.
pub(crate) fn fresh_model(data: &RetrievalData, config: &RetrievalTrainConfig, interests: usize) -> RetrievalModel {
    let device = Device::default().autodiff();
    device.seed(config.seed);
    seed_dropout(config.seed);
    RetrievalModelConfig::new_default(&data.items, interests, config.dim).init(&device)
}

/// The experiment in progress.
struct Zoo<'a> {
    results: ZooResults,
    prepared: &'a Dataset,
    data: &'a RetrievalData,
    out: &'a Path,
    first_seed: u64,
}

impl Zoo<'_> {
    /// Evaluates `model` on the test targets, stores the row, and saves a run directory for
    /// the first seed.
    fn record(&mut self, row: &str, model: &RetrievalModel, config: &RetrievalTrainConfig, seconds: f64) -> Result<(), ZooError> {
        let model = model.valid();
        let test = evaluate_model(&model, self.data, EvalSplit::Test, config.seq_len, &Device::default());
        self.push(row, config.seed, test, seconds);
        if config.seed == self.first_seed {
            self.save_model_run(row, &model, config)?;
        }
        Ok(())
    }

    /// Stores one row's test metrics and logs them.
    fn push(&mut self, row: &str, seed: u64, test: RetrievalMetrics, seconds: f64) {
        tracing::info!(
            "{row:<12} seed {seed}: test full NDCG@10 {:.4} HR@50 {:.4} HR@200 {:.4} (head {:.4}, tail {:.4}) · sampled HR@10 {:.4} · {seconds:.0}s",
            test.full.ndcg_at(10),
            test.full.get("overall", 50),
            test.full.get("overall", 200),
            test.full.get("head", 200),
            test.full.get("tail", 200),
            test.sampled.get("overall", 10)
        );
        self.results.results.push(RowResult { row: row.into(), seed, test, seconds });
    }

    fn save_model_run(&self, row: &str, model: &RetrievalModel, config: &RetrievalTrainConfig) -> Result<(), ZooError> {
        let vocabulary = RunVocabulary::of(self.prepared, &self.data.sequences).ok_or(ZooError::Vocabulary("item and user vocabularies"))?;
        let interests = model.user.queries.dims()[0];
        let info = RetrievalRunInfo {
            model: row.into(),
            dataset: self.results.dataset.clone(),
            seed: config.seed,
            seq_len: config.seq_len,
            model_config: RetrievalModelConfig::new_default(&self.data.items, interests, config.dim).into(),
            items: vocabulary.items,
            users: vocabulary.users,
        };
        let model = SequentialModel::Towers(model.clone());
        let item_vectors = model.item_vectors(Some(&self.data.items));
        save_run(&self.out.join(row), &info, &model, item_vectors.as_ref(), &vocabulary.histories)?;
        Ok(())
    }
}

/// The default output folder of a dataset: `runs/retrieval-zoo-<stem>`.
pub fn default_out(dataset: &SequenceDataset) -> PathBuf {
    PathBuf::from(format!("runs/retrieval-zoo-{}", dataset.folder_stem))
}
