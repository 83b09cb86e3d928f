//! One file per subcommand.

pub mod align_ml100k;
pub mod bandit;
pub mod bench;
pub mod bench_llm;
pub mod bench_retrieval;
pub mod data;
pub mod distill;
pub mod eval;
pub mod events;
pub mod export;
pub mod labeler;
pub mod llm;
pub mod loadgen;
pub mod quickstart;
pub mod retrieval_zoo;
pub mod retrieve;
pub mod select;
pub mod serve;
pub mod table;
pub mod train;
pub mod zoo;
