//! What the CLI tests share: a temp workspace with its own data folder (so prepared caches
//! never leak between tests), the `recforge` binary run inside it, and a synthetic CTR log.
// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;
use tempfile::TempDir;

pub struct Workspace {
    pub dir: TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary, run in the workspace with `RECFORGE_DATA` pointing inside it.
    pub fn recforge(&self) -> Command {
        let mut cmd = Command::cargo_bin("recforge").expect("binary");
        cmd.current_dir(self.dir.path()).env("RECFORGE_DATA", self.path("data")).args(["--log", "warn"]);
        cmd
    }

    /// Writes a synthetic log of `rows` rows and its schema into `synth/`.
    pub fn synth(&self, rows: u64) {
        self.synth_with_seed(rows, 7);
    }

    pub fn synth_with_seed(&self, rows: u64, seed: u64) {
        self.recforge()
            .args(["data", "synth", "--rows", &rows.to_string(), "--seed", &seed.to_string(), "--out"])
            .arg(self.path("synth"))
            .assert()
            .success();
    }
}
