//! Helpers shared by the integration tests: small fixture files written into a temporary
//! folder (never real MovieLens rows).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use recforge_data::{PrepareOptions, Schema};
use tempfile::TempDir;

/// A temporary folder holding fixture files.
pub struct Fixture {
    pub dir: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("fixture folder");
        }
        std::fs::write(&path, text).expect("fixture file");
        path
    }

    /// Parses `toml` with paths relative to the fixture folder.
    pub fn schema(&self, toml: &str) -> Schema {
        Schema::from_toml_str(toml, self.dir.path()).expect("valid schema")
    }

    pub fn options(&self) -> PrepareOptions<'_> {
        PrepareOptions::new(self.path("cache"))
    }
}

/// Shows a path the way error messages do.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}
