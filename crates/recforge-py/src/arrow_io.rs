//! Arrow data across the boundary through the Arrow C data interface: pyarrow streams in,
//! record batches and arrays out, without copying the buffers.

use std::sync::Arc;

use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_array::{Array, RecordBatch, RecordBatchReader};
use arrow_pyarrow::{PyArrowType, ToPyArrow};
use arrow_schema::Schema;
use pyo3::prelude::*;
use recforge_data::reader::RecordBatches;

/// A pyarrow stream (anything with `__arrow_c_stream__`: a Table, a RecordBatchReader) as
/// the schema and the batches the readers take.
pub fn batches_of(stream: PyArrowType<RecordBatchStreamReader>) -> (Arc<Schema>, RecordBatches) {
    let reader = stream.0;
    (reader.schema(), Box::new(reader))
}

/// An Arrow array as a `pyarrow.Array`.
pub fn to_pyarrow<'py>(py: Python<'py>, array: &dyn Array) -> PyResult<Bound<'py, PyAny>> {
    array.to_data().to_pyarrow(py)
}

/// Record batches as a `pyarrow.Table`.
pub fn table<'py>(py: Python<'py>, schema: Arc<Schema>, batches: Vec<RecordBatch>) -> PyResult<Bound<'py, PyAny>> {
    let table = arrow_pyarrow::Table::try_new(batches, schema).map_err(|e| crate::errors::to_py(anyhow::anyhow!("{e}")))?;
    PyArrowType(table).into_pyobject(py).map(Bound::into_any)
}
