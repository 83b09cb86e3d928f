//! recforge-train: the one training step loop ([`run_loop`] over a [`Learner`]), metrics, evaluation and run directories shared by every
//! recforge model. The trainer never names a model: it drives anything behind
//! `recforge_models::RankingModel` through the `Ranker` enum. Two-tower retrieval training (IDW,
//! calibration, hit rates) lives apart in [`retrieval`], SASRec next-item training in [`sasrec`].

pub mod bench;
pub mod config;
pub mod evaluate;
pub mod html;
pub mod latency;
pub mod metrics;
pub mod retrieval;
pub mod run;
pub mod sasrec;
pub mod step_loop;
pub mod trainer;

pub use config::{DenseOptimizer, TrainConfig};
pub use latency::{Latency, serving_latency};
pub use evaluate::{EvalMetrics, evaluate, labels_of, predict};
pub use run::{RunConfig, RunDir};
pub use step_loop::{EpochStats, Learner, LoopConfig, LoopError, LoopOutcome, run_loop};
pub use trainer::{
    EpochRecord, FitOutcome, HardLabels, Objective, ObjectiveError, TrainError, TrainedModel, bce_with_logits, fine_tune, fit, fit_with,
};
