//! recforge-py: the `recforge._native` extension module behind the `recforge` Python package.
//!
//! Each function calls one library use case with the GIL released: training a ranking run,
//! scoring a model folder, preparing and inspecting data, off-policy evaluation on OBP-style
//! arrays, data selection and an in-process server. Tables cross the boundary as Arrow
//! streams through the Arrow C data interface (no copy); errors become `recforge.RecforgeError`
//! with the CLI's message; a Python progress callback watches long work and Ctrl-C stops it.
//! The typed, documented API is the Python layer in `python/recforge`.

use pyo3::prelude::*;

mod arrow_io;
mod data;
mod errors;
mod model;
mod ope;
mod progress;
mod select;
mod serve;
mod train;

/// A config passed from Python as a dict (sent as JSON) as the TOML text the config readers
/// take.
pub(crate) fn toml_from_json(json: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_str(json)?;
    toml::to_string(&value).map_err(|e| anyhow::anyhow!("the config dict is not expressible as TOML: {e}"))
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RecforgeError", m.py().get_type::<errors::RecforgeError>())?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(model::copy_model_folder, m)?)?;
    m.add_function(wrap_pyfunction!(data::inspect, m)?)?;
    m.add_function(wrap_pyfunction!(data::prepare, m)?)?;
    m.add_function(wrap_pyfunction!(ope::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(select::select, m)?)?;
    m.add_class::<serve::Server>()?;
    Ok(())
}
