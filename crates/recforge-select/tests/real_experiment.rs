//! The data-selection experiment on the real text packages (ignored: minutes of CPU; needs
//! `scripts/fetch-data.sh`). The CLI runs the same library code:
//! `recforge select corpus` + `recforge select --sampler ...` + `recforge select experiment`.
//!
//! cargo test --workspace --release --test real_experiment -- --ignored --nocapture
//! Environment: RECFORGE_DATA (default data), SELECT_STEPS (default 300), SELECT_SEEDS (1,2).

use std::path::PathBuf;

use recforge_select::corpus::{CorpusConfig, CorpusDoc, build_corpus};
use recforge_select::density::{DensitySampler, LshConfig};
use recforge_select::experiment::{ExperimentConfig, ScoredSampler, run_experiment};
use recforge_select::hashed::HashedEmbedder;
use recforge_select::input::write_jsonl;
use recforge_select::lm::{ByteLmConfig, LmTrainConfig};
use recforge_select::pipeline::compute_features;
use recforge_select::random::RandomSampler;
use recforge_select::semdedup::{SemDedup, SemDedupConfig};
use recforge_select::shard::{ShardHeader, ShardSpec, merge_scores, write_scores};
use recforge_select::{MemoryCache, Sampler};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[test]
#[ignore = "minutes of CPU on the fetched text corpora; run by hand"]
fn data_selection_experiment() {
    let data = PathBuf::from(env_or("RECFORGE_DATA", "../../data"));
    let out = PathBuf::from(env_or("SELECT_OUT", "../../runs/select"));
    let corpus = build_corpus(&data.join("text"), &CorpusConfig::default()).expect("corpus (run scripts/fetch-data.sh)");
    let pool_path = out.join("corpus.jsonl");
    write_jsonl(&pool_path, corpus.pool.iter().map(CorpusDoc::record).collect::<Vec<_>>().iter()).unwrap();
    write_jsonl(&out.join("heldout.jsonl"), corpus.heldout.iter().map(CorpusDoc::record).collect::<Vec<_>>().iter()).unwrap();
    println!("pool {} docs, held out {} docs", corpus.pool.len(), corpus.heldout.len());

    // Score files as `recforge select --data corpus.jsonl --out X` writes them (X.scores.jsonl);
    // a score file already there (e.g. Ask-LLM from the CLI) is used as is.
    let samplers: Vec<Box<dyn Sampler>> = vec![
        Box::new(RandomSampler { seed: 0 }),
        Box::new(DensitySampler { embedder: HashedEmbedder::default(), config: LshConfig::default() }),
        Box::new(SemDedup { embedder: HashedEmbedder::default(), config: SemDedupConfig::default() }),
    ];
    let mut files = Vec::new();
    for s in &samplers {
        let run = compute_features(&pool_path, "text", s.as_ref(), &MemoryCache::default(), ShardSpec::WHOLE, 64, &recforge_data::Silent).unwrap();
        let mut header = ShardHeader::for_sampler(s.as_ref(), ShardSpec::WHOLE, run.total, &pool_path, "text");
        if header.sampler != "random" {
            header.sampler.push_str("-hashed");
        }
        let path = out.join(format!("{}.jsonl.scores.jsonl", header.sampler));
        write_scores(&path, &header, &run.features).unwrap();
        files.push(path);
    }
    for extra in ["askllm", "perplexity", "density", "semdedup"] {
        let p = out.join(format!("{extra}.jsonl.scores.jsonl"));
        if p.exists() {
            files.push(p);
        }
    }
    let mut scored = Vec::new();
    for f in &files {
        let (header, features) = merge_scores(std::slice::from_ref(f)).unwrap();
        assert_eq!(features.len(), corpus.pool.len(), "{}", f.display());
        scored.push(ScoredSampler { name: header.sampler.clone(), scores: header.scoring.scores(&features).unwrap(), selection: header.default_selection });
    }
    let seeds: Vec<u64> = env_or("SELECT_SEEDS", "1,2").split(',').map(|s| s.parse().unwrap()).collect();
    let config = ExperimentConfig {
        fractions: vec![0.1, 0.25, 0.5, 1.0],
        seeds,
        train: LmTrainConfig { steps: env_or("SELECT_STEPS", "300").parse().unwrap(), batch: 16, lr: 3e-3, seed: 0 },
        selection_seed: 0,
    };
    let lm = ByteLmConfig::new();
    let rows = run_experiment(&corpus.pool, &corpus.heldout, &scored, &lm, &config, &recforge_data::Silent).unwrap();
    for r in &rows {
        println!(
            "| {} | {:.0}% | {} | {:.3} ± {:.3} | {:.1}% | {}/{} | {:?} |",
            r.sampler, r.fraction * 100.0, r.kept, r.perplexity_mean, r.perplexity_std, r.spam_share * 100.0, r.genres_covered, r.genres_total, r.sources
        );
    }
    std::fs::write(out.join("experiment-test.json"), serde_json::to_string_pretty(&rows).unwrap()).unwrap();
}
