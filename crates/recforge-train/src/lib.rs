//! recforge-train: the one training step loop ([`run_loop`] over a [`Learner`]), metrics, evaluation and run directories shared by every
//! recforge model, and the ranking use cases: a typed [`Run`], the model [`zoo`], seed [`table`]s,
//! run comparison ([`runs`]) and HTML [`report`]s. The trainer never names a model: it drives anything behind
//! `recforge_models::RankingModel` through the `Ranker` enum. Two-tower retrieval training (IDW,
//! calibration, hit rates) lives apart in [`retrieval`], SASRec next-item training in [`sasrec`];
//! [`train_config`] trains any family from a config's `[model] kind`.

pub mod bench;
pub mod config;
pub mod evaluate;
pub mod export;
pub mod folder;
pub mod latency;
pub mod metrics;
pub mod report;
pub mod retrieval;
pub mod run;
pub mod quickstart;
pub mod run_case;
pub mod runs;
pub mod sasrec;
pub mod step_loop;
pub mod table;
pub mod train_config;
pub mod trainer;
pub mod zoo;

pub use config::{DenseOptimizer, TrainConfig, TrainEngine};
pub use latency::{Latency, serving_latency};
pub use folder::{InMemoryScores, PredictOptions, PredictReport, RawRow, RawValue, ScoringError, ScoringModel};
pub use evaluate::{EvalMetrics, evaluate, labels_of, predict};
pub use run::{RunConfig, RunDir, RunError};
pub use run_case::{EvalReport, EvalTarget, Predictions, Run, RunMetrics};
pub use train_config::{TrainConfigError, TrainedRun, train_config};
pub use step_loop::{EpochStats, Learner, LoopConfig, LoopError, LoopOutcome, run_loop};
pub use trainer::{
    EpochRecord, FitOutcome, HardLabels, Objective, ObjectiveError, RankingLearner, TrainError, TrainedModel, bce_with_logits, fine_tune, fit,
    fit_with,
};
