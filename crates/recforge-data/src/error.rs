//! One error type for the crate: every variant names the file, and where it applies the
//! line and the field, so a user can open the file and fix the row.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading, preparing or storing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused a read or write.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data file without a single byte (not even a header).
    #[error("{}: file is empty", path.display())]
    EmptyFile { path: PathBuf },
    /// A row with more or fewer fields than the header.
    #[error("{}:{line}: expected {expected} fields, found {found}", path.display())]
    FieldCount {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
    },
    /// A cell that should hold a number but does not.
    #[error("{}:{line}: field \"{field}\": expected a number, found \"{value}\"", path.display())]
    NotANumber {
        path: PathBuf,
        line: u64,
        field: String,
        value: String,
    },
    /// A numeric cell that parsed to NaN or ±infinity.
    #[error("{}:{line}: NaN/inf in numeric field \"{field}\"", path.display())]
    NonFinite {
        path: PathBuf,
        line: u64,
        field: String,
    },
    /// Any other problem with one cell (missing value without `fill`, label out of range...).
    #[error("{}:{line}: field \"{field}\": {message}", path.display())]
    InvalidValue {
        path: PathBuf,
        line: u64,
        field: String,
        message: String,
    },
    /// A row the parser could not read at all.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A file broken from `line` on (a quoted field never closed): the rows after it cannot
    /// be told apart, so unlike [`DataError::Malformed`] this is never skipped as one bad row.
    #[error("{}:{line}: {message}", path.display())]
    Broken {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// The schema names a column the file's header does not have.
    #[error("{}: missing column \"{column}\" (columns: {})", path.display(), available.join(", "))]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: Vec<String>,
    },
    /// A schema file that does not parse or does not make sense.
    #[error("{}{}: {message}", path.display(), LineSuffix(*line))]
    Schema {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },
    /// A file whose format is broken as a whole (Parquet metadata, Arrow IPC cache, JSON).
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// The caller asked for something the dataset cannot do (e.g. negatives without a user
    /// feature, a temporal split without timestamps).
    #[error("{0}")]
    Invalid(String),
    /// The watcher asked to stop (Ctrl-C in Python) after `rows` rows of `path`.
    #[error("{}: interrupted after {rows} rows", path.display())]
    Interrupted { path: PathBuf, rows: u64 },
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    /// `true` for errors confined to one row, which `skip_bad_rows` may skip; I/O failures,
    /// broken files and schema errors are never skippable.
    pub fn is_row_error(&self) -> bool {
        matches!(
            self,
            DataError::FieldCount { .. }
                | DataError::NotANumber { .. }
                | DataError::NonFinite { .. }
                | DataError::InvalidValue { .. }
                | DataError::Malformed { .. }
        )
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(path: &Path, message: impl fmt::Display) -> Self {
        DataError::Format {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    pub(crate) fn value(path: &Path, line: u64, field: &str, message: impl fmt::Display) -> Self {
        DataError::InvalidValue {
            path: path.to_path_buf(),
            line,
            field: field.to_string(),
            message: message.to_string(),
        }
    }

    pub(crate) fn schema(path: &Path, message: impl fmt::Display) -> Self {
        DataError::Schema {
            path: path.to_path_buf(),
            line: None,
            message: message.to_string(),
        }
    }
}

/// Formats `:LINE` when a line is known, nothing otherwise.
struct LineSuffix(Option<u64>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, ":{line}"),
            None => Ok(()),
        }
    }
}
