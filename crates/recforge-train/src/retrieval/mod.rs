//! Training and evaluating two-tower retrieval models (arXiv 2308.01563): the data they
//! train on ([`data`]), one training stage with early stopping ([`fit`]), hit rates with
//! full-corpus ranking and with sampled negatives ([`evaluate`]), the iterative density
//! weighting loop followed by user-tower calibration ([`idw_loop`]), run directories
//! that a [`recforge_models::retrieval::Retriever`] loads ([`run`]), and the whole
//! multi-interest experiment with its tables and HTML report ([`experiment`], [`report`]) on
//! a named or schema-declared sequence dataset ([`datasets`]). One verb for every sequential
//! family: a [`SeqRunConfig`] ([`seq_config`]) trains SUR, MUR, SASRec, BPR-MF ([`bpr`]) or
//! EASE into a run folder ([`seq_run`]) that `recforge eval` reports on ([`eval_report`]) and
//! `recforge retrieve` serves ([`architecture`] puts the families behind one enum).

pub mod architecture;
pub mod bpr;
pub mod config;
pub mod data;
pub mod datasets;
pub mod eval_report;
pub mod evaluate;
pub mod experiment;
pub mod fit;
pub mod idw_loop;
pub mod report;
pub mod run;
pub mod seq_config;
pub mod seq_run;

pub use config::RetrievalTrainConfig;
pub use data::RetrievalData;
pub use evaluate::{EvalSplit, HitRates, KS, RetrievalMetrics, evaluate_model, evaluate_popularity};
pub use fit::{EpochLog, Selection, Stage, train_stage};
pub use idw_loop::{IdwOutcome, IdwRound, run_idw};
pub use datasets::SequenceDataset;
pub use experiment::{RowResult, ZooConfig, ZooError, ZooResults, run_zoo};
pub use architecture::{Architecture, SequentialModel};
pub use eval_report::{GroupMetrics, ProtocolMetrics, SeqEvalReport};
pub use run::{RetrievalRun, RetrievalRunInfo};
pub use seq_config::{SEQUENTIAL_KINDS, SeqModelSpec, SeqRunConfig};
pub use seq_run::{SeqEpoch, SeqRunError, SeqRunMetrics, SeqRunOutcome, evaluate_seq_run, is_seq_run, train_seq_run};

/// Why retrieval training could not run.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("no training examples: every kept user has fewer than 4 interactions")]
    NoExamples,
    #[error("{0} (or raise the softmax temperature)")]
    Loop(#[from] crate::step_loop::LoopError),
    #[error("density weighting failed: {0}")]
    Kde(#[from] recforge_models::retrieval::kde::KdeError),
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
}
