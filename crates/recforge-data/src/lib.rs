//! recforge-data: everything between a raw interaction log and a model batch.
//!
//! A TOML [`Schema`] declares a log (CSV, TSV, Parquet, RecBole atomic files or Open Bandit
//! CSV), side tables to join, the label and each feature's encoding. [`prepare`] streams the
//! log twice — fitting vocabularies and numeric statistics, then encoding — into a columnar
//! [`Dataset`] cached as Arrow IPC, so the next run loads in a fraction of a second.
//! Datasets split ([`random_split`], [`temporal_split`], [`leave_one_out`]), gather rows into
//! [`Batch`]es for training, gain sampled negatives for implicit feedback
//! ([`sample_negatives`]), and carry their [`Encoder`] so evaluation files are encoded with
//! the training vocabularies ([`encode_file`]). [`inspect`] profiles an unknown file and
//! [`write_synthetic_ctr`] writes a log with a planted signal for tests and benchmarks.
//!
//! A [`Task`] is the usual starting point: a schema's data prepared, split and given sampled
//! negatives. Long work reports to a [`Progress`] observer.
//!
//! Events stream through an [`EventLog`] (an embedded segmented file log or Redis Streams,
//! picked by URL) for labelers and other online consumers.
//!
//! Errors name the file, line and field ([`DataError`]); malformed rows are fatal unless the
//! caller asks to skip them, and then they are counted and reported.

pub mod align;
pub mod cache;
pub mod dataset;
mod decode;
pub mod encode;
pub mod encoder;
pub mod error;
pub mod event_log;
pub mod fetch;
mod fit;
pub mod inspect;
pub mod kmeans;
pub mod memory;
mod join;
pub mod negatives;
pub mod overrides;
pub mod numeric;
pub mod paths;
pub mod prepare;
pub mod progress;
pub mod reader;
#[cfg(feature = "redis")]
pub mod redis_conn;
pub mod rows;
pub mod schema;
pub mod recbole_export;
pub mod sequences;
pub mod split;
pub mod store;
pub mod synth;
pub mod task;
pub mod timestamp;
pub mod vocab;

pub use dataset::{
    Batch, Column, Dataset, DatasetMeta, FeatureLayout, FeatureMeta, SparseFeature, SparseField,
};
pub use decode::{DEFAULT_SEPARATOR, RECBOLE_SEQ_SEPARATOR};
pub use encode::{ChunkOptions, ChunkReport, ChunkedFile, encode_file};
pub use encoder::{Encoder, FittedFeature};
pub use error::{DataError, Result};
pub use event_log::{Consumer, DeadLetter, Delivery, Event, EventLog, EventLogError, FeatureValue, LogStats, RawDelivery, Retention, encode_events, open_event_log};
pub use inspect::{ColumnProfile, InferredType, InspectReport, inspect};
pub use negatives::{sample_negatives, sample_negatives_into_split};
pub use numeric::NumericStats;
pub use overrides::apply_overrides;
pub use prepare::{PrepareOptions, PrepareReport, prepare};
pub use progress::{Phase, Progress, Silent, Unit};
pub use reader::{FieldType, Format, Row, RowReader, open_reader};
pub use schema::{
    FeatureKind, FeatureSpec, Join, LabelSpec, NegativeSpec, Normalize, Schema, Side, Source,
    SplitMethod, SplitSpec,
};
pub use sequences::{Example, ItemSideFeature, ItemSideFeatures, Sequences, k_core};
pub use split::{Split, leave_one_out, random_split, temporal_split};
pub use synth::write_synthetic_ctr;
pub use task::{Task, TaskOptions};
pub use vocab::{OOV_ID, Vocab};
