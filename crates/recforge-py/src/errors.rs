//! Library errors as Python exceptions carrying the CLI's message (the error chain joined by
//! ": ", as `recforge` prints it after "error: ").

use pyo3::PyErr;
use pyo3::exceptions::PyException;

pyo3::create_exception!(
    recforge,
    RecforgeError,
    PyException,
    "A recforge error: bad input (naming file, line and field), a bad config, or a failed run."
);

/// `error` as a [`RecforgeError`] with the message `recforge` would print.
pub fn to_py(error: impl Into<anyhow::Error>) -> PyErr {
    RecforgeError::new_err(format!("{:#}", error.into()))
}
