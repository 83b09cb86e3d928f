//! The embedded label store: one redb file, crash-safe (every `put` is one committed, fsynced
//! write transaction). Table `labels` maps the composite key (teacher version, example id) to
//! the logit; table `version_counts` keeps the number of distinct ids per version, updated in
//! the same transaction only when a key is new, so counts stay exact under rewrites.
//!
//! redb locks the file for one process: the labeler writes, and students open it after the
//! labeler stopped (or use the Redis store to read while labels stream in).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{LabelStore, StoreError, TeacherVersion};

const LABELS: TableDefinition<(u64, u64), f32> = TableDefinition::new("labels");
const COUNTS: TableDefinition<u64, u64> = TableDefinition::new("version_counts");

/// Labels in a redb file.
pub struct RedbLabelStore {
    path: PathBuf,
    db: Database,
}

impl RedbLabelStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<RedbLabelStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Backend { store: format!("file://{}", path.display()), message: e.to_string() })?;
        }
        let db = Database::create(path).map_err(|e| StoreError::Backend {
            store: format!("file://{}", path.display()),
            message: format!("{e} (another process may hold it open: redb allows one process per file)"),
        })?;
        let store = RedbLabelStore { path: path.to_path_buf(), db };
        // Create the tables so readers never meet a missing one.
        let txn = store.db.begin_write().map_err(|e| store.err(e))?;
        txn.open_table(LABELS).map_err(|e| store.err(e))?;
        txn.open_table(COUNTS).map_err(|e| store.err(e))?;
        txn.commit().map_err(|e| store.err(e))?;
        Ok(store)
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend { store: format!("file://{}", self.path.display()), message: e.to_string() }
    }
}

impl LabelStore for RedbLabelStore {
    fn put(&self, version: TeacherVersion, labels: &[(u64, f32)]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut table = txn.open_table(LABELS).map_err(|e| self.err(e))?;
            let mut added = 0u64;
            for &(id, logit) in labels {
                if table.insert((version, id), logit).map_err(|e| self.err(e))?.is_none() {
                    added += 1;
                }
            }
            if added > 0 {
                let mut counts = txn.open_table(COUNTS).map_err(|e| self.err(e))?;
                let old = counts.get(version).map_err(|e| self.err(e))?.map_or(0, |v| v.value());
                counts.insert(version, old + added).map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn get(&self, version: TeacherVersion, example_ids: &[u64]) -> Result<Vec<Option<f32>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(LABELS).map_err(|e| self.err(e))?;
        example_ids
            .iter()
            .map(|&id| table.get((version, id)).map(|v| v.map(|v| v.value())).map_err(|e| self.err(e)))
            .collect()
    }

    fn versions(&self) -> Result<Vec<TeacherVersion>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let counts = txn.open_table(COUNTS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in counts.iter().map_err(|e| self.err(e))? {
            let (version, count) = row.map_err(|e| self.err(e))?;
            if count.value() > 0 {
                out.push(version.value());
            }
        }
        Ok(out)
    }

    fn count(&self, version: TeacherVersion) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let counts = txn.open_table(COUNTS).map_err(|e| self.err(e))?;
        Ok(counts.get(version).map_err(|e| self.err(e))?.map_or(0, |v| v.value()))
    }

    fn scan(&self, version: TeacherVersion, visit: &mut dyn FnMut(&[(u64, f32)]) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(LABELS).map_err(|e| self.err(e))?;
        let mut chunk = Vec::with_capacity(super::SCAN_CHUNK);
        for row in table.range((version, 0)..=(version, u64::MAX)).map_err(|e| self.err(e))? {
            let (key, logit) = row.map_err(|e| self.err(e))?;
            chunk.push((key.value().1, logit.value()));
            if chunk.len() == super::SCAN_CHUNK {
                visit(&chunk)?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            visit(&chunk)?;
        }
        Ok(())
    }
}
