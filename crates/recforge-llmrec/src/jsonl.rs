//! JSON Lines in and out: one serde value per line; a malformed line is an error naming the
//! file, the 1-based line and serde's message (which names the missing or mistyped field).

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{LlmRecError, Result};

/// Reads every non-blank line of `path` as a `T`.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = std::fs::File::open(path).map_err(|e| LlmRecError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| LlmRecError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| LlmRecError::parse(path, i + 1, e.to_string()))?;
        out.push(value);
    }
    Ok(out)
}

/// Writes `values` to `path`, one JSON object per line (parent folders are created).
pub fn write_jsonl<T: Serialize>(path: &Path, values: &[T]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| LlmRecError::io(parent, e))?;
    }
    let file = std::fs::File::create(path).map_err(|e| LlmRecError::io(path, e))?;
    let mut writer = BufWriter::new(file);
    for value in values {
        serde_json::to_writer(&mut writer, value).map_err(|e| LlmRecError::Invalid(format!("{}: {e}", path.display())))?;
        writer.write_all(b"\n").map_err(|e| LlmRecError::io(path, e))?;
    }
    writer.flush().map_err(|e| LlmRecError::io(path, e))
}
