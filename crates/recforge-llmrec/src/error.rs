//! The error type of recforge-llmrec: every failure names the file, line and field it concerns.

use std::path::PathBuf;

/// Errors from reading task data, rendering prompts, training adapters and evaluating.
#[derive(Debug, thiserror::Error)]
pub enum LlmRecError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of an input file is malformed (`field` names the offending field when known).
    #[error("{path}:{line}: {message}")]
    Parse { path: PathBuf, line: usize, message: String },
    /// Something the caller asked for cannot be done (unknown task, empty catalogue, ...).
    #[error("{0}")]
    Invalid(String),
    /// The data layer failed.
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    /// The LLM runtime failed.
    #[error(transparent)]
    Llm(#[from] recforge_llm::LlmError),
    /// `--dataset` named no known dataset or schema file.
    #[error(transparent)]
    Dataset(#[from] recforge_train::retrieval::datasets::DatasetError),
    /// SASRec training failed.
    #[error(transparent)]
    SasRec(#[from] recforge_train::sasrec::SasRecError),
    /// A run folder (retrieval run, saved SASRec) could not be read or written.
    #[error(transparent)]
    Run(#[from] recforge_train::run::RunError),
}

impl LlmRecError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn parse(path: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        Self::Parse { path: path.to_path_buf(), line, message: message.into() }
    }
}

pub type Result<T, E = LlmRecError> = std::result::Result<T, E>;
