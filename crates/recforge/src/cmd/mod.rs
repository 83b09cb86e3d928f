//! One file per subcommand.

pub mod bandit;
pub mod bench;
pub mod data;
pub mod eval;
pub mod loadgen;
pub mod quickstart;
pub mod serve;
pub mod table;
pub mod train;
