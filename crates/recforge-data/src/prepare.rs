//! `prepare`: schema + raw log → cached columnar dataset, in two streaming passes (fit
//! vocabularies and statistics, then encode), stored as Arrow IPC under a key that changes
//! with the schema or the files, so the second call is a fast load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cache::{cache_path, schema_hash};
use crate::dataset::Dataset;
use crate::decode::Decoder;
use crate::encode::{Plan, assemble, encode_rows};
use crate::error::{DataError, Result};
use crate::fit::fit;
use crate::join::Tables;
use crate::reader::open_reader_with;
use crate::progress::{Phase, Silent, Unit};
use crate::rows::Progress;
use crate::schema::Schema;
use crate::store;

/// File in a cache folder holding the [`PrepareReport`] of the run that built it.
const REPORT_FILE: &str = "prepare.json";

/// How to prepare.
pub struct PrepareOptions<'a> {
    /// Root of the cache; each dataset gets `<cache_dir>/<name>-<key16>/`.
    pub cache_dir: PathBuf,
    /// Skip malformed rows (counted, first messages reported) instead of failing on the first.
    pub skip_bad_rows: bool,
    /// Rebuild even when a cache entry exists.
    pub force: bool,
    /// Told every ~64k rows how many bytes of the two passes have been read.
    pub progress: &'a dyn crate::progress::Progress,
}

impl PrepareOptions<'static> {
    /// Options with a cache root and every switch off.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        PrepareOptions {
            cache_dir: cache_dir.into(),
            skip_bad_rows: false,
            force: false,
            progress: &Silent,
        }
    }
}

impl std::fmt::Debug for PrepareOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrepareOptions")
            .field("cache_dir", &self.cache_dir)
            .field("skip_bad_rows", &self.skip_bad_rows)
            .field("force", &self.force)
            .finish()
    }
}

/// What `prepare` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareReport {
    pub rows_read: u64,
    pub rows_kept: u64,
    pub rows_skipped: u64,
    /// Messages of the first skipped rows (at most 10).
    pub first_errors: Vec<String>,
    /// Wall time of this call (a load on a cache hit).
    pub seconds: f64,
    pub cache_hit: bool,
    pub cache_path: PathBuf,
}

/// Prepares `schema`'s data, or loads it from the cache when nothing changed.
pub fn prepare(schema: &Schema, opts: &PrepareOptions) -> Result<(Dataset, PrepareReport)> {
    let started = Instant::now();
    // Fields are public, so a schema built in code may never have been validated.
    schema.validate(Path::new("<schema>"))?;
    let hash = schema_hash(schema)?;
    let dir = cache_path(&opts.cache_dir, &schema.name, &hash);
    // A cache built with skipped rows only serves callers that accept skipping; anyone else
    // rebuilds and gets the error for the first bad row.
    if !opts.force
        && dir.is_dir()
        && let Ok(hit) = load_cached(&dir, started)
        && (opts.skip_bad_rows || hit.1.rows_skipped == 0)
    {
        return Ok(hit);
    }
    let (dataset, mut report) = build(schema, opts, hash)?;
    report.cache_path = dir.clone();
    report.seconds = started.elapsed().as_secs_f64();
    let report_json = serde_json::to_vec_pretty(&report)
        .map_err(|e| DataError::Invalid(format!("cannot serialise the prepare report: {e}")))?;
    store::save(&dataset, &dir, &[(REPORT_FILE, report_json)])?;
    Ok((dataset, report))
}

/// A cache hit: the stored dataset and the stored report, re-timed.
fn load_cached(dir: &Path, started: Instant) -> Result<(Dataset, PrepareReport)> {
    let dataset = store::load(dir)?;
    let path = dir.join(REPORT_FILE);
    let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
    let mut report: PrepareReport =
        serde_json::from_slice(&bytes).map_err(|e| DataError::format(&path, e))?;
    report.cache_hit = true;
    report.cache_path = dir.to_path_buf();
    report.seconds = started.elapsed().as_secs_f64();
    Ok((dataset, report))
}

/// The two passes.
fn build(schema: &Schema, opts: &PrepareOptions, hash: String) -> Result<(Dataset, PrepareReport)> {
    let source = &schema.source.path;
    let (mut reader, tables) = Tables::open(schema, source)?;
    let decoder = Decoder::new(schema, tables)?;
    let _phase = Phase::begin(opts.progress, &format!("preparing {}", schema.name), Some(2 * reader.total_bytes()), Unit::Bytes);
    let mut progress = Progress::new(opts.progress);
    let fitted = fit(
        schema,
        &decoder,
        reader.as_mut(),
        opts.skip_bad_rows,
        &progress,
    )?;
    progress.offset = reader.total_bytes();

    let src = &schema.source;
    let mut reader = open_reader_with(
        source,
        src.format,
        src.delimiter,
        src.header,
        &src.read_options(),
    )?;
    let plan = Plan::Checked {
        bad_rows: &fitted.bad_rows,
        rows_kept: fitted.rows_kept,
        bag_values: &fitted.bag_values,
    };
    let encoded = encode_rows(
        &decoder,
        &fitted.encoder,
        schema,
        reader.as_mut(),
        plan,
        false,
        &progress,
        None,
    )?;
    if encoded.rows_read != fitted.rows_read {
        return Err(DataError::format(
            source,
            "the file changed while it was being prepared (row counts differ between passes)",
        ));
    }
    let report = PrepareReport {
        rows_read: fitted.rows_read,
        rows_kept: fitted.rows_kept,
        rows_skipped: fitted.skipped.count,
        first_errors: fitted.skipped.messages.clone(),
        seconds: 0.0,
        cache_hit: false,
        cache_path: PathBuf::new(),
    };
    let dataset = assemble(
        schema,
        encoded,
        Arc::new(fitted.encoder),
        fitted.skipped.count,
        hash,
    )?;
    Ok((dataset, report))
}
