//! One error type for the crate; input errors name the file, the line and the field.

use std::path::PathBuf;

/// Everything that can go wrong while reading, scoring or selecting documents.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A problem with one record of the input, at a 1-based line (row number for Parquet).
    #[error("{}:{line}: {message}", path.display())]
    Input { path: PathBuf, line: u64, message: String },
    /// A problem with one field of one record.
    #[error("{}:{line}: field \"{field}\": {message}", path.display())]
    Field { path: PathBuf, line: u64, field: String, message: String },
    /// A problem with a whole file (no records, unknown format, bad shard header).
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// The model behind a sampler failed.
    #[error("model: {0}")]
    Model(String),
    /// A setting out of range (keep fraction, shard spec, sketch size).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    /// The watcher asked to stop (Ctrl-C in Python) after `scored` documents.
    #[error("interrupted after scoring {scored} documents")]
    Interrupted { scored: usize },
    /// The selection LM's training stopped (diverged).
    #[error("LM training: {0}")]
    Train(#[from] recforge_train::LoopError),
}

pub type Result<T> = std::result::Result<T, SelectError>;

impl SelectError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SelectError::Io { path: path.into(), source }
    }
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        SelectError::File { path: path.into(), message: message.into() }
    }
}

impl From<recforge_llm::LlmError> for SelectError {
    fn from(e: recforge_llm::LlmError) -> Self {
        SelectError::Model(e.to_string())
    }
}
