//! `recforge._native.Server`: `recforge serve` in-process on background threads
//! (`recforge_serve::spawn`), for tests and notebooks.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pyo3::prelude::*;
use recforge_serve::{RunningServer, ServeConfig, ServeOverrides};

use crate::errors::to_py;

/// A running server; `stop()` (or garbage collection) shuts it down.
#[pyclass(frozen, module = "recforge._native")]
pub struct Server {
    running: Mutex<Option<RunningServer>>,
    addr: String,
}

#[pymethods]
impl Server {
    #[new]
    #[pyo3(signature = (config_path=None, config_json=None, overrides=Vec::new(), ranker=None, retrieval=None, listen="127.0.0.1:0".to_string(), store=None))]
    fn new(
        py: Python<'_>,
        config_path: Option<PathBuf>,
        config_json: Option<String>,
        overrides: Vec<String>,
        ranker: Option<PathBuf>,
        retrieval: Option<PathBuf>,
        listen: String,
        store: Option<String>,
    ) -> PyResult<Server> {
        let running = py
            .detach(|| -> anyhow::Result<RunningServer> {
                let cli = ServeOverrides { retrieval, ranker, index: None, listen: Some(listen), store };
                let config = match config_json {
                    Some(json) => {
                        let text = crate::toml_from_json(&json)?;
                        let mut config = ServeConfig::from_toml_with_overrides(&text, Path::new("<config dict>"), Path::new("."), &overrides)?;
                        config.apply(cli);
                        config
                    }
                    None => ServeConfig::assemble(config_path.as_deref(), &overrides, cli)?,
                };
                Ok(recforge_serve::spawn(config)?)
            })
            .map_err(to_py)?;
        let addr = running.addr.to_string();
        Ok(Server { running: Mutex::new(Some(running)), addr })
    }

    /// `host:port` it listens on.
    #[getter]
    fn address(&self) -> String {
        self.addr.clone()
    }

    /// Stop serving (idempotent).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let running = self.running.lock().ok().and_then(|mut r| r.take());
        match running {
            Some(server) => py.detach(|| server.stop()).map_err(to_py),
            None => Ok(()),
        }
    }
}
