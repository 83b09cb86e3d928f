//! Bookkeeping shared by the passes over a main file: which rows were bad, the skip policy
//! with its first messages, and progress reports.

use crate::error::{DataError, Result};

/// How many skipped-row messages a report keeps.
pub const MAX_REPORTED_ERRORS: usize = 10;
/// Rows between two progress callbacks.
pub const PROGRESS_EVERY_ROWS: u64 = 1 << 16;

/// One bit per data row: set for rows the first pass skipped.
#[derive(Debug, Default, Clone)]
pub(crate) struct RowSet {
    words: Vec<u64>,
}

impl RowSet {
    pub fn insert(&mut self, row: u64) {
        let word = (row / 64) as usize;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (row % 64);
    }

    pub fn contains(&self, row: u64) -> bool {
        self.words
            .get((row / 64) as usize)
            .is_some_and(|w| w & (1 << (row % 64)) != 0)
    }
}

/// The skip policy: without `skip`, the first bad row is the error; with it, bad rows are
/// counted and the first [`MAX_REPORTED_ERRORS`] messages kept. Never skips I/O or format
/// errors.
#[derive(Debug, Default)]
pub(crate) struct Skipped {
    pub skip: bool,
    pub count: u64,
    pub messages: Vec<String>,
}

impl Skipped {
    pub fn new(skip: bool) -> Self {
        Skipped {
            skip,
            ..Self::default()
        }
    }

    /// Records `error` if the policy allows skipping it, else returns it.
    pub fn record(&mut self, error: DataError) -> Result<()> {
        if !self.skip || !error.is_row_error() {
            return Err(error);
        }
        self.count += 1;
        if self.messages.len() < MAX_REPORTED_ERRORS {
            self.messages.push(error.to_string());
        }
        Ok(())
    }
}

/// Reports bytes read to an observer every [`PROGRESS_EVERY_ROWS`] rows. Over the two
/// prepare passes the position grows to twice the file size; `rows` counts the current pass.
pub(crate) struct Progress<'a> {
    observer: &'a dyn crate::progress::Progress,
    /// Bytes of passes already finished.
    pub offset: u64,
}

impl<'a> Progress<'a> {
    pub fn new(observer: &'a dyn crate::progress::Progress) -> Self {
        Progress { observer, offset: 0 }
    }

    /// Every [`PROGRESS_EVERY_ROWS`] rows: reports, and stops with [`DataError::Interrupted`]
    /// when the observer asks to (`path` names the file).
    pub fn tick(&self, rows: u64, bytes: u64, path: &std::path::Path) -> crate::error::Result<()> {
        if rows.is_multiple_of(PROGRESS_EVERY_ROWS) {
            self.report(rows, bytes);
            if self.observer.cancelled() {
                return Err(crate::error::DataError::Interrupted { path: path.to_path_buf(), rows });
            }
        }
        Ok(())
    }

    pub fn report(&self, rows: u64, bytes: u64) {
        self.observer.update(self.offset + bytes, &format!("{rows} rows"));
    }
}
