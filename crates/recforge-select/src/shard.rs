//! Sharded scoring: shard `i/n` computes the features of the documents whose global index
//! is `i (mod n)` and writes them to a score file; merging every shard's file gives exactly
//! the features a single run computes, so the scores and the kept set are the same.
//!
//! A score file is JSON lines: a [`ShardHeader`] then one `{"index": i, "features": [...]}`
//! per document of the shard.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SelectError};
use crate::sampler::{Sampler, Scoring};
use crate::selection::Selection;

/// Which documents one machine scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl ShardSpec {
    pub const WHOLE: ShardSpec = ShardSpec { index: 0, count: 1 };

    pub fn owns(&self, doc_index: usize) -> bool {
        doc_index % self.count == self.index
    }
}

impl FromStr for ShardSpec {
    type Err = SelectError;
    /// `"i/n"` with 0 ≤ i < n.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || SelectError::Config(format!("--shard must be i/n with 0 <= i < n (e.g. 0/4), got \"{s}\""));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(ShardSpec { index, count })
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// First line of a score file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardHeader {
    pub sampler: String,
    pub cache_id: String,
    pub scoring: Scoring,
    /// The sampler's own selection mode (used when the merge is not told another).
    pub default_selection: Selection,
    pub shard: ShardSpec,
    /// Documents in the whole input.
    pub total: usize,
    pub input: PathBuf,
    pub text_field: String,
}

impl ShardHeader {
    /// The header of `sampler`'s scores for `shard` of `input` (`total` documents in all).
    pub fn for_sampler(sampler: &dyn Sampler, shard: ShardSpec, total: usize, input: &Path, text_field: &str) -> Self {
        ShardHeader {
            sampler: sampler.name().into(),
            cache_id: sampler.cache_id(),
            scoring: sampler.scoring(),
            default_selection: sampler.default_selection(),
            shard,
            total,
            input: input.to_path_buf(),
            text_field: text_field.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    index: usize,
    features: Vec<f32>,
}

/// Writes a shard's score file.
pub fn write_scores(path: &Path, header: &ShardHeader, features: &[(usize, Vec<f32>)]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| SelectError::io(parent, e))?;
    }
    let io = |e: std::io::Error| SelectError::io(path, e);
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    serde_json::to_writer(&mut out, header).map_err(|e| io(e.into()))?;
    out.write_all(b"\n").map_err(io)?;
    for (index, f) in features {
        if let Some(v) = f.iter().find(|v| !v.is_finite()) {
            return Err(SelectError::Config(format!("document {index}: non-finite feature {v}")));
        }
        serde_json::to_writer(&mut out, &Line { index: *index, features: f.clone() }).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// Reads one score file.
pub fn read_scores(path: &Path) -> Result<(ShardHeader, Vec<(usize, Vec<f32>)>)> {
    let file = File::open(path).map_err(|e| SelectError::io(path, e))?;
    let mut lines = BufReader::new(file).lines();
    let first = lines.next().ok_or_else(|| SelectError::file(path, "empty score file"))?.map_err(|e| SelectError::io(path, e))?;
    let header: ShardHeader = serde_json::from_str(&first)
        .map_err(|e| SelectError::Input { path: path.into(), line: 1, message: format!("not a recforge score-file header: {e}") })?;
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| SelectError::io(path, e))?;
        let row: Line = serde_json::from_str(&line)
            .map_err(|e| SelectError::Input { path: path.into(), line: i as u64 + 2, message: format!("bad score line: {e}") })?;
        rows.push((row.index, row.features));
    }
    Ok((header, rows))
}

/// Merges every shard's score file: checks they belong to one run and cover each document
/// exactly once; returns the shared header (shard set to the whole) and features in order.
pub fn merge_scores(paths: &[PathBuf]) -> Result<(ShardHeader, Vec<Vec<f32>>)> {
    let first = paths.first().ok_or_else(|| SelectError::Config("merge needs at least one score file".into()))?;
    let mut merged: Option<(ShardHeader, Vec<Option<Vec<f32>>>)> = None;
    for path in paths {
        let (header, rows) = read_scores(path)?;
        let (base, slots) = merged.get_or_insert_with(|| (header.clone(), vec![None; header.total]));
        if header.cache_id != base.cache_id || header.scoring != base.scoring || header.total != base.total {
            return Err(SelectError::file(
                path,
                format!("belongs to another run ({} on {} documents) than {} ({} on {} documents)", header.cache_id, header.total, first.display(), base.cache_id, base.total),
            ));
        }
        for (index, f) in rows {
            let slot = slots.get_mut(index).ok_or_else(|| SelectError::file(path, format!("document {index} is beyond the {} documents", header.total)))?;
            if slot.is_some() {
                return Err(SelectError::file(path, format!("document {index} is scored by two shards")));
            }
            *slot = Some(f);
        }
    }
    let (mut header, slots) = merged.ok_or_else(|| SelectError::Config("no score files".into()))?;
    let missing: Vec<usize> = slots.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| i).take(5).collect();
    if !missing.is_empty() {
        return Err(SelectError::Config(format!(
            "documents {missing:?}... have no score; a shard is missing (got {} files)",
            paths.len()
        )));
    }
    header.shard = ShardSpec::WHOLE;
    Ok((header, slots.into_iter().flatten().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shard_specs() {
        assert_eq!("1/4".parse::<ShardSpec>().unwrap(), ShardSpec { index: 1, count: 4 });
        assert!("4/4".parse::<ShardSpec>().is_err());
        assert!("1-4".parse::<ShardSpec>().is_err());
        assert!("0/0".parse::<ShardSpec>().is_err());
    }
}
