//! Scoring in shards and merging the score files selects exactly what one run selects.

use std::path::{Path, PathBuf};

use recforge_select::density::{DensitySampler, LshConfig};
use recforge_select::pipeline::{compute_features, write_selection};
use recforge_select::random::RandomSampler;
use recforge_select::semdedup::{SemDedup, SemDedupConfig};
use recforge_select::shard::{ShardHeader, ShardSpec, merge_scores, write_scores};
use recforge_select::{MemoryCache, Sampler, TextEmbedder, select};

/// A deterministic bag-of-characters embedding, L2-normalised.
struct CharEmbedder;

impl TextEmbedder for CharEmbedder {
    fn model_id(&self) -> String {
        "chars".into()
    }
    fn dim(&self) -> usize {
        26
    }
    fn embed(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, recforge_llm::LlmError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 26];
                t.bytes().filter(u8::is_ascii_lowercase).for_each(|b| v[(b - b'a') as usize] += 1.0);
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

fn write_input(dir: &Path) -> PathBuf {
    let path = dir.join("docs.jsonl");
    let words = ["apple pie", "banana split", "cherry tart", "zebra crossing", "quick fox", "lazy dog"];
    let lines: Vec<String> = (0..97)
        .map(|i| serde_json::json!({"id": i, "text": format!("{} {}", words[i % words.len()], "x".repeat(i % 7))}).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn run_single(input: &Path, sampler: &dyn Sampler, keep: usize) -> (Vec<f32>, Vec<usize>) {
    let run = compute_features(input, "text", sampler, &MemoryCache::default(), ShardSpec::WHOLE, 8, &recforge_data::Silent).unwrap();
    let features: Vec<Vec<f32>> = run.features.into_iter().map(|(_, f)| f).collect();
    let scores = sampler.scoring().scores(&features).unwrap();
    let kept = select(&scores, sampler.default_selection(), keep, 42).unwrap();
    (scores, kept)
}

fn run_sharded(input: &Path, dir: &Path, sampler: &dyn Sampler, shards: usize, keep: usize) -> (Vec<f32>, Vec<usize>) {
    let mut files = Vec::new();
    // Shards run in any order, each with its own cache (separate machines).
    for i in (0..shards).rev() {
        let shard = ShardSpec { index: i, count: shards };
        let run = compute_features(input, "text", sampler, &MemoryCache::default(), shard, 5, &recforge_data::Silent).unwrap();
        let header = ShardHeader::for_sampler(sampler, shard, run.total, input, "text");
        let path = dir.join(format!("{}-{i}.scores.jsonl", sampler.name()));
        write_scores(&path, &header, &run.features).unwrap();
        files.push(path);
    }
    let (header, features) = merge_scores(&files).unwrap();
    let scores = header.scoring.scores(&features).unwrap();
    let kept = select(&scores, sampler.default_selection(), keep, 42).unwrap();
    (scores, kept)
}

#[test]
fn shard_merge_equals_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path());
    let samplers: Vec<Box<dyn Sampler>> = vec![
        Box::new(RandomSampler { seed: 3 }),
        Box::new(DensitySampler { embedder: CharEmbedder, config: LshConfig { rows: 16, ..LshConfig::default() } }),
        Box::new(SemDedup { embedder: CharEmbedder, config: SemDedupConfig::default() }),
    ];
    for sampler in &samplers {
        let single = run_single(&input, sampler.as_ref(), 20);
        let sharded = run_sharded(&input, dir.path(), sampler.as_ref(), 3, 20);
        assert_eq!(single, sharded, "{}", sampler.name());
        assert_eq!(single.1.len(), 20);
    }
    // The written selection holds the kept records, input fields and order preserved.
    let (scores, kept) = run_single(&input, samplers[0].as_ref(), 20);
    let out = dir.path().join("kept.jsonl");
    assert_eq!(write_selection(&input, "text", &kept, &scores, &out).unwrap(), 20);
    let ids: Vec<usize> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(ids, kept);
}

#[test]
fn merge_rejects_a_missing_shard() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path());
    let sampler = RandomSampler { seed: 1 };
    run_sharded(&input, dir.path(), &sampler, 2, 5);
    let err = merge_scores(&[dir.path().join("random-0.scores.jsonl")]).unwrap_err().to_string();
    assert!(err.contains("a shard is missing"), "{err}");
}

#[test]
fn cached_features_are_not_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path());
    let cache = MemoryCache::default();
    let sampler = RandomSampler { seed: 1 };
    let first = compute_features(&input, "text", &sampler, &cache, ShardSpec::WHOLE, 8, &recforge_data::Silent).unwrap();
    let again = compute_features(&input, "text", &sampler, &cache, ShardSpec::WHOLE, 8, &recforge_data::Silent).unwrap();
    assert_eq!(first.computed, 97 - first.from_cache);
    assert_eq!(again.computed, 0);
    assert_eq!(first.features, again.features);
}
