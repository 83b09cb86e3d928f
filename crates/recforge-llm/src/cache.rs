//! A content-addressed score cache on redb: key = SHA-256(model id, kind, input), value = f32s.
//!
//! Reruns and resumed runs look scores up before computing them, so a selection killed half
//! way costs nothing the second time. redb commits are crash-safe (fsync); `put_many_f32s`
//! writes a whole batch in one transaction, which is what bulk scoring should use.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, TableDefinition};
use sha2::{Digest, Sha256};

use crate::LlmError;

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("scores");

/// An on-disk map from (model id, kind, input) to a vector of f32.
pub struct ScoreCache {
    db: Database,
    path: PathBuf,
}

/// The 32-byte key of one cache entry; fields are length-prefixed so that no two
/// (model_id, kind, input) triples share a key.
pub fn cache_key(model_id: &str, kind: &str, input: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [model_id, kind, input] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

fn encode(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

impl ScoreCache {
    /// Opens the cache file at `path`, creating it (and its table) if needed.
    pub fn open(path: &Path) -> Result<Self, LlmError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| LlmError::io(parent, e))?;
        }
        let db = Database::create(path).map_err(|e| Self::error_at(path, e))?;
        let cache = Self { db, path: path.to_path_buf() };
        let txn = cache.db.begin_write().map_err(|e| cache.error(e))?;
        txn.open_table(TABLE).map_err(|e| cache.error(e))?;
        txn.commit().map_err(|e| cache.error(e))?;
        Ok(cache)
    }

    fn error_at(path: &Path, e: impl std::fmt::Display) -> LlmError {
        LlmError::Cache { path: path.to_path_buf(), message: e.to_string() }
    }

    fn error(&self, e: impl std::fmt::Display) -> LlmError {
        Self::error_at(&self.path, e)
    }

    /// The cached vector, if any.
    pub fn get_f32s(&self, model_id: &str, kind: &str, input: &str) -> Result<Option<Vec<f32>>, LlmError> {
        let key = cache_key(model_id, kind, input);
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
        let value = table.get(key.as_slice()).map_err(|e| self.error(e))?;
        Ok(value.map(|v| decode(v.value())))
    }

    /// Stores `value` (one transaction, durable on return).
    pub fn put_f32s(&self, model_id: &str, kind: &str, input: &str, value: &[f32]) -> Result<(), LlmError> {
        self.put_many_f32s(model_id, kind, &[(input, value)])
    }

    /// Stores many entries in one durable transaction.
    pub fn put_many_f32s(&self, model_id: &str, kind: &str, entries: &[(&str, &[f32])]) -> Result<(), LlmError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        {
            let mut table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
            for (input, value) in entries {
                let key = cache_key(model_id, kind, input);
                table.insert(key.as_slice(), encode(value).as_slice()).map_err(|e| self.error(e))?;
            }
        }
        txn.commit().map_err(|e| self.error(e))
    }

    /// Looks many inputs up in one read transaction.
    pub fn get_many_f32s(&self, model_id: &str, kind: &str, inputs: &[&str]) -> Result<Vec<Option<Vec<f32>>>, LlmError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
        inputs
            .iter()
            .map(|input| {
                let key = cache_key(model_id, kind, input);
                Ok(table.get(key.as_slice()).map_err(|e| self.error(e))?.map(|v| decode(v.value())))
            })
            .collect()
    }
}
