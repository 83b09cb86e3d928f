//! Where data, prepared caches and runs live by default.

use std::path::{Path, PathBuf};

/// The data folder: `$RECFORGE_DATA`, else `./data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("RECFORGE_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data"))
}

/// Where prepared (encoded, columnar) datasets are cached.
pub fn prepared_cache_dir() -> PathBuf {
    data_dir().join("prepared")
}

/// The name a file gives what it holds when nothing names it otherwise: its file stem
/// (`configs/data/ml100k_seq.toml` → `ml100k_seq`), or `dataset` for a path without one.
pub fn stem_name(path: &Path) -> String {
    path.file_stem().map_or_else(|| "dataset".to_string(), |s| s.to_string_lossy().into_owned())
}
