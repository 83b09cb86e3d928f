//! One file per subcommand; the heavy ones (LLM, selection, distillation, serving) only in
//! builds with their cargo feature.

pub mod bandit;
pub mod bench;
pub mod data;
#[cfg(feature = "distill")]
pub mod distill;
pub mod eval;
pub mod events;
pub mod export;
#[cfg(feature = "distill")]
pub mod labeler;
#[cfg(feature = "distill")]
pub mod labels;
#[cfg(feature = "llm")]
pub mod llm;
#[cfg(feature = "serve")]
pub mod loadgen;
pub mod predict;
pub mod quickstart;
pub mod retrieval_zoo;
pub mod retrieve;
pub mod runs;
#[cfg(feature = "select")]
pub mod select;
#[cfg(feature = "serve")]
pub mod serve;
pub mod table;
pub mod train;
pub mod zoo;
