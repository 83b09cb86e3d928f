//! recforge-distill: everything about teachers.
//!
//! Teacher labels are produced once, from a continuous event stream, and stored in a
//! [`LabelStore`] keyed by example id and tagged with the teacher version, so that many
//! students of different architectures train against the same labels without running the
//! teacher again (arXiv 2408.14678 describes the production system this follows). The
//! [`labeler`] consumes an event log with a [`Teacher`] and keeps the teacher fresh.
//!
//! Training side: KD losses ([`kd`]), no / direct / auxiliary-head distillation
//! ([`aux_head`]), the `recforge distill` steps ([`pipeline`], configured by [`config`]) and
//! teacher search under a budget ([`teacher_search`]). The whole `recforge distill` use case,
//! one module per mode with typed results and its report, is [`experiment::run`]; a dataset
//! replayed into an event log is [`replay`].
//!
//! Knowledge from foundation models (issue 9): frozen teachers queried online ([`frozen`]), the
//! text-model teacher ([`foundation`]), DiverseDistill committees ([`committee`]), Talking Models
//! ([`talking`]) and LEVI layer-wise ensembles ([`levi`]).

pub mod aux_head;
pub mod committee;
pub mod config;
pub mod experiment;
pub mod foundation;
pub mod frozen;
pub mod held_module;
pub mod kd;
pub mod label_store;
pub mod labeler;
pub mod labeler_metrics;
pub mod lag_sketch;
pub mod levi;
pub mod pipeline;
pub mod replay;
pub mod talking;
pub mod teacher;
pub mod teacher_search;
#[cfg(test)]
mod test_support;

pub use aux_head::{AuxHead, AuxHeadConfig, DistillError, DistillObjective, KdMode, shared_bottom_width};
pub use config::{DistillConfig, DistillMode, Refresh, StudentSection, TeacherSpec};
pub use experiment::{DistillOutcome, DistillResults, ExperimentError, ExperimentOptions};
pub use kd::{KdConfig, SoftLabelForm, kd_loss, kd_loss_mixture};
pub use label_store::{LabelStore, MemoryLabelStore, RedbLabelStore, RedisLabelStore, StoreError, TeacherVersion, open_label_store};
pub use labeler::{LabelerError, LabelerOptions, LabelerStats, RefreshOptions, run_labeler};
pub use pipeline::{Labeling, PipelineError, StudentResult, Windows};
pub use teacher::{Teacher, TeacherError, TeacherPointer};
pub use teacher_search::{SearchConfig, SearchOutcome, SearchPoint};
