//! Preparations of the real datasets (MovieLens-1M, MovieLens-100K, Open Bandit) with the
//! schemas in `tests/real_schemas/`. Ignored by default because the files are fetched, not
//! shipped; `scripts/test.sh` fetches them and runs every `fetched_*` test with `--ignored`,
//! and a missing file is a failure. By hand:
//! `RECFORGE_DATA=/path/to/data cargo test --workspace --test real_data -- --ignored --nocapture`.
//! Each test prints rows, label rate and cold/cached prepare seconds.

use std::path::{Path, PathBuf};

use recforge_data::{PrepareOptions, Schema, prepare};

fn schema(name: &str) -> Schema {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/real_schemas")
        .join(name);
    let schema = Schema::from_toml_file(&path).expect("schema parses");
    for file in schema.files() {
        assert!(file.exists(), "{name}: {} is missing: run `recforge data fetch` (or set RECFORGE_DATA)", file.display());
    }
    schema
}

fn prepare_twice(schema: &Schema) {
    let cache: PathBuf = tempfile::tempdir().expect("tmp").keep();
    let opts = PrepareOptions::new(&cache);
    let (ds, cold) = prepare(schema, &opts).expect("cold prepare");
    let (again, warm) = prepare(schema, &opts).expect("cached prepare");
    assert!(!cold.cache_hit && warm.cache_hit);
    assert!(
        ds == again,
        "the cached dataset differs from the prepared one"
    );
    assert_eq!(cold.rows_skipped, 0);
    println!(
        "{}: rows {} label rate {:.4} cold {:.2}s cached {:.3}s",
        schema.name, ds.meta.rows, ds.meta.label_rate, cold.seconds, warm.seconds
    );
    for f in &ds.meta.features {
        println!(
            "  {:<16} {:?} cardinality {} stats {:?}",
            f.name, f.kind, f.cardinality, f.stats
        );
    }
    let split = ds.split(&schema.split).expect("split");
    println!(
        "  split {:?}: train {} valid {} test {}",
        schema.split.method,
        split.train.len(),
        split.valid.len(),
        split.test.len()
    );
    let _ = std::fs::remove_dir_all(cache);
}

#[test]
#[ignore = "needs the fetched MovieLens-1M files"]
fn fetched_ml1m_ctr() {
    prepare_twice(&schema("ml1m.toml"));
}

#[test]
#[ignore = "needs the fetched MovieLens-100K files"]
fn fetched_ml100k_ctr() {
    prepare_twice(&schema("ml100k.toml"));
}

#[test]
#[ignore = "needs the fetched Open Bandit Dataset files"]
fn fetched_obd_ctr() {
    prepare_twice(&schema("obd.toml"));
}
