//! recforge-distill: everything about teachers.
//!
//! Teacher labels are produced once, from a continuous event stream, and stored in a
//! [`LabelStore`] keyed by example id and tagged with the teacher version, so that many
//! students of different architectures train against the same labels without running the
//! teacher again (arXiv 2408.14678 describes the production system this follows). The
//! [`labeler`] consumes an event log with a [`Teacher`] and keeps the teacher fresh.

pub mod label_store;
pub mod labeler;
pub mod teacher;

pub use label_store::{LabelStore, MemoryLabelStore, RedbLabelStore, RedisLabelStore, StoreError, TeacherVersion, open_label_store};
pub use labeler::{LabelerError, LabelerOptions, LabelerStats, RefreshOptions, run_labeler};
pub use teacher::{Teacher, TeacherError, TeacherPointer};
