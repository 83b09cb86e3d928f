//! The one error type of the LLM runtime: every failure names the file or the input it concerns.

use std::path::PathBuf;

/// Errors from loading models, tokenizing, running them and caching their scores.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// A model or cache file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not a model this runtime understands (wrong format, missing key).
    #[error("{path}: {message}")]
    BadModel { path: PathBuf, message: String },
    /// A tensor operation failed inside candle.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// llama.cpp failed (context creation, decoding, adapters).
    #[error("llama.cpp: {0}")]
    LlamaCpp(String),
    /// The tokenizer could not be built or failed on a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The caller passed something unusable (empty answers, a prompt longer than the context).
    #[error("{0}")]
    Input(String),
    /// The score cache failed.
    #[error("score cache {path}: {message}")]
    Cache { path: PathBuf, message: String },
}

impl LlmError {
    pub(crate) fn bad_model(path: &std::path::Path, message: impl Into<String>) -> Self {
        Self::BadModel { path: path.to_path_buf(), message: message.into() }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}
