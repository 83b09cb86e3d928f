//! CSV, TSV, RecBole atomic files and Open Bandit CSV: all delimiter-separated text, read
//! with the `csv` crate into one reused byte record.
//!
//! CSV and OBD follow RFC 4180 quoting; TSV and RecBole files have none (a `"` is an
//! ordinary character, as in MovieLens titles). An empty first header cell — pandas' index
//! column, as in every Open Bandit file — is named `index`; other empty header cells get
//! positional names. Line endings may be LF or CRLF (the RecBole releases use CRLF).

use std::fs::File;
use std::path::{Path, PathBuf};

use csv::{ByteRecord, ReaderBuilder};

use super::lines::LineIndex;
use super::{FieldType, Format, Row, RowReader, check_unique_header, positional_name};
use crate::error::{DataError, Result};

/// Bytes the csv parser buffers per read; large enough that syscalls do not dominate.
const READ_BUFFER_BYTES: usize = 1 << 16;

/// Name pandas' unnamed index column gets (Open Bandit Dataset files start with one).
const INDEX_COLUMN: &str = "index";

/// A streaming reader for delimiter-separated text files.
pub struct DelimitedReader {
    path: PathBuf,
    reader: csv::Reader<LineIndex<File>>,
    header: Vec<String>,
    types: Option<Vec<FieldType>>,
    record: ByteRecord,
    /// The first data row of a header-less file, read while learning the column count.
    pending: Option<ByteRecord>,
    total_bytes: u64,
    done: bool,
}

impl DelimitedReader {
    /// Opens `path`; `format` must not be `Auto` or `Parquet`.
    pub fn open(
        path: &Path,
        format: Format,
        delimiter: Option<char>,
        header: bool,
    ) -> Result<Self> {
        let format = format.resolve(path)?;
        let delimiter = match delimiter {
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
        let reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .quoting(matches!(format, Format::Csv | Format::Obd))
            .buffer_capacity(READ_BUFFER_BYTES)
            .from_reader(LineIndex::new(file));
        let mut this = DelimitedReader {
            path: path.to_path_buf(),
            reader,
            header: Vec::new(),
            types: None,
            record: ByteRecord::new(),
            pending: None,
            total_bytes,
            done: false,
        };
        let mut first = ByteRecord::new();
        if !this.read_record(&mut first)? {
            return Err(DataError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        if header {
            let mut names = Vec::with_capacity(first.len());
            for (i, raw) in first.iter().enumerate() {
                names.push(
                    decode(raw)
                        .trim()
                        .trim_start_matches('\u{feff}')
                        .to_string(),
                );
                if i == 0 && names[0].is_empty() {
                    names[0] = INDEX_COLUMN.to_string();
                }
            }
            if format == Format::Recbole {
                let (names_only, types) = split_recbole_header(path, &names)?;
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
    fn read_record(&mut self, record: &mut ByteRecord) -> Result<bool> {
        self.reader.read_byte_record(record).map_err(|e| {
            let line = match e.position() {
                Some(p) => self.reader.get_mut().line_at(p.byte()),
                None => 0,
            };
            match e.into_kind() {
                csv::ErrorKind::Io(source) => DataError::io(&self.path, source),
                other => DataError::Malformed {
                    path: self.path.clone(),
                    line,
                    message: format!("{other:?}"),
                },
            }
        })
    }

    fn fill_row(&mut self, record: &ByteRecord, row: &mut Row) -> Result<()> {
        row.line = match record.position() {
            Some(p) => self.reader.get_mut().line_at(p.byte()),
            None => 0,
        };
        if record.len() != self.header.len() {
            return Err(DataError::FieldCount {
                path: self.path.clone(),
                line: row.line,
                expected: self.header.len(),
                found: record.len(),
            });
        }
        row.fields.resize_with(record.len(), String::new);
        for (cell, raw) in row.fields.iter_mut().zip(record.iter()) {
            cell.clear();
            match std::str::from_utf8(raw) {
                Ok(s) => cell.push_str(s),
                Err(_) => cell.extend(raw.iter().map(|&b| b as char)),
            }
        }
        Ok(())
    }
}

/// Decodes a cell: UTF-8, or Latin-1 when the bytes are not valid UTF-8 (older MovieLens
/// releases ship Latin-1 titles). Latin-1 maps every byte to one character, so nothing is
/// lost and the same bytes always give the same token.
fn decode(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| b as char).collect(),
    }
}

/// Splits RecBole header cells `name:type` into names and types.
fn split_recbole_header(path: &Path, cells: &[String]) -> Result<(Vec<String>, Vec<FieldType>)> {
    let mut names = Vec::with_capacity(cells.len());
    let mut types = Vec::with_capacity(cells.len());
    for cell in cells {
        let parsed = cell
            .rsplit_once(':')
            .and_then(|(name, ty)| Some((name, FieldType::parse(ty)?)));
        let Some((name, ty)) = parsed else {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                line: 1,
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
        self.reader.position().byte()
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
