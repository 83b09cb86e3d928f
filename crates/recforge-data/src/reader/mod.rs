//! Streaming row readers: one row at a time from CSV, TSV, RecBole atomic files, Open Bandit
//! CSV logs and Parquet, never the whole file in memory.
//!
//! Every reader exposes the same [`RowReader`] interface: a header (column names), the path
//! (for error messages) and rows of string cells with their 1-based physical line number.
//! [`RowReader::read_into`] reuses a caller's [`Row`] buffers, which is what the two prepare
//! passes use on multi-gigabyte logs; the `Iterator` impl is the convenient form.
//!
//! Readers never guess: text is UTF-8 unless [`ReadOptions::encoding`] says Latin-1 (a cell
//! that is not valid in the declared encoding is an error, not a second spelling of the same
//! token), a NUL byte in a cell is an error, an unterminated quote is an error naming the line
//! where the field began, and no field or record may grow past the configured sizes. Every
//! such error names the file, the line and the field.

mod delimited;
mod arrow;
mod records;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

pub use self::delimited::DelimitedReader;
pub use self::arrow::{ArrowRowReader, RecordBatches};

/// The on-disk format of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Decided by the file extension, see [`Format::resolve`].
    #[default]
    Auto,
    /// Comma-separated, RFC 4180 quoting, header row.
    Csv,
    /// Tab-separated.
    Tsv,
    /// Apache Parquet, read through arrow record batches.
    Parquet,
    /// RecBole atomic files: tab-separated, header cells `name:type`.
    Recbole,
    /// Open Bandit Dataset CSV (pandas output: an unnamed index column first).
    Obd,
}

impl Format {
    /// Replaces [`Format::Auto`] with the format the extension implies: `.csv` → CSV,
    /// `.tsv`/`.txt` → TSV, `.inter`/`.item`/`.user`/`.kg`/`.link`/`.net` → RecBole,
    /// `.parquet`/`.pq` → Parquet. Other formats are returned unchanged.
    pub fn resolve(self, path: &Path) -> Result<Format> {
        if self != Format::Auto {
            return Ok(self);
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(Format::Csv),
            "tsv" | "txt" => Ok(Format::Tsv),
            "inter" | "item" | "user" | "kg" | "link" | "net" => Ok(Format::Recbole),
            "parquet" | "pq" => Ok(Format::Parquet),
            _ => Err(DataError::format(
                path,
                format!(
                    "cannot tell the format from the extension \".{ext}\"; \
                     set format = \"csv\" | \"tsv\" | \"parquet\" | \"recbole\" | \"obd\""
                ),
            )),
        }
    }
}

/// How the bytes of a text file map to characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8; a cell that is not valid UTF-8 is an error. A leading byte-order mark is
    /// skipped.
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// ISO-8859-1: every byte is the character with that code, so any bytes decode and the
    /// same bytes always give the same text (older MovieLens releases ship Latin-1 titles).
    #[serde(rename = "latin1", alias = "latin-1", alias = "iso-8859-1")]
    Latin1,
}

impl Encoding {
    /// The name used in schemas.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin1",
        }
    }
}

/// Default [`ReadOptions::max_field_bytes`]: far above any token, title or id list, far below
/// what a missing delimiter or a binary file would otherwise pile into one cell.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 1 << 20;
/// Default [`ReadOptions::max_line_bytes`]: a record (all its fields, quotes and delimiters).
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

/// How to decode a file and how much of it one row may hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Text encoding of delimited files (Parquet strings are always UTF-8).
    pub encoding: Encoding,
    /// Longest cell, in bytes as stored in the file (after removing quotes).
    pub max_field_bytes: usize,
    /// Longest record of a delimited file, in raw bytes (a quoted field's newlines included).
    pub max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            encoding: Encoding::Utf8,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// The declared type of a RecBole atomic-file column (`name:type` in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Token,
    TokenSeq,
    Float,
    FloatSeq,
}

impl FieldType {
    /// Parses the part after the colon of a RecBole header cell.
    pub fn parse(s: &str) -> Option<FieldType> {
        match s {
            "token" => Some(FieldType::Token),
            "token_seq" => Some(FieldType::TokenSeq),
            "float" => Some(FieldType::Float),
            "float_seq" => Some(FieldType::FloatSeq),
            _ => None,
        }
    }

    /// Sequence types hold several space-separated values per cell.
    pub fn is_sequence(self) -> bool {
        matches!(self, FieldType::TokenSeq | FieldType::FloatSeq)
    }
}

/// One data row: its cells as strings and where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// 1-based physical line of the row's first byte (the header is line 1); for Parquet the
    /// 1-based row number.
    pub line: u64,
    /// One string per header column; an absent value (Parquet null) is the empty string.
    pub fields: Vec<String>,
}

/// A stream of rows with a header. See the module docs.
pub trait RowReader: Iterator<Item = Result<Row>> {
    /// Column names, in file order.
    fn header(&self) -> &[String];
    /// The file being read.
    fn path(&self) -> &Path;
    /// RecBole column types, when the format declares them.
    fn field_types(&self) -> Option<&[FieldType]> {
        None
    }
    /// Bytes consumed so far (an estimate for Parquet), for progress reports.
    fn bytes_read(&self) -> u64;
    /// Size of the file in bytes.
    fn total_bytes(&self) -> u64;
    /// Reads the next row into `row`, reusing its allocations; `None` at the end.
    ///
    /// Row-level errors (a ragged row) leave the reader usable: the next call reads the next
    /// row. Other errors (I/O) end the stream.
    fn read_into(&mut self, row: &mut Row) -> Option<Result<()>>;

    /// Index of a column by name, or the "missing column" error listing the columns.
    fn column_index(&self, name: &str) -> Result<usize> {
        column_index(self.path(), self.header(), name)
    }
}

/// Index of `name` in `header`, or [`DataError::MissingColumn`] naming `path`.
pub fn column_index(path: &Path, header: &[String], name: &str) -> Result<usize> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            available: header.to_vec(),
        })
}

/// Opens `path` for streaming with the default [`ReadOptions`] (UTF-8, default size limits).
/// `delimiter` overrides the format's separator (CSV-like formats only); `header = false`
/// names the columns `column_1`, `column_2`, ... and treats the first line as data.
pub fn open_reader(
    path: &Path,
    format: Format,
    delimiter: Option<char>,
    header: bool,
) -> Result<Box<dyn RowReader>> {
    open_reader_with(path, format, delimiter, header, &ReadOptions::default())
}

/// [`open_reader`] with an explicit encoding and size limits (a schema's
/// [`crate::schema::Source::read_options`]).
pub fn open_reader_with(
    path: &Path,
    format: Format,
    delimiter: Option<char>,
    header: bool,
    options: &ReadOptions,
) -> Result<Box<dyn RowReader>> {
    let format = format.resolve(path)?;
    Ok(match format {
        Format::Parquet => Box::new(ArrowRowReader::open_with(path, options)?),
        _ => Box::new(DelimitedReader::open_with(
            path, format, delimiter, header, options,
        )?),
    })
}

/// Name given to columns of files without a header row (1-based like line numbers).
pub(crate) fn positional_name(index: usize) -> String {
    format!("column_{}", index + 1)
}

/// Name of field `index` in messages: the header's name, or the positional one.
pub(crate) fn field_name(header: &[String], index: usize) -> String {
    header
        .get(index)
        .cloned()
        .unwrap_or_else(|| positional_name(index))
}

/// Rejects headers that name a column twice, which would make lookups ambiguous.
pub(crate) fn check_unique_header(path: &Path, header: &[String]) -> Result<()> {
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(DataError::format(
                path,
                format!("column \"{name}\" appears twice in the header"),
            ));
        }
    }
    Ok(())
}
