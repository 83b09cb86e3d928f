//! Memory and time of preparing a large synthetic log (10M rows by default). Ignored by
//! default (it writes ~600 MB); run with
//! `cargo test --release -p recforge-data --test scale -- --ignored --nocapture`
//! (`RECFORGE_SCALE_ROWS` changes the size). Asserts the memory bound the design asks for:
//! peak resident memory below 3× the CSV size.

use std::time::Instant;

use recforge_data::{Dataset, PrepareOptions, Schema, prepare, write_synthetic_ctr};

/// Peak resident set size of this process in bytes (Linux), if known.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
#[ignore = "writes and prepares a ~600 MB synthetic log"]
fn prepare_ten_million_rows_within_the_memory_bound() {
    let rows: u64 = std::env::var("RECFORGE_SCALE_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("tmp");
    let started = Instant::now();
    let schema_path = write_synthetic_ctr(dir.path(), rows, 42).expect("synth");
    let write_s = started.elapsed().as_secs_f64();
    let csv_bytes = std::fs::metadata(dir.path().join("synthetic.csv"))
        .expect("csv")
        .len();
    let schema = Schema::from_toml_file(&schema_path).expect("schema");
    let opts = PrepareOptions::new(dir.path().join("cache"));
    let rss_before = peak_rss().unwrap_or(0);

    let (ds, cold) = prepare(&schema, &opts).expect("prepare");
    let rss_prepare = peak_rss().unwrap_or(0);
    let label_rate = ds.meta.label_rate;
    assert_eq!(ds.len() as u64, rows);
    drop(ds);

    let started = Instant::now();
    let loaded = Dataset::load(&cold.cache_path).expect("load");
    let load_s = started.elapsed().as_secs_f64();
    assert_eq!(loaded.len() as u64, rows);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    println!(
        "rows {rows}: csv {:.2} GiB written in {write_s:.1}s; cold prepare {:.1}s; load {load_s:.2}s; \
         label rate {label_rate:.4}; peak RSS {:.2} GiB before, {:.2} GiB after prepare ({:.2}x the CSV)",
        gib(csv_bytes),
        cold.seconds,
        gib(rss_before),
        gib(rss_prepare),
        rss_prepare as f64 / csv_bytes as f64
    );
    assert!(
        rss_prepare < 3 * csv_bytes,
        "peak RSS {rss_prepare} B is not below 3x the CSV ({csv_bytes} B)"
    );
}
