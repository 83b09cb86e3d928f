//! What an operator asks of a label store (`recforge labels stats|export`): how many labels
//! each teacher version holds, and, checked against the event log, which events have no label
//! (missing), which example ids occur in more than one event (so one label stands for
//! several), and which labels belong to no event (strays); and a version's labels as Parquet
//! (`id`, `label`, `version`) for training elsewhere.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use recforge_data::{Event, EventLog, EventLogError};
use serde::{Deserialize, Serialize};

use super::{LabelStore, StoreError, TeacherVersion, open_label_store};

/// Ids listed per kind of problem (the counts are exact).
const SAMPLE: usize = 10;
/// Records per event-log read.
const READ_CHUNK: usize = 10_000;

/// Why stats or an export failed.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event log: {0}")]
    Events(#[from] EventLogError),
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("label store has no labels under version {0}; `recforge labels stats` lists the versions it holds")]
    NoSuchVersion(TeacherVersion),
}

/// `recforge labels stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelStats {
    pub versions: Vec<VersionStats>,
    /// Present when checked against an event log.
    pub events: Option<EventCheck>,
}

/// The event log a store was checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCheck {
    pub url: String,
    /// Records read (from the oldest retained one).
    pub records: u64,
    /// Distinct example ids among the decodable events.
    pub distinct_ids: u64,
    /// Records that are not events (they are dead-lettered, not labelled).
    pub undecodable: u64,
    /// Example ids carried by more than one event.
    pub duplicated_ids: u64,
    pub duplicated_sample: Vec<u64>,
}

/// One teacher version's labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionStats {
    pub version: TeacherVersion,
    pub labels: u64,
    /// Event ids without a label (with `--events`).
    pub missing: Option<u64>,
    pub missing_sample: Vec<u64>,
    /// Labels whose id is in no event (with `--events`).
    pub strays: Option<u64>,
    pub stray_sample: Vec<u64>,
}

/// Counts labels per version (only `version` when given) and, with `events`, checks them
/// against every event of the log.
pub fn label_stats(store: &dyn LabelStore, version: Option<TeacherVersion>, events: Option<&dyn EventLog>) -> Result<LabelStats, InspectError> {
    let versions = match version {
        Some(v) => vec![v],
        None => store.versions()?,
    };
    let (check, ids) = match events {
        Some(log) => {
            let (check, ids) = event_ids(log)?;
            (Some(check), Some(ids))
        }
        None => (None, None),
    };
    let mut out = Vec::with_capacity(versions.len());
    for v in versions {
        let mut stats = VersionStats { version: v, labels: store.count(v)?, missing: None, missing_sample: Vec::new(), strays: None, stray_sample: Vec::new() };
        if let Some(ids) = &ids {
            let mut labelled = HashSet::with_capacity(ids.len());
            let mut strays = HashSet::new();
            store.scan(v, &mut |chunk| {
                for &(id, _) in chunk {
                    if ids.contains_key(&id) {
                        labelled.insert(id);
                    } else {
                        strays.insert(id);
                    }
                }
                Ok(())
            })?;
            let mut missing: Vec<u64> = ids.keys().filter(|id| !labelled.contains(id)).copied().collect();
            stats.missing = Some(missing.len() as u64);
            missing.sort_unstable();
            missing.truncate(SAMPLE);
            stats.missing_sample = missing;
            stats.strays = Some(strays.len() as u64);
            let mut strays: Vec<u64> = strays.into_iter().collect();
            strays.sort_unstable();
            strays.truncate(SAMPLE);
            stats.stray_sample = strays;
        }
        out.push(stats);
    }
    Ok(LabelStats { versions: out, events: check })
}

/// Every example id in the log with the number of events carrying it.
fn event_ids(log: &dyn EventLog) -> Result<(EventCheck, HashMap<u64, u32>), InspectError> {
    let mut ids: HashMap<u64, u32> = HashMap::new();
    let (mut records, mut undecodable, mut from) = (0u64, 0u64, 0u64);
    loop {
        let batch = log.read_raw(from, READ_CHUNK)?;
        let Some(last) = batch.last() else { break };
        from = last.offset + 1;
        for raw in &batch {
            records += 1;
            match Event::from_bytes(&raw.payload, "") {
                Ok(event) => *ids.entry(event.id).or_default() += 1,
                Err(_) => undecodable += 1,
            }
        }
    }
    let mut duplicated: Vec<u64> = ids.iter().filter(|(_, n)| **n > 1).map(|(id, _)| *id).collect();
    duplicated.sort_unstable();
    let check = EventCheck {
        url: log.url().to_string(),
        records,
        distinct_ids: ids.len() as u64,
        undecodable,
        duplicated_ids: duplicated.len() as u64,
        duplicated_sample: duplicated.into_iter().take(SAMPLE).collect(),
    };
    Ok((check, ids))
}

/// What `recforge labels export` wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportOutcome {
    pub path: PathBuf,
    pub version: TeacherVersion,
    pub rows: u64,
}

/// Writes `version`'s labels to `out` as Parquet with columns `id` (u64), `label` (f32, the
/// teacher's logit) and `version` (u64), sorted by id.
pub fn export_labels(store: &dyn LabelStore, version: TeacherVersion, out: &Path) -> Result<ExportOutcome, InspectError> {
    let mut labels: BTreeMap<u64, f32> = BTreeMap::new();
    store.scan(version, &mut |chunk| {
        labels.extend(chunk.iter().copied());
        Ok(())
    })?;
    if labels.is_empty() {
        return Err(InspectError::NoSuchVersion(version));
    }
    let write_err = |message: String| InspectError::Write { path: out.to_path_buf(), message };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("label", DataType::Float32, false),
        Field::new("version", DataType::UInt64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(labels.keys().copied())),
        Arc::new(Float32Array::from_iter_values(labels.values().copied())),
        Arc::new(UInt64Array::from_iter_values(std::iter::repeat_n(version, labels.len()))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| write_err(e.to_string()))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| write_err(e.to_string()))?;
    }
    let file = std::fs::File::create(out).map_err(|e| write_err(e.to_string()))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).map_err(|e| write_err(e.to_string()))?;
    writer.write(&batch).map_err(|e| write_err(e.to_string()))?;
    writer.close().map_err(|e| write_err(e.to_string()))?;
    Ok(ExportOutcome { path: out.to_path_buf(), version, rows: labels.len() as u64 })
}

/// Opens a label store for reading; `mem://` holds nothing outside its process.
fn open_existing(url: &str) -> Result<Box<dyn LabelStore>, InspectError> {
    if url.starts_with("mem://") {
        return Err(StoreError::BadUrl { url: url.into(), reason: "a mem:// store lives inside one process; inspect a file:// or redis:// store".into() }.into());
    }
    if let Some(path) = url.strip_prefix("file://")
        && !Path::new(path).is_file()
    {
        return Err(StoreError::BadUrl { url: url.into(), reason: format!("{path} does not exist (a labeler creates it)") }.into());
    }
    Ok(open_label_store(url)?)
}

/// [`label_stats`] for stores and logs named by URL (`recforge labels stats`).
pub fn label_stats_at(labels: &str, version: Option<TeacherVersion>, events: Option<&str>) -> Result<LabelStats, InspectError> {
    let store = open_existing(labels)?;
    let log = events.map(recforge_data::open_event_log).transpose()?;
    label_stats(store.as_ref(), version, log.as_deref())
}

/// [`export_labels`] for a store named by URL (`recforge labels export`).
pub fn export_labels_at(labels: &str, version: TeacherVersion, out: &Path) -> Result<ExportOutcome, InspectError> {
    export_labels(open_existing(labels)?.as_ref(), version, out)
}

impl std::fmt::Display for LabelStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(e) = &self.events {
            writeln!(
                f,
                "{}: {} records, {} distinct ids, {} undecodable, {} ids in more than one event {:?}",
                e.url, e.records, e.distinct_ids, e.undecodable, e.duplicated_ids, e.duplicated_sample
            )?;
        }
        if self.versions.is_empty() {
            return write!(f, "no labels");
        }
        for (i, v) in self.versions.iter().enumerate() {
            write!(f, "{}version {}: {} labels", if i > 0 { "\n" } else { "" }, v.version, v.labels)?;
            if let (Some(missing), Some(strays)) = (v.missing, v.strays) {
                write!(f, ", {missing} events without a label {:?}, {strays} labels of no event {:?}", v.missing_sample, v.stray_sample)?;
            }
        }
        Ok(())
    }
}
