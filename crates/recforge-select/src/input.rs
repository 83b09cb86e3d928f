//! Documents in: JSON lines, CSV/TSV and Parquet text columns, streamed record by record.
//! Documents out: the kept records as JSON lines, every input field preserved.
//!
//! CSV/TSV/Parquet go through `recforge_data`'s row readers; JSON lines are read here (one
//! object per line). A missing field, a non-string or empty text, an empty line or bytes
//! that are not UTF-8 are errors naming the file, the line and the field.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use recforge_data::{Format, open_reader};
use serde_json::{Map, Value};

use crate::error::{Result, SelectError};

/// One input record.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 0-based position among the file's records: the global id shards and merges agree on.
    pub index: usize,
    /// 1-based line (row number for Parquet), for messages.
    pub line: u64,
    /// The text column.
    pub text: String,
    /// All fields of the record, the text included.
    pub record: Map<String, Value>,
}

/// A streaming reader of [`Document`]s.
pub struct DocumentReader {
    inner: Inner,
    path: PathBuf,
    field: String,
    next_index: usize,
}

enum Inner {
    Jsonl { lines: BufReader<File>, line: u64 },
    Rows { rows: Box<dyn recforge_data::RowReader>, header: Vec<String>, column: usize },
}

impl DocumentReader {
    /// Opens `path`; the format follows the extension (`.jsonl`/`.json`/`.ndjson`, `.csv`,
    /// `.tsv`, `.parquet`). `field` names the text column.
    pub fn open(path: &Path, field: &str) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        let inner = match ext.as_str() {
            "jsonl" | "json" | "ndjson" => {
                let file = File::open(path).map_err(|e| SelectError::io(path, e))?;
                Inner::Jsonl { lines: BufReader::new(file), line: 0 }
            }
            "csv" | "tsv" | "parquet" | "pq" => {
                let rows = open_reader(path, Format::Auto, None, true)?;
                let column = rows.column_index(field)?;
                let header = rows.header().to_vec();
                Inner::Rows { rows, header, column }
            }
            _ => {
                return Err(SelectError::file(
                    path,
                    format!("cannot tell the format from the extension \".{ext}\"; use .jsonl, .csv, .tsv or .parquet"),
                ));
            }
        };
        Ok(DocumentReader { inner, path: path.to_path_buf(), field: field.to_string(), next_index: 0 })
    }

    fn next_jsonl(&mut self) -> Option<Result<Document>> {
        let Inner::Jsonl { lines, line } = &mut self.inner else { return None };
        let mut bytes = Vec::new();
        match lines.read_until(b'\n', &mut bytes) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => return Some(Err(SelectError::io(&self.path, e))),
        }
        *line += 1;
        let line = *line;
        let input_error = |message: String| SelectError::Input { path: self.path.clone(), line, message };
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t.trim_end_matches(['\n', '\r']),
            Err(e) => {
                return Some(Err(input_error(format!(
                    "not valid UTF-8 (byte {}); re-encode the file as UTF-8",
                    e.valid_up_to()
                ))));
            }
        };
        if text.trim().is_empty() {
            return Some(Err(input_error("empty line; every line must be one JSON object".into())));
        }
        let record = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Some(Err(input_error("expected a JSON object".into()))),
            Err(e) => return Some(Err(input_error(format!("invalid JSON: {e}")))),
        };
        let doc_text = match record.get(&self.field) {
            None => {
                let fields: Vec<&str> = record.keys().map(String::as_str).collect();
                return Some(Err(self.field_error(line, format!("missing (fields: {}); pick one with --text-field", fields.join(", ")))));
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Some(Err(self.field_error(line, format!("expected a string, found {}", type_name(other))))),
        };
        Some(self.finish(line, doc_text, record))
    }

    fn next_row(&mut self) -> Option<Result<Document>> {
        let Inner::Rows { rows, header, column } = &mut self.inner else { return None };
        let row = match rows.next()? {
            Ok(row) => row,
            Err(e) => return Some(Err(e.into())),
        };
        let text = row.fields[*column].clone();
        let record: Map<String, Value> =
            header.iter().cloned().zip(row.fields.into_iter().map(Value::String)).collect();
        Some(self.finish(row.line, text, record))
    }

    fn finish(&mut self, line: u64, text: String, record: Map<String, Value>) -> Result<Document> {
        if text.trim().is_empty() {
            return Err(self.field_error(line, "empty text; remove the record or fill it".into()));
        }
        let index = self.next_index;
        self.next_index += 1;
        Ok(Document { index, line, text, record })
    }

    fn field_error(&self, line: u64, message: String) -> SelectError {
        SelectError::Field { path: self.path.clone(), line, field: self.field.clone(), message }
    }
}

impl Iterator for DocumentReader {
    type Item = Result<Document>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.inner {
            Inner::Jsonl { .. } => self.next_jsonl(),
            Inner::Rows { .. } => self.next_row(),
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads every document of `path`; an empty file is an error.
pub fn read_documents(path: &Path, field: &str) -> Result<Vec<Document>> {
    let docs = DocumentReader::open(path, field)?.collect::<Result<Vec<_>>>()?;
    if docs.is_empty() {
        return Err(SelectError::file(path, "no records"));
    }
    Ok(docs)
}

/// Writes `records` as JSON lines.
pub fn write_jsonl<'a>(path: &Path, records: impl IntoIterator<Item = &'a Map<String, Value>>) -> Result<usize> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| SelectError::io(parent, e))?;
    }
    let file = File::create(path).map_err(|e| SelectError::io(path, e))?;
    let mut out = BufWriter::new(file);
    let mut n = 0;
    for record in records {
        serde_json::to_writer(&mut out, record).map_err(|e| SelectError::io(path, e.into()))?;
        out.write_all(b"\n").map_err(|e| SelectError::io(path, e))?;
        n += 1;
    }
    out.flush().map_err(|e| SelectError::io(path, e))?;
    Ok(n)
}
