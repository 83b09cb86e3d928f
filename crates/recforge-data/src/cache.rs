//! Cache keys for prepared datasets: a SHA-256 over the canonical schema (its serde_json
//! form, paths resolved) and every source file's path, size and modification time, so a
//! changed schema or a touched file prepares afresh.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::schema::Schema;

/// Bumped whenever the stored layout or the encoding rules change, so old caches are
/// ignored rather than misread.
pub const CACHE_FORMAT_VERSION: u32 = 1;
/// Hex digits of the key used in the cache folder name.
const KEY_DIGITS_IN_NAME: usize = 16;

/// Full hex SHA-256 identifying the schema and the current state of its files.
pub fn schema_hash(schema: &Schema) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(format!("recforge-data cache v{CACHE_FORMAT_VERSION}\n"));
    let canonical = serde_json::to_vec(schema).map_err(|e| {
        DataError::Invalid(format!("cannot serialise schema \"{}\": {e}", schema.name))
    })?;
    hasher.update(&canonical);
    for path in schema.files() {
        let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        hasher.update(format!("\n{}\t{}\t{}", path.display(), meta.len(), mtime));
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `<cache_root>/<name>-<first 16 hex digits of the key>`.
pub fn cache_path(cache_root: &Path, name: &str, hash: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let short = &hash[..KEY_DIGITS_IN_NAME.min(hash.len())];
    cache_root.join(format!("{safe}-{short}"))
}
