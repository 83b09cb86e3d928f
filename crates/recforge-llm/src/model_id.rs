//! Stable model ids for cache keys: the file name plus a content hash of the file's head and
//! its size (hashing 100 MB on every load would cost seconds; the head holds the GGUF/safetensors
//! header with every tensor's shape and offset, and the size changes with any requantization).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::LlmError;

const HEAD_BYTES: u64 = 1 << 20;

/// Feeds the first MiB and the length of `path` into `hasher`.
fn hash_file(hasher: &mut Sha256, path: &Path) -> Result<(), LlmError> {
    let file = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
    let size = file.metadata().map_err(|e| LlmError::io(path, e))?.len();
    let mut head = Vec::new();
    file.take(HEAD_BYTES).read_to_end(&mut head).map_err(|e| LlmError::io(path, e))?;
    hasher.update(&head);
    hasher.update(size.to_le_bytes());
    Ok(())
}

/// `name@hash16` for a model made of `files` (hashed in the given order).
pub fn model_id(name: &str, files: &[&Path]) -> Result<String, LlmError> {
    let mut hasher = Sha256::new();
    for f in files {
        if let Some(file_name) = f.file_name() {
            hasher.update(file_name.to_string_lossy().as_bytes());
        }
        hash_file(&mut hasher, f)?;
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(format!("{name}@{hex}"))
}
