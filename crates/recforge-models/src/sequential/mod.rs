//! Sequential and collaborative-filtering recommenders over users' time-ordered histories.
//!
//! [`sasrec`]: SASRec, causal self-attention over item sequences with a shared item embedding
//! for scoring (arXiv 1808.09781). [`bpr`]: BPR-MF, matrix factorisation trained on sampled
//! pairwise preferences (arXiv 1205.2618). [`ease`]: EASE, a closed-form item-item model
//! (arXiv 1905.03375).

pub mod bpr;
pub mod ease;
pub mod sasrec;

pub use bpr::{BprConfig, BprMf, bpr_loss};
pub use ease::{Ease, EaseConfig, EaseError, ease_weights};
pub use sasrec::{SasRec, SasRecConfig, SequenceBatch};
