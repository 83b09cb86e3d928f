//! Bringing the real datasets and models named in DATA.md into the data folder.
//!
//! The fetch script and its checksum manifest travel inside the library (and so inside the
//! binary and the Python package), so fetching works from any folder.

use std::process::Command;

use crate::error::{DataError, Result};
use crate::paths::data_dir;

const FETCH_SCRIPT: &str = include_str!("../../../scripts/fetch-data.sh");
const CHECKSUMS: &str = include_str!("../../../scripts/data-checksums.sha256");

/// Runs the embedded fetch script for the comma-separated groups in `only` (None: all of
/// them) into [`data_dir`]; with `check`, only verifies what is present.
pub fn fetch(only: Option<&str>, check: bool) -> Result<()> {
    let data = data_dir();
    std::fs::create_dir_all(&data).map_err(|e| DataError::io(&data, e))?;
    let data = std::fs::canonicalize(&data).map_err(|e| DataError::io(&data, e))?;
    let scripts = data.join(".cache").join("fetch-script");
    std::fs::create_dir_all(&scripts).map_err(|e| DataError::io(&scripts, e))?;
    for (name, text) in [("fetch-data.sh", FETCH_SCRIPT), ("data-checksums.sha256", CHECKSUMS)] {
        let path = scripts.join(name);
        std::fs::write(&path, text).map_err(|e| DataError::io(&path, e))?;
    }
    let mut command = Command::new("bash");
    command.arg(scripts.join("fetch-data.sh")).env("RECFORGE_DATA", &data);
    if let Some(only) = only {
        command.args(["--only", only]);
    }
    if check {
        command.arg("--check");
    }
    let status = command.status().map_err(|e| DataError::Invalid(format!("cannot run bash for the fetch script ({e}); is bash installed?")))?;
    if !status.success() {
        return Err(DataError::Invalid(format!(
            "fetching data failed (see the messages above); the files can also be placed by hand under {}",
            data.display()
        )));
    }
    Ok(())
}
