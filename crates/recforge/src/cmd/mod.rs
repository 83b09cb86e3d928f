//! One file per subcommand.

pub mod bench;
pub mod data;
pub mod eval;
pub mod export;
pub mod quickstart;
pub mod table;
pub mod train;
pub mod zoo;
