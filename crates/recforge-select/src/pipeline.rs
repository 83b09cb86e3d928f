//! The selection run: stream the input, compute (or fetch from the cache) the features of
//! the documents this shard owns in batches, then — for a whole run or a merge — score,
//! select and write the kept records.

use std::path::Path;

use recforge_data::{Phase, Progress, Unit};
use serde_json::Value;

use crate::error::Result;
use crate::input::{DocumentReader, write_jsonl};
use crate::sampler::{FeatureCache, Sampler};
use crate::shard::ShardSpec;

/// What computing features cost.
#[derive(Debug, Clone, Default)]
pub struct FeatureRun {
    /// (global index, features) of the owned documents, in order.
    pub features: Vec<(usize, Vec<f32>)>,
    /// Documents in the whole input.
    pub total: usize,
    pub from_cache: usize,
    pub computed: usize,
}

/// Counts the documents of `path`, validating every record (so bad input fails before any
/// model runs).
pub fn count_documents(path: &Path, field: &str) -> Result<usize> {
    let mut n = 0;
    for doc in DocumentReader::open(path, field)? {
        doc?;
        n += 1;
    }
    if n == 0 {
        return Err(crate::error::SelectError::file(path, "no records"));
    }
    Ok(n)
}

/// Features of the documents `shard` owns, reported to `progress` after each batch.
pub fn compute_features(
    path: &Path,
    field: &str,
    sampler: &dyn Sampler,
    cache: &dyn FeatureCache,
    shard: ShardSpec,
    batch_size: usize,
    progress: &dyn Progress,
) -> Result<FeatureRun> {
    let documents = DocumentReader::open(path, field)?.map(|doc| doc.map(|d| (d.index, d.text)));
    features_of(documents, sampler, cache, shard, batch_size, progress)
}

/// Features of the in-memory `texts` (index = position), reported to `progress` after each
/// batch.
pub fn compute_text_features(
    texts: &[String],
    sampler: &dyn Sampler,
    cache: &dyn FeatureCache,
    batch_size: usize,
    progress: &dyn Progress,
) -> Result<FeatureRun> {
    let documents = texts.iter().cloned().enumerate().map(Ok);
    features_of(documents, sampler, cache, ShardSpec::WHOLE, batch_size, progress)
}

/// Features of `documents` ((index, text) in order) that `shard` owns, batch by batch through
/// `cache`; stops with [`SelectError::Interrupted`](crate::error::SelectError) when `progress`
/// asks.
fn features_of(
    documents: impl Iterator<Item = Result<(usize, String)>>,
    sampler: &dyn Sampler,
    cache: &dyn FeatureCache,
    shard: ShardSpec,
    batch_size: usize,
    progress: &dyn Progress,
) -> Result<FeatureRun> {
    let phase = Phase::begin(progress, &format!("{} {shard}", sampler.name()), None, Unit::Documents);
    let cache_id = sampler.cache_id();
    let mut run = FeatureRun::default();
    let mut pending: Vec<(usize, String)> = Vec::new();
    let flush = |pending: &mut Vec<(usize, String)>, run: &mut FeatureRun| -> Result<()> {
        let mut missing: Vec<usize> = Vec::new();
        let mut out: Vec<Option<Vec<f32>>> = Vec::with_capacity(pending.len());
        for (i, (_, text)) in pending.iter().enumerate() {
            let hit = cache.get(&cache_id, text)?;
            if hit.is_none() {
                missing.push(i);
            }
            out.push(hit);
        }
        run.from_cache += pending.len() - missing.len();
        if !missing.is_empty() {
            let texts: Vec<String> = missing.iter().map(|&i| pending[i].1.clone()).collect();
            let computed = sampler.features(&texts)?;
            for (&i, f) in missing.iter().zip(computed) {
                cache.put(&cache_id, &pending[i].1, &f)?;
                out[i] = Some(f);
            }
            run.computed += missing.len();
        }
        for ((index, _), f) in pending.drain(..).zip(out) {
            run.features.push((index, f.unwrap_or_default()));
        }
        Ok(())
    };
    for doc in documents {
        let (index, text) = doc?;
        run.total += 1;
        if shard.owns(index) {
            pending.push((index, text));
            if pending.len() >= batch_size.max(1) {
                flush(&mut pending, &mut run)?;
                phase.update(run.features.len() as u64, "");
                if progress.cancelled() {
                    return Err(crate::error::SelectError::Interrupted { scored: run.features.len() });
                }
            }
        }
    }
    flush(&mut pending, &mut run)?;
    phase.update(run.features.len() as u64, "");
    Ok(run)
}

/// Re-reads the input and writes the records whose index is in `kept` (ascending), each with
/// a `select_score` field; returns how many were written.
pub fn write_selection(path: &Path, field: &str, kept: &[usize], scores: &[f32], out: &Path) -> Result<usize> {
    let mut records = Vec::with_capacity(kept.len());
    let mut next = kept.iter().peekable();
    for doc in DocumentReader::open(path, field)? {
        let doc = doc?;
        if next.peek() == Some(&&doc.index) {
            next.next();
            let mut record = doc.record;
            let score = serde_json::Number::from_f64(scores[doc.index] as f64).map(Value::Number).unwrap_or(Value::Null);
            record.insert("select_score".into(), score);
            records.push(record);
        }
    }
    write_jsonl(out, records.iter())
}
