//! The LLM recommendation use cases end to end, each one function with a typed result that
//! also writes its files: task data ([`make_data`]), LoRA fine-tuning ([`finetune`]),
//! evaluation ([`evaluate`]), rating prediction with and without reasoning ([`reason`]),
//! Rec-SAVER scoring ([`rec_saver`]) and the conventional baselines ([`baselines`]). The inputs
//! they share — a dataset's task data, templates, the evaluation sample — load in [`inputs`].

pub mod baselines;
pub mod evaluate;
pub mod finetune;
pub mod inputs;
pub mod make_data;
pub mod reason;
pub mod rec_saver;

use std::path::Path;

use serde::Serialize;

use crate::error::{LlmRecError, Result};

/// Creates `dir` (and its parents).
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| LlmRecError::io(dir, e))
}

/// Writes `value` as pretty JSON (with a final newline).
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| LlmRecError::Invalid(format!("{}: {e}", path.display())))?;
    std::fs::write(path, text + "\n").map_err(|e| LlmRecError::io(path, e))
}
