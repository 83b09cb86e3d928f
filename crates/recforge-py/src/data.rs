//! `recforge._native.inspect` and `prepare`: a file's column profile and a schema's prepared,
//! split dataset as pyarrow tables.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use recforge_data::{Format, Schema, Task, TaskOptions};

use crate::arrow_io::table;
use crate::errors::to_py;
use crate::progress::PyProgress;

/// The profile of a data file as JSON text (`recforge data inspect`'s report).
#[pyfunction]
#[pyo3(signature = (path, schema=None, max_rows=None))]
pub fn inspect(py: Python<'_>, path: PathBuf, schema: Option<PathBuf>, max_rows: Option<u64>) -> PyResult<String> {
    py.detach(|| -> anyhow::Result<String> {
        let schema = schema.as_deref().map(Schema::from_toml_file).transpose()?;
        let report = recforge_data::inspect(&path, Format::Auto, schema.as_ref(), max_rows)?;
        Ok(serde_json::to_string(&report)?)
    })
    .map_err(to_py)
}

/// The schema's data prepared (encoded, cached) and split: a dict with `train`, `valid` and
/// `test` pyarrow tables (feature ids, normalised numbers, `__label`, `__example_id`) and
/// `cardinalities` (embedding rows per feature, OOV row 0 included; 0 for numeric features).
#[pyfunction]
#[pyo3(signature = (schema, skip_bad_rows=false, force=false, progress=None))]
pub fn prepare<'py>(
    py: Python<'py>,
    schema: PathBuf,
    skip_bad_rows: bool,
    force: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = TaskOptions { skip_bad_rows, force, ..Default::default() };
    let watcher = PyProgress::new(progress);
    let result = py.detach(|| -> anyhow::Result<_> {
        let task = Task::load(&schema, &options, &watcher)?;
        let mut parts = Vec::new();
        for (name, rows) in [("train", &task.split.train), ("valid", &task.split.valid), ("test", &task.split.test)] {
            parts.push((name, recforge_data::store::record_batches(&task.dataset.subset(rows))?));
        }
        let sizes: Vec<(String, usize)> = task.dataset.meta.features.iter().map(|f| (f.name.clone(), f.cardinality)).collect();
        Ok((parts, sizes))
    });
    let (parts, sizes) = watcher.finish(result)?;
    let out = PyDict::new(py);
    for (name, (schema, batches)) in parts {
        out.set_item(name, table(py, schema, batches)?)?;
    }
    out.set_item("cardinalities", sizes.into_iter().collect::<std::collections::BTreeMap<_, _>>())?;
    Ok(out)
}
