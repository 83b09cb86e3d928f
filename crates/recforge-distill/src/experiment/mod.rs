//! The `recforge distill CONFIG.toml` use case: load the task, run the config's mode, write
//! `results.json` and `report.html` into the output folder, and return typed results.
//!
//! One module per mode: [`labels`] (teacher → labels once → students no-KD / direct / aux, and
//! teacher search), [`committee`] (DiverseDistill), [`talking`] (Talking Models), [`levi`]; the
//! committee and talking modes share their teachers and summary ([`panel`]); [`report`] renders
//! every mode as Markdown and HTML.

pub mod committee;
pub mod labels;
pub mod levi;
pub mod panel;
pub mod report;
pub mod talking;

use std::path::{Path, PathBuf};

use recforge_data::{Dataset, Progress, Split, Task, TaskOptions};
use recforge_train::RunDir;
use serde::Serialize;

use crate::config::{ConfigError, DistillConfig, DistillMode};
use crate::pipeline::PipelineError;

pub use labels::LabelsResults;
pub use levi::LeviResults;
pub use panel::PanelResults;

/// Why an experiment stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Run(#[from] recforge_train::run::RunError),
    #[error(transparent)]
    Train(#[from] recforge_train::TrainError),
    #[error("label store {url}: {source}")]
    LabelStore { url: String, source: crate::label_store::StoreError },
    #[error(transparent)]
    Foundation(#[from] crate::foundation::FoundationError),
    #[error("the foundation teacher: text model {model} / cache {cache}: {source}")]
    FoundationOpen { model: PathBuf, cache: PathBuf, source: crate::foundation::FoundationError },
    #[error(transparent)]
    NoHiddenState(#[from] crate::frozen::NoHiddenState),
    #[error(transparent)]
    Genres(#[from] crate::levi::GenreShiftError),
    #[error(transparent)]
    LeviModel(#[from] crate::levi::LeviModelError),
    #[error("{0}")]
    Invalid(String),
}

/// Where and how to run a config.
#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    /// The config file (recorded in the results).
    pub config_path: PathBuf,
    /// Output folder (results.json, report.html, teacher run folders).
    pub out: PathBuf,
    /// How to prepare the data.
    pub task: TaskOptions,
    /// Skip the `[search]` table even if the config has one (labels mode).
    pub no_search: bool,
}

impl ExperimentOptions {
    /// Defaults for `config_path`: output in `runs/<config name>`.
    pub fn new(config_path: &Path, config: &DistillConfig) -> Self {
        ExperimentOptions {
            config_path: config_path.to_path_buf(),
            out: PathBuf::from("runs").join(config.name()),
            task: TaskOptions::default(),
            no_search: false,
        }
    }
}

/// The results of one config, by mode; serialised as `results.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum DistillResults {
    Labels(Box<LabelsResults>),
    /// Committee or talking.
    Panel(Box<PanelResults>),
    Levi(Box<LeviResults>),
}

impl DistillResults {
    /// The results tables as Markdown (what the command prints).
    pub fn markdown(&self) -> String {
        match self {
            DistillResults::Labels(r) => report::labels_markdown(r),
            DistillResults::Panel(r) => report::panel_markdown(r),
            DistillResults::Levi(r) => report::levi_markdown(r),
        }
    }

    /// The self-contained HTML report.
    pub fn html(&self) -> String {
        match self {
            DistillResults::Labels(r) => report::labels_html(r),
            DistillResults::Panel(r) => report::panel_html(r),
            DistillResults::Levi(r) => report::levi_html(r),
        }
    }
}

/// What a run wrote and returned.
#[derive(Debug, Clone)]
pub struct DistillOutcome {
    pub results: DistillResults,
    pub results_path: PathBuf,
    pub report_path: PathBuf,
}

/// The rows every mode reports about its data (flattened into `results.json`).
#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {
    pub name: String,
    pub config: PathBuf,
    pub dataset: String,
    pub teacher_rows: usize,
    pub student_rows: usize,
    pub valid_examples: usize,
    pub test_examples: usize,
}

impl DataSummary {
    fn new(config: &DistillConfig, options: &ExperimentOptions, dataset: &Dataset, split: &Split, windows: &crate::pipeline::Windows) -> Self {
        DataSummary {
            name: config.name().to_string(),
            config: options.config_path.clone(),
            dataset: dataset.meta.name.clone(),
            teacher_rows: windows.teacher.train.len(),
            student_rows: windows.student.train.len(),
            valid_examples: split.valid.len(),
            test_examples: split.test.len(),
        }
    }
}

/// Mean ± standard deviation over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Stat {
        let values: Vec<f64> = values.into_iter().collect();
        let (mean, std) = recforge_train::metrics::mean_std(&values);
        Stat { mean, std }
    }
}

/// Runs `config`: prepares its data, runs its mode, writes `results.json` and `report.html`
/// into `options.out`.
pub fn run(config: &DistillConfig, options: &ExperimentOptions, progress: &dyn Progress) -> Result<DistillOutcome, ExperimentError> {
    let task = Task::load(&config.data.schema, &options.task, progress)?;
    let (dataset, split) = (&task.dataset, &task.split);
    let run_dir = RunDir::create(&options.out)?;
    let results = match config.mode {
        DistillMode::Labels => DistillResults::Labels(Box::new(labels::run(config, options, dataset, split, progress)?)),
        DistillMode::Committee | DistillMode::Talking => {
            DistillResults::Panel(Box::new(panel::run(config, options, dataset, split, progress)?))
        }
        DistillMode::Levi => DistillResults::Levi(Box::new(levi::run(config, options, dataset, split, progress)?)),
    };
    run_dir.write_json("results.json", &results)?;
    run_dir.write(RunDir::REPORT, results.html().as_bytes())?;
    Ok(DistillOutcome { results, results_path: run_dir.file("results.json"), report_path: run_dir.file(RunDir::REPORT) })
}
