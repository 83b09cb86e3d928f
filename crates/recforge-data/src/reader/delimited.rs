//! CSV, TSV, RecBole atomic files and Open Bandit CSV: all delimiter-separated text, split
//! into records by [`super::records`] and decoded cell by cell.
//!
//! CSV and OBD follow RFC 4180 quoting; TSV and RecBole files have none (a `"` is an
//! ordinary character, as in MovieLens titles). An empty first header cell — pandas' index
//! column, as in every Open Bandit file — is named `index`; other empty header cells get
//! positional names. Line endings may be LF or CRLF (the RecBole releases use CRLF).
//!
//! Cells are decoded in the declared [`Encoding`] only: bytes that are not valid UTF-8 are an
//! error (with `encoding = "latin1"` every byte is a character), and so is a NUL byte.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::records::{Dialect, Limits, Oversize, RawRecord, RecordError, RecordReader};
use super::{
    Encoding, FieldType, Format, ReadOptions, Row, RowReader, check_unique_header, field_name,
    positional_name,
};
use crate::error::{DataError, Result};

/// Bytes read from the file at a time; large enough that syscalls do not dominate.
const READ_BUFFER_BYTES: usize = 1 << 16;

/// Name pandas' unnamed index column gets (Open Bandit Dataset files start with one).
const INDEX_COLUMN: &str = "index";

/// A streaming reader for delimiter-separated text files.
pub struct DelimitedReader {
    path: PathBuf,
    records: RecordReader<BufReader<File>>,
    options: ReadOptions,
    header: Vec<String>,
    types: Option<Vec<FieldType>>,
    record: RawRecord,
    /// The first data row of a header-less file, read while learning the column count.
    pending: Option<RawRecord>,
    total_bytes: u64,
    done: bool,
}

impl DelimitedReader {
    /// Opens `path` with the default [`ReadOptions`]; `format` must not be `Parquet`.
    pub fn open(
        path: &Path,
        format: Format,
        delimiter: Option<char>,
        header: bool,
    ) -> Result<Self> {
        Self::open_with(path, format, delimiter, header, &ReadOptions::default())
    }

    /// Opens `path`, decoding with `options.encoding` and holding at most
    /// `options.max_line_bytes` of a record in memory.
    pub fn open_with(
        path: &Path,
        format: Format,
        delimiter: Option<char>,
        header: bool,
        options: &ReadOptions,
    ) -> Result<Self> {
        let format = format.resolve(path)?;
        let quoting = matches!(format, Format::Csv | Format::Obd);
        let delimiter = match delimiter {
            Some(c @ ('\n' | '\r')) => {
                return Err(DataError::format(
                    path,
                    format!("delimiter {c:?} would split every line into rows; pick another"),
                ));
            }
            Some('"') if quoting => {
                return Err(DataError::format(
                    path,
                    "delimiter '\"' is the quote character of CSV; use format = \"tsv\" with \
                     this delimiter to read a file without quoting",
                ));
            }
            Some(c) if c.is_ascii() => c as u8,
            Some(c) => {
                return Err(DataError::format(
                    path,
                    format!("delimiter {c:?} is not a single ASCII character"),
                ));
            }
            None => match format {
                Format::Csv | Format::Obd => b',',
                Format::Tsv | Format::Recbole => b'\t',
                Format::Auto | Format::Parquet => {
                    return Err(DataError::format(path, "not a delimited text format"));
                }
            },
        };
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let total_bytes = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        if total_bytes == 0 {
            return Err(DataError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let mut records = RecordReader::new(
            BufReader::with_capacity(READ_BUFFER_BYTES, file),
            Dialect { delimiter, quoting },
            Limits {
                max_field_bytes: options.max_field_bytes,
                max_line_bytes: options.max_line_bytes,
            },
        );
        if options.encoding == Encoding::Utf8 {
            records.skip_bom().map_err(|e| DataError::io(path, e))?;
        }
        let mut this = DelimitedReader {
            path: path.to_path_buf(),
            records,
            options: *options,
            header: Vec::new(),
            types: None,
            record: RawRecord::default(),
            pending: None,
            total_bytes,
            done: false,
        };
        let mut first = RawRecord::default();
        if !this.read_record(&mut first)? {
            return Err(DataError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        if let Some(oversize) = first.oversize {
            return Err(this.oversize_error(first.line, oversize));
        }
        if header {
            let mut names = Vec::with_capacity(first.len());
            let mut cell = String::new();
            for (i, raw) in first.fields().enumerate() {
                cell.clear();
                decode_cell(raw, this.options.encoding, &mut cell).map_err(|message| {
                    DataError::value(path, first.line, &positional_name(i), message)
                })?;
                names.push(cell.trim().to_string());
                if i == 0 && names[0].is_empty() {
                    names[0] = INDEX_COLUMN.to_string();
                }
            }
            if format == Format::Recbole {
                let (names_only, types) = split_recbole_header(path, first.line, &names)?;
                names = names_only;
                this.types = Some(types);
            }
            for (i, name) in names.iter_mut().enumerate() {
                if name.is_empty() {
                    *name = positional_name(i);
                }
            }
            this.header = names;
        } else {
            this.header = (0..first.len()).map(positional_name).collect();
            this.pending = Some(first);
        }
        check_unique_header(path, &this.header)?;
        Ok(this)
    }

    /// Reads one raw record; `Ok(false)` at end of file.
    fn read_record(&mut self, record: &mut RawRecord) -> Result<bool> {
        self.records.read_record(record).map_err(|e| match e {
            RecordError::Io(source) => DataError::io(&self.path, source),
            RecordError::UnterminatedQuote { line, field } => DataError::Broken {
                path: self.path.clone(),
                line,
                message: format!(
                    "field \"{}\": the quoted field that starts here is never closed (the \
                     file ends inside it); add the closing quote and write each quote inside \
                     a quoted field as \"\", or read the file with format = \"tsv\" and \
                     delimiter = \",\" if its quotes are ordinary characters",
                    field_name(&self.header, field)
                ),
            },
            RecordError::RunawayQuote { line, field } => DataError::Broken {
                path: self.path.clone(),
                line,
                message: format!(
                    "field \"{}\": the quoted field that starts here runs past max_line_bytes \
                     = {} bytes, so its closing quote is probably missing; fix the quote, or \
                     raise max_line_bytes in the schema's [source] if the field is genuine",
                    field_name(&self.header, field),
                    self.options.max_line_bytes
                ),
            },
        })
    }

    /// The error for a record that broke a size limit.
    fn oversize_error(&self, line: u64, oversize: Oversize) -> DataError {
        match oversize {
            Oversize::Field { field } => DataError::value(
                &self.path,
                line,
                &field_name(&self.header, field),
                format!(
                    "longer than max_field_bytes = {} bytes; raise max_field_bytes in the \
                     schema's [source] if the value is genuine, or check the file's delimiter \
                     and quoting",
                    self.options.max_field_bytes
                ),
            ),
            Oversize::Line { field } => DataError::value(
                &self.path,
                line,
                &field_name(&self.header, field),
                format!(
                    "the row passes max_line_bytes = {} bytes in this field; raise \
                     max_line_bytes in the schema's [source] if the row is genuine, or check \
                     the file's line endings and delimiter",
                    self.options.max_line_bytes
                ),
            ),
        }
    }

    fn fill_row(&self, record: &RawRecord, row: &mut Row) -> Result<()> {
        row.line = record.line;
        if let Some(oversize) = record.oversize {
            return Err(self.oversize_error(record.line, oversize));
        }
        if record.len() != self.header.len() {
            return Err(DataError::FieldCount {
                path: self.path.clone(),
                line: row.line,
                expected: self.header.len(),
                found: record.len(),
            });
        }
        row.fields.resize_with(record.len(), String::new);
        for (i, (cell, raw)) in row.fields.iter_mut().zip(record.fields()).enumerate() {
            cell.clear();
            decode_cell(raw, self.options.encoding, cell).map_err(|message| {
                DataError::value(&self.path, row.line, &self.header[i], message)
            })?;
        }
        Ok(())
    }
}

/// Decodes one cell into `out` in `encoding`: a NUL byte, or bytes that are not UTF-8 when
/// the file is declared UTF-8, are refused (the message says what to do), never patched.
fn decode_cell(
    raw: &[u8],
    encoding: Encoding,
    out: &mut String,
) -> std::result::Result<(), String> {
    if let Some(at) = memchr::memchr(0, raw) {
        return Err(format!(
            "contains a NUL byte (at byte {} of the cell); text never holds one, so the file \
             is probably binary or UTF-16: convert it to UTF-8 text",
            at + 1
        ));
    }
    match encoding {
        Encoding::Utf8 => match std::str::from_utf8(raw) {
            Ok(s) => out.push_str(s),
            Err(e) => {
                let at = e.valid_up_to();
                let bad = &raw[at..at + e.error_len().unwrap_or(raw.len() - at)];
                let bytes: Vec<String> = bad.iter().map(|b| format!("0x{b:02X}")).collect();
                return Err(format!(
                    "not valid UTF-8 ({} at byte {} of the cell); re-encode the file as \
                     UTF-8, or set encoding = \"latin1\" in the schema's [source] if it is \
                     Latin-1",
                    bytes.join(" "),
                    at + 1
                ));
            }
        },
        Encoding::Latin1 => out.extend(raw.iter().map(|&b| char::from(b))),
    }
    Ok(())
}

/// Splits RecBole header cells `name:type` into names and types.
fn split_recbole_header(
    path: &Path,
    line: u64,
    cells: &[String],
) -> Result<(Vec<String>, Vec<FieldType>)> {
    let mut names = Vec::with_capacity(cells.len());
    let mut types = Vec::with_capacity(cells.len());
    for cell in cells {
        let parsed = cell
            .rsplit_once(':')
            .and_then(|(name, ty)| Some((name, FieldType::parse(ty)?)));
        let Some((name, ty)) = parsed else {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                line,
                message: format!(
                    "RecBole header cell \"{cell}\" is not `name:type` with type \
                     token, token_seq, float or float_seq"
                ),
            });
        };
        names.push(name.to_string());
        types.push(ty);
    }
    Ok((names, types))
}

impl RowReader for DelimitedReader {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn field_types(&self) -> Option<&[FieldType]> {
        self.types.as_deref()
    }

    fn bytes_read(&self) -> u64 {
        self.records.offset()
    }

    fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    fn read_into(&mut self, row: &mut Row) -> Option<Result<()>> {
        if let Some(first) = self.pending.take() {
            return Some(self.fill_row(&first, row));
        }
        if self.done {
            return None;
        }
        let mut record = std::mem::take(&mut self.record);
        let result = match self.read_record(&mut record) {
            Ok(true) => Some(self.fill_row(&record, row)),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = !e.is_row_error();
                Some(Err(e))
            }
        };
        self.record = record;
        result
    }
}

impl Iterator for DelimitedReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut row = Row::default();
        self.read_into(&mut row).map(|r| r.map(|()| row))
    }
}
