//! Sequential recommenders: next-item prediction from a user's time-ordered history.
//!
//! [`sasrec`]: SASRec, causal self-attention over item sequences with a shared item embedding
//! for scoring (arXiv 1808.09781).

pub mod sasrec;

pub use sasrec::{SasRec, SasRecConfig, SequenceBatch};
