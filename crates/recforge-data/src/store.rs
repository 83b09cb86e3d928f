//! A dataset on disk: `data.arrow` (Arrow IPC file: one column per feature — `UInt32`,
//! `List<UInt32>` or `Float32` — then `__label`, `__example_id` and `__timestamp`),
//! `meta.json` ([`DatasetMeta`]) and `encoder.json` (vocabularies and numeric statistics).
//! Written into a temporary sibling folder and renamed into place, so a reader never sees
//! half a dataset.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{
    ArrayRef, Float32Array, Int64Array, ListArray, RecordBatch, UInt32Array, UInt64Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema as ArrowSchema};

use crate::dataset::{Column, Dataset, DatasetMeta};
use crate::encoder::Encoder;
use crate::error::{DataError, Result};

pub const DATA_FILE: &str = "data.arrow";
pub const META_FILE: &str = "meta.json";
pub const ENCODER_FILE: &str = "encoder.json";
const LABEL_COLUMN: &str = "__label";
const EXAMPLE_ID_COLUMN: &str = "__example_id";
const TIMESTAMP_COLUMN: &str = "__timestamp";
/// Rows per Arrow record batch: bounds the extra memory a save needs.
const ROWS_PER_BATCH: usize = 1 << 20;

/// Writes `dataset` (plus `extra` files) to `dir`, replacing what was there.
pub fn save(dataset: &Dataset, dir: &Path, extra: &[(&str, Vec<u8>)]) -> Result<()> {
    dataset.check_consistency().map_err(|m| {
        DataError::Invalid(format!(
            "cannot save dataset \"{}\": {m}",
            dataset.meta.name
        ))
    })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| DataError::io(&parent, e))?;
    let tmp = sibling(dir, "tmp");
    std::fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let written = write_all(dataset, &tmp, extra).and_then(|()| replace_dir(&tmp, dir));
    if written.is_err() {
        // Best effort: the error being returned matters more than a stray temporary folder.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// Reads a dataset written by [`save`].
pub fn load(dir: &Path) -> Result<Dataset> {
    let meta_path = dir.join(META_FILE);
    let meta: DatasetMeta = read_json(&meta_path)?;
    let encoder_path = dir.join(ENCODER_FILE);
    let encoder = if encoder_path.exists() {
        Some(Arc::new(read_json::<Encoder>(&encoder_path)?))
    } else {
        None
    };
    let data_path = dir.join(DATA_FILE);
    let dataset = read_arrow(&data_path, meta, encoder)?;
    dataset
        .check_consistency()
        .map_err(|m| DataError::format(&data_path, m))?;
    Ok(dataset)
}

/// A unique sibling path `.<name>.<what>-<pid>-<nanos>` of `dir`.
fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    dir.with_file_name(format!(".{name}.{what}-{}-{nanos}", std::process::id()))
}

fn replace_dir(tmp: &Path, dir: &Path) -> Result<()> {
    if dir.exists() {
        let old = sibling(dir, "old");
        std::fs::rename(dir, &old).map_err(|e| DataError::io(dir, e))?;
        std::fs::rename(tmp, dir).map_err(|e| DataError::io(dir, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| DataError::io(&old, e))?;
    } else {
        std::fs::rename(tmp, dir).map_err(|e| DataError::io(dir, e))?;
    }
    Ok(())
}

fn write_all(dataset: &Dataset, dir: &Path, extra: &[(&str, Vec<u8>)]) -> Result<()> {
    write_arrow(dataset, &dir.join(DATA_FILE))?;
    write_file(&dir.join(META_FILE), &to_json(&dataset.meta, dir)?)?;
    if let Some(encoder) = &dataset.encoder {
        write_file(&dir.join(ENCODER_FILE), &to_json(encoder.as_ref(), dir)?)?;
    }
    for (name, bytes) in extra {
        write_file(&dir.join(name), bytes)?;
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T, dir: &Path) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| DataError::format(dir, e))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|e| DataError::io(path, e))?;
    file.write_all(bytes).map_err(|e| DataError::io(path, e))?;
    file.sync_all().map_err(|e| DataError::io(path, e))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_reader(BufReader::new(file)).map_err(|e| DataError::format(path, e))
}

fn arrow_schema(dataset: &Dataset) -> ArrowSchema {
    let mut fields: Vec<Field> = dataset
        .meta
        .features
        .iter()
        .zip(&dataset.columns)
        .map(|(f, c)| Field::new(&f.name, column_type(c), false))
        .collect();
    fields.push(Field::new(LABEL_COLUMN, DataType::Float32, false));
    fields.push(Field::new(EXAMPLE_ID_COLUMN, DataType::UInt64, false));
    if dataset.timestamps.is_some() {
        fields.push(Field::new(TIMESTAMP_COLUMN, DataType::Int64, false));
    }
    ArrowSchema::new(fields)
}

fn column_type(column: &Column) -> DataType {
    match column {
        Column::Categorical(_) => DataType::UInt32,
        Column::Numeric(_) => DataType::Float32,
        Column::Multi { .. } => DataType::List(Arc::new(list_item())),
    }
}

fn list_item() -> Field {
    Field::new_list_field(DataType::UInt32, false)
}

fn write_arrow(dataset: &Dataset, path: &Path) -> Result<()> {
    let arrow_err = |e: arrow_schema::ArrowError| DataError::format(path, format!("arrow: {e}"));
    let schema = Arc::new(arrow_schema(dataset));
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut writer = FileWriter::try_new(BufWriter::new(file), &schema).map_err(arrow_err)?;
    let n = dataset.len();
    let mut start = 0;
    while start < n || (n == 0 && start == 0) {
        let end = (start + ROWS_PER_BATCH).min(n);
        let batch = batch_of(dataset, &schema, start, end, path)?;
        writer.write(&batch).map_err(arrow_err)?;
        if n == 0 {
            break;
        }
        start = end;
    }
    writer.finish().map_err(arrow_err)?;
    let file = writer.into_inner().map_err(arrow_err)?;
    let file = file
        .into_inner()
        .map_err(|e| DataError::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| DataError::io(path, e))
}

/// Rows `start..end` of `dataset` as one record batch with `schema` ([`arrow_schema`]);
/// `path` names the dataset in errors.
fn batch_of(dataset: &Dataset, schema: &Arc<ArrowSchema>, start: usize, end: usize, path: &Path) -> Result<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for column in &dataset.columns {
        arrays.push(chunk(column, start, end, path)?);
    }
    arrays.push(Arc::new(Float32Array::from(dataset.labels[start..end].to_vec())));
    arrays.push(Arc::new(UInt64Array::from(dataset.example_ids[start..end].to_vec())));
    if let Some(ts) = &dataset.timestamps {
        arrays.push(Arc::new(Int64Array::from(ts[start..end].to_vec())));
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| DataError::format(path, format!("arrow: {e}")))
}

/// `dataset` as Arrow record batches of at most 2^20 rows, with the columns of `data.arrow`:
/// one per feature (`UInt32` ids, `List<UInt32>` bags, `Float32` normalised numbers), then
/// `__label`, `__example_id` and (when present) `__timestamp`. What the Python package hands
/// to pyarrow.
pub fn record_batches(dataset: &Dataset) -> Result<(Arc<ArrowSchema>, Vec<RecordBatch>)> {
    let schema = Arc::new(arrow_schema(dataset));
    let name = Path::new(&dataset.meta.name);
    let n = dataset.len();
    let mut batches = Vec::with_capacity(n.div_ceil(ROWS_PER_BATCH));
    for start in (0..n).step_by(ROWS_PER_BATCH) {
        batches.push(batch_of(dataset, &schema, start, (start + ROWS_PER_BATCH).min(n), name)?);
    }
    Ok((schema, batches))
}

/// Rows `start..end` of `column` as an Arrow array (list offsets rebased to 0).
fn chunk(column: &Column, start: usize, end: usize, path: &Path) -> Result<ArrayRef> {
    Ok(match column {
        Column::Categorical(ids) => Arc::new(UInt32Array::from(ids[start..end].to_vec())),
        Column::Numeric(values) => Arc::new(Float32Array::from(values[start..end].to_vec())),
        Column::Multi { offsets, values } => {
            let base = offsets[start];
            let rebased = offsets[start..=end]
                .iter()
                .map(|&o| i32::try_from(o - base))
                .collect::<std::result::Result<Vec<i32>, _>>()
                .map_err(|_| DataError::format(path, "a list chunk holds more than 2^31 values"))?;
            let values = UInt32Array::from(values[base as usize..offsets[end] as usize].to_vec());
            let list = ListArray::try_new(
                Arc::new(list_item()),
                OffsetBuffer::new(ScalarBuffer::from(rebased)),
                Arc::new(values),
                None,
            )
            .map_err(|e| DataError::format(path, format!("arrow: {e}")))?;
            Arc::new(list)
        }
    })
}

fn read_arrow(path: &Path, meta: DatasetMeta, encoder: Option<Arc<Encoder>>) -> Result<Dataset> {
    let arrow_err = |e: arrow_schema::ArrowError| DataError::format(path, format!("arrow: {e}"));
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = FileReader::try_new(BufReader::new(file), None).map_err(arrow_err)?;
    let rows = meta.rows;
    let mut columns: Vec<Column> = meta
        .features
        .iter()
        .map(|f| {
            if f.kind.is_bag() {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Column::Multi {
                    offsets,
                    values: Vec::new(),
                }
            } else if f.kind.is_sparse() {
                Column::Categorical(Vec::with_capacity(rows))
            } else {
                Column::Numeric(Vec::with_capacity(rows))
            }
        })
        .collect();
    let has_timestamp = meta.has_timestamp;
    let expected = columns.len() + 2 + usize::from(has_timestamp);
    let mut labels = Vec::with_capacity(rows);
    let mut example_ids = Vec::with_capacity(rows);
    let mut timestamps = has_timestamp.then(|| Vec::with_capacity(rows));
    for batch in reader {
        let batch = batch.map_err(arrow_err)?;
        if batch.num_columns() != expected {
            return Err(DataError::format(
                path,
                format!(
                    "{} columns, meta.json implies {expected}",
                    batch.num_columns()
                ),
            ));
        }
        for (column, array) in columns.iter_mut().zip(batch.columns()) {
            append(column, array).map_err(|m| DataError::format(path, m))?;
        }
        let k = meta.features.len();
        labels.extend_from_slice(primitive::<Float32Type>(
            batch.column(k),
            LABEL_COLUMN,
            path,
        )?);
        example_ids.extend_from_slice(primitive::<UInt64Type>(
            batch.column(k + 1),
            EXAMPLE_ID_COLUMN,
            path,
        )?);
        if let Some(ts) = timestamps.as_mut() {
            ts.extend_from_slice(primitive::<Int64Type>(
                batch.column(k + 2),
                TIMESTAMP_COLUMN,
                path,
            )?);
        }
    }
    Ok(Dataset {
        meta,
        columns,
        labels,
        example_ids,
        timestamps,
        encoder,
    })
}

fn primitive<'a, T: arrow_array::ArrowPrimitiveType>(
    array: &'a ArrayRef,
    name: &str,
    path: &Path,
) -> Result<&'a [T::Native]> {
    array
        .as_primitive_opt::<T>()
        .map(|a| a.values().as_ref())
        .ok_or_else(|| {
            DataError::format(
                path,
                format!("column {name} has type {}", array.data_type()),
            )
        })
}

fn append(column: &mut Column, array: &ArrayRef) -> std::result::Result<(), String> {
    let wrong = || {
        format!(
            "a column has type {}, not the one meta.json declares",
            array.data_type()
        )
    };
    match column {
        Column::Categorical(ids) => ids.extend_from_slice(
            array
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(wrong)?
                .values(),
        ),
        Column::Numeric(values) => values.extend_from_slice(
            array
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(wrong)?
                .values(),
        ),
        Column::Multi { offsets, values } => {
            let list = array.as_list_opt::<i32>().ok_or_else(wrong)?;
            let items = list
                .values()
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(wrong)?;
            let first = list.value_offsets().first().copied().unwrap_or(0);
            let last = list.value_offsets().last().copied().unwrap_or(0);
            let base = values.len() as i64 - i64::from(first);
            values.extend_from_slice(&items.values()[first as usize..last as usize]);
            offsets.extend(
                list.value_offsets()
                    .iter()
                    .skip(1)
                    .map(|&o| (i64::from(o) + base) as u32),
            );
        }
    }
    Ok(())
}
