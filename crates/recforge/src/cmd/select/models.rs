//! The models behind the samplers, loaded from the paths the user gives (defaults: the
//! SmolLM2 GGUF and MiniLM folders that scripts/fetch-data.sh brings), and the feature cache.

use std::path::{Path, PathBuf};

use anyhow::Result;
use recforge_select::density::{DensitySampler, LshConfig};
use recforge_select::random::RandomSampler;
use recforge_select::semdedup::{SemDedup, SemDedupConfig};
use recforge_select::{FeatureCache, MemoryCache, Sampler};

use super::SamplerKind;
use crate::paths::data_dir;

#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// GGUF causal LM for askllm and perplexity (default: DATA/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf).
    #[arg(long)]
    pub llm: Option<PathBuf>,
    /// Sentence-encoder folder for density and semdedup (default: DATA/models/all-minilm-l6-v2).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Tokens of each document the LLM sees (askllm: inside the prompt; perplexity: scored).
    #[arg(long, default_value_t = 256)]
    pub max_doc_tokens: usize,
    /// LSH sketch rows (density).
    #[arg(long, default_value_t = 64)]
    pub lsh_rows: usize,
    /// p-stable hashes concatenated per row (density).
    #[arg(long, default_value_t = 4)]
    pub lsh_hashes: usize,
    /// Hash bucket width in embedding distance (density).
    #[arg(long, default_value_t = 1.0)]
    pub lsh_width: f32,
    /// k-means clusters for semdedup (0: √n).
    #[arg(long, default_value_t = 0)]
    pub clusters: usize,
}

impl ModelArgs {
    pub fn llm_path(&self) -> PathBuf {
        self.llm.clone().unwrap_or_else(|| data_dir().join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"))
    }
    pub fn encoder_path(&self) -> PathBuf {
        self.encoder.clone().unwrap_or_else(|| data_dir().join("models/all-minilm-l6-v2"))
    }
    pub fn lsh(&self, seed: u64) -> LshConfig {
        LshConfig { rows: self.lsh_rows, hashes_per_row: self.lsh_hashes, width: self.lsh_width, seed, ..LshConfig::default() }
    }
}

/// The sampler `kind` over the models `args` name.
pub fn build_sampler(kind: SamplerKind, args: &ModelArgs, seed: u64) -> Result<Box<dyn Sampler>> {
    Ok(match kind {
        SamplerKind::Random => Box::new(RandomSampler { seed }),
        SamplerKind::Askllm | SamplerKind::Perplexity => llm_sampler(kind, &args.llm_path(), args.max_doc_tokens)?,
        SamplerKind::Density => Box::new(DensitySampler { embedder: encoder(&args.encoder_path())?, config: args.lsh(seed) }),
        SamplerKind::Semdedup => Box::new(SemDedup { embedder: encoder(&args.encoder_path())?, config: SemDedupConfig { clusters: args.clusters, seed, ..SemDedupConfig::default() } }),
    })
}

fn llm_sampler(_kind: SamplerKind, _path: &Path, _max_doc_tokens: usize) -> Result<Box<dyn Sampler>> {
    anyhow::bail!("this build has no LLM runtime (recforge-llm) yet")
}

fn encoder(_path: &Path) -> Result<NoEncoder> {
    anyhow::bail!("this build has no sentence encoder (recforge-llm) yet")
}

struct NoEncoder;

impl recforge_select::Embedder for NoEncoder {
    fn model_id(&self) -> String {
        String::new()
    }
    fn dim(&self) -> usize {
        0
    }
    fn embed(&self, _: &[String]) -> recforge_select::Result<Vec<Vec<f32>>> {
        Ok(Vec::new())
    }
}

/// The feature cache at `path`, or an in-memory one.
pub fn open_cache(path: Option<&Path>) -> Result<Box<dyn FeatureCache>> {
    match path {
        None => Ok(Box::new(MemoryCache::default())),
        Some(p) => anyhow::bail!("{}: the persistent cache needs recforge-llm's ScoreCache (not in this build yet)", p.display()),
    }
}
