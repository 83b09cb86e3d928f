//! Where data, prepared caches and runs live by default.

use std::path::PathBuf;

/// The data folder: `$RECFORGE_DATA`, else `./data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("RECFORGE_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data"))
}

/// Where prepared (encoded, columnar) datasets are cached.
pub fn prepared_cache_dir() -> PathBuf {
    data_dir().join("prepared")
}
