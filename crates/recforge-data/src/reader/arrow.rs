//! Parquet files and in-memory Arrow record batches (e.g. a pyarrow table handed over through
//! the Arrow C data interface), one batch at a time, cells rendered as strings so Arrow data
//! goes through the same encoding path as text logs.
//!
//! Written by hand because arrow's display kernels (`arrow-cast`) are not a dependency and
//! render lists as `[a, b]`; here nulls become empty cells and lists become `a|b`, the default
//! multi-value separator.
//!
//! Arrow strings are UTF-8 by the format's rules (the decoder checks), so
//! [`ReadOptions::encoding`] does not apply; a NUL byte in a string and a rendered cell longer
//! than [`ReadOptions::max_field_bytes`] are row errors, as in text files.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Schema as ArrowSchema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{ReadOptions, Row, RowReader, check_unique_header};
use crate::error::{DataError, Result};

/// Record batches from a Parquet decoder or from memory.
pub type RecordBatches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

/// Rows decoded per record batch.
const BATCH_ROWS: usize = 8192;

/// Separator placed between the elements of a Parquet list cell.
pub(crate) const LIST_SEPARATOR: char = '|';

/// A streaming reader over Arrow record batches: a Parquet file ([`ArrowRowReader::open`]) or
/// batches already in memory ([`ArrowRowReader::from_batches`]).
pub struct ArrowRowReader {
    path: PathBuf,
    header: Vec<String>,
    max_field_bytes: usize,
    /// "parquet" or "arrow": what decode errors are prefixed with.
    source: &'static str,
    batches: RecordBatches,
    batch: Option<RecordBatch>,
    next_in_batch: usize,
    rows_done: u64,
    total_rows: u64,
    total_bytes: u64,
    done: bool,
}

impl ArrowRowReader {
    /// Opens the Parquet file `path` with the default [`ReadOptions`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &ReadOptions::default())
    }

    /// Opens the Parquet file `path`; cells longer than `options.max_field_bytes` are row
    /// errors.
    pub fn open_with(path: &Path, options: &ReadOptions) -> Result<Self> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let total_bytes = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        if total_bytes == 0 {
            return Err(DataError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let builder = decoder_guard(path, || ParquetRecordBatchReaderBuilder::try_new(file))?
            .map_err(|e| DataError::format(path, format!("parquet: {e}")))?;
        let total_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let schema = builder.schema().clone();
        let batches = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| DataError::format(path, format!("parquet: {e}")))?;
        Self::new(path, &schema, ("parquet", Box::new(batches)), total_rows, total_bytes, options)
    }

    /// Reads `batches` (all with `schema`, `total_rows` rows together) as if they were a file
    /// called `name`: the name is what error messages show, and a row's "line" is its 1-based
    /// row number. Progress counts rows as bytes.
    pub fn from_batches(
        name: &Path,
        schema: &ArrowSchema,
        batches: RecordBatches,
        total_rows: u64,
        options: &ReadOptions,
    ) -> Result<Self> {
        Self::new(name, schema, ("arrow", batches), total_rows, total_rows, options)
    }

    fn new(
        path: &Path,
        schema: &ArrowSchema,
        (source, batches): (&'static str, RecordBatches),
        total_rows: u64,
        total_bytes: u64,
        options: &ReadOptions,
    ) -> Result<Self> {
        let fields = schema.fields();
        if let Some(f) = fields.iter().find(|f| !supported(f.data_type())) {
            return Err(DataError::format(
                path,
                format!(
                    "column \"{}\" has the unsupported type {}",
                    f.name(),
                    f.data_type()
                ),
            ));
        }
        let header: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
        check_unique_header(path, &header)?;
        Ok(ArrowRowReader {
            path: path.to_path_buf(),
            header,
            max_field_bytes: options.max_field_bytes,
            source,
            batches,
            batch: None,
            next_in_batch: 0,
            rows_done: 0,
            total_rows,
            total_bytes,
            done: false,
        })
    }

    /// Makes sure `self.batch` has a row at `next_in_batch`; `Ok(false)` at the end.
    fn ensure_batch(&mut self) -> Result<bool> {
        loop {
            if let Some(batch) = &self.batch
                && self.next_in_batch < batch.num_rows()
            {
                return Ok(true);
            }
            let batches = &mut self.batches;
            match decoder_guard(&self.path, || batches.next())? {
                None => return Ok(false),
                Some(Err(e)) => return Err(DataError::format(&self.path, format!("{}: {e}", self.source))),
                Some(Ok(batch)) => {
                    self.batch = Some(batch);
                    self.next_in_batch = 0;
                }
            }
        }
    }
}

impl RowReader for ArrowRowReader {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn bytes_read(&self) -> u64 {
        if self.total_rows == 0 {
            return 0;
        }
        (self.total_bytes as f64 * self.rows_done as f64 / self.total_rows as f64) as u64
    }

    fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    fn read_into(&mut self, row: &mut Row) -> Option<Result<()>> {
        if self.done {
            return None;
        }
        match self.ensure_batch() {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        }
        let batch = self.batch.as_ref()?;
        let index = self.next_in_batch;
        self.next_in_batch += 1;
        self.rows_done += 1;
        row.line = self.rows_done;
        row.fields.resize_with(batch.num_columns(), String::new);
        for ((cell, column), name) in row.fields.iter_mut().zip(batch.columns()).zip(&self.header) {
            cell.clear();
            if let Err(message) = write_cell(column, index, cell) {
                // Not a row error: the same column would fail on every row.
                self.done = true;
                return Some(Err(DataError::format(
                    &self.path,
                    format!("row {}, column \"{name}\": {message}", row.line),
                )));
            }
            if let Err(message) = check_cell(cell, self.max_field_bytes) {
                return Some(Err(DataError::value(&self.path, row.line, name, message)));
            }
        }
        Some(Ok(()))
    }
}

impl Iterator for ArrowRowReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut row = Row::default();
        self.read_into(&mut row).map(|r| r.map(|()| row))
    }
}

/// Runs a call into the Parquet decoder, turning a panic into an error: the `parquet` crate
/// asserts on some damaged files (e.g. inconsistent page metadata) instead of returning `Err`,
/// and a damaged user file must be an error naming the file, never a crash.
fn decoder_guard<T>(path: &Path, call: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        DataError::format(path, format!("parquet: the file is damaged (the decoder failed: {message})"))
    })
}

/// The limits a rendered cell must keep: no NUL byte, at most `max_field_bytes` bytes.
fn check_cell(cell: &str, max_field_bytes: usize) -> std::result::Result<(), String> {
    if let Some(at) = memchr::memchr(0, cell.as_bytes()) {
        return Err(format!(
            "contains a NUL byte (at byte {} of the cell); text never holds one: clean the \
             column before writing the Parquet file",
            at + 1
        ));
    }
    if cell.len() > max_field_bytes {
        return Err(format!(
            "{} bytes, longer than max_field_bytes = {max_field_bytes}; raise max_field_bytes \
             in the schema's [source] if the value is genuine",
            cell.len()
        ));
    }
    Ok(())
}

/// Whether [`write_cell`] can render a column of this type.
fn supported(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(_, values) => supported(values),
        DataType::List(item) | DataType::LargeList(item) => supported(item.data_type()),
        other => {
            other.is_integer()
                || other.is_floating()
                || matches!(
                    other,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
                )
        }
    }
}

/// Appends the value at `index` of `array` to `out`; nulls append nothing.
fn write_cell(array: &ArrayRef, index: usize, out: &mut String) -> std::result::Result<(), String> {
    if array.is_null(index) {
        return Ok(());
    }
    // `write!` into a String cannot fail.
    macro_rules! prim {
        ($t:ty) => {{
            let _ = write!(out, "{}", array.as_primitive::<$t>().value(index));
        }};
    }
    match array.data_type() {
        DataType::Utf8 => out.push_str(array.as_string::<i32>().value(index)),
        DataType::LargeUtf8 => out.push_str(array.as_string::<i64>().value(index)),
        DataType::Utf8View => out.push_str(array.as_string_view().value(index)),
        DataType::Boolean => out.push_str(if array.as_boolean().value(index) {
            "1"
        } else {
            "0"
        }),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float16 => prim!(Float16Type),
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Dictionary(_, _) => {
            let dict = array
                .as_any_dictionary_opt()
                .ok_or_else(|| "unreadable dictionary column".to_string())?;
            let key = dictionary_key(dict.keys(), index)
                .ok_or_else(|| "dictionary key is not a non-negative integer".to_string())?;
            write_cell(dict.values(), key, out)?;
        }
        DataType::List(_) => write_list(&array.as_list::<i32>().value(index), out)?,
        DataType::LargeList(_) => write_list(&array.as_list::<i64>().value(index), out)?,
        other => return Err(format!("unsupported Parquet column type {other}")),
    }
    Ok(())
}

fn write_list(values: &ArrayRef, out: &mut String) -> std::result::Result<(), String> {
    for i in 0..values.len() {
        if i > 0 {
            out.push(LIST_SEPARATOR);
        }
        write_cell(values, i, out)?;
    }
    Ok(())
}

/// The dictionary index stored at `index` of a dictionary column's `keys`.
fn dictionary_key(keys: &dyn Array, index: usize) -> Option<usize> {
    let key: i128 = match keys.data_type() {
        DataType::Int8 => keys.as_primitive::<Int8Type>().value(index).into(),
        DataType::Int16 => keys.as_primitive::<Int16Type>().value(index).into(),
        DataType::Int32 => keys.as_primitive::<Int32Type>().value(index).into(),
        DataType::Int64 => keys.as_primitive::<Int64Type>().value(index).into(),
        DataType::UInt8 => keys.as_primitive::<UInt8Type>().value(index).into(),
        DataType::UInt16 => keys.as_primitive::<UInt16Type>().value(index).into(),
        DataType::UInt32 => keys.as_primitive::<UInt32Type>().value(index).into(),
        DataType::UInt64 => keys.as_primitive::<UInt64Type>().value(index).into(),
        _ => return None,
    };
    usize::try_from(key).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{Int64Array, ListArray, StringArray};
    use arrow_schema::Field;

    use super::*;

    fn batch(names: Vec<Option<&str>>, counts: Vec<Option<i64>>, tags: Vec<Option<Vec<Option<i32>>>>) -> RecordBatch {
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("count", DataType::Int64, true),
            Field::new("tags", DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))), true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(counts)),
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(tags)),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    fn reader(batches: Vec<RecordBatch>) -> ArrowRowReader {
        let schema = batches[0].schema();
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let iter: RecordBatches = Box::new(batches.into_iter().map(Ok));
        ArrowRowReader::from_batches(Path::new("<table>"), &schema, iter, rows, &ReadOptions::default()).unwrap()
    }

    #[test]
    fn in_memory_batches_read_like_a_file_across_batch_boundaries() {
        let first = batch(vec![Some("a"), None], vec![Some(3), None], vec![Some(vec![Some(1), Some(2)]), None]);
        let second = batch(vec![Some("c")], vec![Some(-7)], vec![Some(vec![])]);
        let mut rows = reader(vec![first, second]);
        assert_eq!(rows.header(), ["name", "count", "tags"]);
        let read: Vec<(u64, Vec<String>)> = rows.by_ref().map(|r| r.map(|row| (row.line, row.fields)).unwrap()).collect();
        assert_eq!(
            read,
            vec![
                (1, vec!["a".into(), "3".into(), "1|2".into()]),
                (2, vec![String::new(), String::new(), String::new()]),
                (3, vec!["c".into(), "-7".into(), String::new()]),
            ]
        );
        assert_eq!(rows.bytes_read(), rows.total_bytes());
    }

    #[test]
    fn a_nul_byte_is_a_row_error_naming_the_source_row_and_column() {
        let mut rows = reader(vec![batch(vec![Some("ok"), Some("bad\0")], vec![Some(1), Some(2)], vec![None, None])]);
        assert!(rows.next().unwrap().is_ok());
        let error = rows.next().unwrap().unwrap_err().to_string();
        assert!(error.contains("<table>") && error.contains("name") && error.contains("NUL"), "{error}");
    }

    #[test]
    fn a_failing_stream_is_an_arrow_error_not_a_panic() {
        let good = batch(vec![Some("a")], vec![Some(1)], vec![None]);
        let schema = good.schema();
        let iter: RecordBatches = Box::new(vec![Ok(good), Err(ArrowError::ComputeError("stream broke".into()))].into_iter());
        let mut rows = ArrowRowReader::from_batches(Path::new("<stream>"), &schema, iter, 2, &ReadOptions::default()).unwrap();
        assert!(rows.next().unwrap().is_ok());
        let error = rows.next().unwrap().unwrap_err().to_string();
        assert!(error.contains("<stream>") && error.contains("arrow: ") && error.contains("stream broke"), "{error}");
        assert!(rows.next().is_none());
    }
}
