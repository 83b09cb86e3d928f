//! `recforge._native.Model`: a self-contained model folder loaded for scoring
//! (`recforge_train::ScoringModel`), scoring pyarrow streams or files into Arrow arrays.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_array::{Float32Array, UInt64Array};
use arrow_pyarrow::PyArrowType;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recforge_train::{EvalMetrics, InMemoryScores, PredictOptions, ScoringModel};

use crate::arrow_io::{batches_of, to_pyarrow};
use crate::errors::to_py;
use crate::progress::PyProgress;

/// A model folder written by `recforge train`, loaded from any location.
#[pyclass(frozen, module = "recforge._native")]
pub struct Model {
    inner: Arc<ScoringModel>,
}

#[pymethods]
impl Model {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
        let inner = py.detach(|| ScoringModel::load(&path)).map_err(to_py)?;
        Ok(Model { inner: Arc::new(inner) })
    }

    /// The run name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// The folder it was loaded from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir.clone()
    }

    /// metadata.json as JSON text.
    #[getter]
    fn metadata_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner.metadata).map_err(to_py)
    }

    /// The model kind (`lr`, `mlp`, `dcn_v2`, ...).
    #[getter]
    fn kind(&self) -> String {
        self.inner.metadata.model.clone()
    }

    /// Score a pyarrow stream of `total_rows` rows (`name` stands for it in errors).
    #[pyo3(signature = (stream, total_rows, name, batch_size=None, skip_bad_rows=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn predict_stream<'py>(
        &self,
        py: Python<'py>,
        stream: PyArrowType<RecordBatchStreamReader>,
        total_rows: u64,
        name: PathBuf,
        batch_size: Option<usize>,
        skip_bad_rows: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (schema, batches) = batches_of(stream);
        let options = PredictOptions { batch_size, skip_bad_rows };
        let watcher = PyProgress::new(progress);
        let model = self.inner.clone();
        let result = py.detach(|| model.predict_batches(&name, &schema, batches, total_rows, &options, &watcher));
        scores_dict(py, watcher.finish(result)?)
    }

    /// Score a CSV, TSV or Parquet file.
    #[pyo3(signature = (path, batch_size=None, skip_bad_rows=false, progress=None))]
    fn predict_path<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        batch_size: Option<usize>,
        skip_bad_rows: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let options = PredictOptions { batch_size, skip_bad_rows };
        let watcher = PyProgress::new(progress);
        let model = self.inner.clone();
        let result = py.detach(|| model.predict_to_memory(&path, &options, &watcher));
        scores_dict(py, watcher.finish(result)?)
    }
}

/// What a prediction returns to Python: ids and scores as pyarrow arrays (labels too, with
/// AUC/logloss/accuracy, when the data had the label column) and the row counts.
fn scores_dict(py: Python<'_>, scores: InMemoryScores) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("id_column", &scores.id_column)?;
    if let Some(labels) = &scores.labels {
        let metrics = EvalMetrics::of(&scores.scores, labels);
        let m = PyDict::new(py);
        m.set_item("auc", metrics.auc)?;
        m.set_item("logloss", metrics.logloss)?;
        m.set_item("accuracy", metrics.accuracy)?;
        m.set_item("examples", metrics.examples)?;
        m.set_item("label_rate", metrics.label_rate)?;
        out.set_item("metrics", m)?;
    }
    out.set_item("rows_read", scores.rows_read)?;
    out.set_item("rows_skipped", scores.rows_skipped)?;
    out.set_item("skipped_messages", scores.skipped_messages)?;
    out.set_item("ids", to_pyarrow(py, &UInt64Array::from(scores.ids))?)?;
    out.set_item("scores", to_pyarrow(py, &Float32Array::from(scores.scores))?)?;
    match scores.labels {
        Some(labels) => out.set_item("labels", to_pyarrow(py, &Float32Array::from(labels))?)?,
        None => out.set_item("labels", py.None())?,
    }
    Ok(out)
}

/// Copy the model folder `source` to the new folder `destination`.
#[pyfunction]
pub fn copy_model_folder(py: Python<'_>, source: PathBuf, destination: PathBuf) -> PyResult<()> {
    py.detach(|| recforge_train::folder::copy_model_folder(&source, &destination)).map_err(to_py)
}
