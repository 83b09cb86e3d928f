//! A file cache for model outputs (generated text, rating distributions), so reruns of
//! `recforge llm reason` and `recforge llm rec-saver` cost nothing for what was already computed.
//!
//! Append-only JSON Lines, one `{"key", "value"}` per entry, key = hex SHA-256 of (model id,
//! kind, input) from [`recforge_llm::cache_key`]; the whole file is read into a map on open and
//! every new entry is appended and flushed at once, so a killed run keeps all finished work. A
//! torn last line (a crash mid-write) is ignored on open; any other malformed line is an error.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde::de::DeserializeOwned;

use crate::error::{LlmRecError, Result};

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    value: serde_json::Value,
}

/// Model outputs keyed by (model id, kind, input).
pub struct GenerationCache {
    path: PathBuf,
    entries: Mutex<HashMap<String, serde_json::Value>>,
    file: Mutex<std::fs::File>,
}

fn key(model_id: &str, kind: &str, input: &str) -> String {
    recforge_llm::cache_key(model_id, kind, input).iter().map(|b| format!("{b:02x}")).collect()
}

impl GenerationCache {
    /// Opens (or creates) the cache file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| LlmRecError::io(parent, e))?;
        }
        let mut entries = HashMap::new();
        if path.exists() {
            let file = std::fs::File::open(path).map_err(|e| LlmRecError::io(path, e))?;
            let lines: Vec<String> = std::io::BufReader::new(file).lines().collect::<std::io::Result<_>>().map_err(|e| LlmRecError::io(path, e))?;
            let last = lines.len();
            for (i, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Entry>(line) {
                    Ok(entry) => {
                        entries.insert(entry.key, entry.value);
                    }
                    Err(_) if i + 1 == last => {} // torn write of the last entry
                    Err(e) => return Err(LlmRecError::parse(path, i + 1, format!("not a cache entry: {e}"))),
                }
            }
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| LlmRecError::io(path, e))?;
        // Start a fresh line after a torn one.
        if std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false) && !ends_with_newline(path) {
            file.write_all(b"\n").map_err(|e| LlmRecError::io(path, e))?;
        }
        Ok(Self { path: path.to_path_buf(), entries: Mutex::new(entries), file: Mutex::new(file) })
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached value for (model, kind, input), or `compute()`'s, which is then stored.
    /// Returns the value and whether it came from the cache.
    pub fn get_or_compute<T, E>(&self, model_id: &str, kind: &str, input: &str, compute: impl FnOnce() -> std::result::Result<T, E>) -> Result<(T, bool)>
    where
        T: Serialize + DeserializeOwned,
        LlmRecError: From<E>,
    {
        let key = key(model_id, kind, input);
        let cached = self.entries.lock().ok().and_then(|e| e.get(&key).cloned());
        if let Some(value) = cached {
            if let Ok(value) = serde_json::from_value(value) {
                return Ok((value, true));
            }
        }
        let value = compute()?;
        let json = serde_json::to_value(&value).map_err(|e| LlmRecError::Invalid(format!("{}: {e}", self.path.display())))?;
        let line = serde_json::to_string(&Entry { key: key.clone(), value: json.clone() })
            .map_err(|e| LlmRecError::Invalid(format!("{}: {e}", self.path.display())))?;
        {
            let mut file = self.file.lock().map_err(|_| LlmRecError::Invalid("generation cache lock poisoned".into()))?;
            writeln!(file, "{line}").and_then(|_| file.flush()).map_err(|e| LlmRecError::io(&self.path, e))?;
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, json);
        }
        Ok((value, false))
    }
}

fn ends_with_newline(path: &Path) -> bool {
    std::fs::read(path).map(|b| b.last() == Some(&b'\n')).unwrap_or(true)
}
