//! The models behind the samplers, loaded from the paths the user gives (defaults: the
//! SmolLM2 GGUF and MiniLM folders that scripts/fetch-data.sh brings), and the feature cache.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use recforge_llm::{CausalLm, ScoreCache, SentenceEncoder};
use recforge_select::ask_llm::AskLlm;
use recforge_select::perplexity::Perplexity;
use recforge_select::density::{DensitySampler, LshConfig};
use recforge_select::hashed::HashedEmbedder;
use recforge_select::random::RandomSampler;
use recforge_select::semdedup::{SemDedup, SemDedupConfig};
use recforge_select::{FeatureCache, MemoryCache, Sampler};

use super::SamplerKind;
use recforge_data::paths::data_dir;

#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// GGUF causal LM for askllm and perplexity (default: DATA/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf).
    #[arg(long)]
    pub llm: Option<PathBuf>,
    /// Sentence-encoder folder for density and semdedup (default: DATA/models/all-minilm-l6-v2),
    /// or `hashed` for the model-free hashed word n-gram embedder.
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
    let sampler: Box<dyn Sampler> = match kind {
        SamplerKind::Random => Box::new(RandomSampler { seed }),
        SamplerKind::Askllm | SamplerKind::Perplexity => llm_sampler(kind, &args.llm_path(), args.max_doc_tokens)?,
        SamplerKind::Density => {
            let config = args.lsh(seed);
            match encoder(args)? {
                Encoder::Hashed(embedder) => Box::new(DensitySampler { embedder, config }) as Box<dyn Sampler>,
                Encoder::Neural(embedder) => Box::new(DensitySampler { embedder, config }) as Box<dyn Sampler>,
            }
        }
        SamplerKind::Semdedup => {
            let config = SemDedupConfig { clusters: args.clusters, seed, ..SemDedupConfig::default() };
            match encoder(args)? {
                Encoder::Hashed(embedder) => Box::new(SemDedup { embedder, config }) as Box<dyn Sampler>,
                Encoder::Neural(embedder) => Box::new(SemDedup { embedder, config }) as Box<dyn Sampler>,
            }
        }
    };
    Ok(sampler)
}

fn llm_sampler(kind: SamplerKind, path: &Path, max_doc_tokens: usize) -> Result<Box<dyn Sampler>> {
    let model = CausalLm::load(path).with_context(|| format!("loading the LLM {} (run scripts/fetch-data.sh or pass --llm)", path.display()))?;
    Ok(match kind {
        SamplerKind::Perplexity => Box::new(Perplexity { model, max_tokens: max_doc_tokens }) as Box<dyn Sampler>,
        _ => Box::new(AskLlm { model, max_doc_tokens }) as Box<dyn Sampler>,
    })
}

enum Encoder {
    Hashed(HashedEmbedder),
    Neural(SentenceEncoder),
}

fn encoder(args: &ModelArgs) -> Result<Encoder> {
    if args.encoder.as_deref() == Some(Path::new("hashed")) {
        return Ok(Encoder::Hashed(HashedEmbedder::default()));
    }
    let dir = args.encoder_path();
    let model = SentenceEncoder::load(&dir).with_context(|| format!("loading the sentence encoder {} (or pass --encoder hashed)", dir.display()))?;
    Ok(Encoder::Neural(model))
}

/// The redb feature cache at `path`, or an in-memory one.
pub fn open_cache(path: Option<&Path>) -> Result<Box<dyn FeatureCache>> {
    match path {
        None => Ok(Box::new(MemoryCache::default()) as Box<dyn FeatureCache>),
        Some(p) => Ok(Box::new(ScoreCache::open(p).with_context(|| format!("opening the cache {}", p.display()))?) as Box<dyn FeatureCache>),
    }
}
