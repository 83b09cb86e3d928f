//! What the CLI tests share: a temp workspace with its own data folder (so prepared caches
//! never leak between tests), the `recforge` binary run inside it, and a synthetic CTR log.
// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;
use tempfile::TempDir;

/// An interaction log (`user_id,item_id,ts` CSV) in two taste groups: `users` users with
/// `history` distinct items each over `items` items; odd users draw 80% of their items from
/// the upper half of the catalogue, even users from the lower half (the rest uniformly), so a
/// sequential model has something to learn. Users are `u{n}`, items `i{n}`, timestamps from 1000.
pub fn two_group_histories(seed: u64, users: usize, history: usize, items: usize) -> String {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(seed);
    let half = items / 2;
    let mut log = String::from("user_id,item_id,ts\n");
    for u in 0..users {
        let group = u % 2;
        let mut seen = Vec::new();
        while seen.len() < history {
            let item = if rng.random_bool(0.8) { group * half + rng.random_range(0..half) } else { rng.random_range(0..items) };
            if !seen.contains(&item) {
                seen.push(item);
            }
        }
        for (t, item) in seen.iter().enumerate() {
            log += &format!("u{u},i{item},{}\n", 1000 + t);
        }
    }
    log
}

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
