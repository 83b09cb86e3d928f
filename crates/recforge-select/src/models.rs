//! The samplers by name over the models the user points at (defaults: the SmolLM2 GGUF and
//! MiniLM folders that scripts/fetch-data.sh brings), and the feature cache.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use recforge_data::paths::data_dir;
use recforge_llm::{Backend, CausalLm, LoadOptions, ScoreCache, SentenceEncoder, TextEmbedder};

use crate::ask_llm::AskLlm;
use crate::density::{DensitySampler, LshConfig};
use crate::error::{Result, SelectError};
use crate::hashed::HashedEmbedder;
use crate::perplexity::Perplexity;
use crate::random::RandomSampler;
use crate::semdedup::{SemDedup, SemDedupConfig};
use crate::{FeatureCache, MemoryCache, Sampler};

/// The data-selection methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplerKind {
    /// Ask an instruction-tuned LLM whether the document is informative.
    AskLlm,
    /// Inverse-propensity sampling by kernel density of sentence embeddings.
    Density,
    /// Keep the documents the LLM finds most predictable.
    Perplexity,
    /// Drop near-duplicates within k-means clusters of sentence embeddings.
    SemDedup,
    /// Uniformly at random.
    Random,
}

impl SamplerKind {
    pub const NAMES: [&'static str; 5] = ["askllm", "density", "perplexity", "semdedup", "random"];
}

impl FromStr for SamplerKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "askllm" => SamplerKind::AskLlm,
            "density" => SamplerKind::Density,
            "perplexity" => SamplerKind::Perplexity,
            "semdedup" => SamplerKind::SemDedup,
            "random" => SamplerKind::Random,
            other => return Err(format!("unknown sampler {other:?}; known: {}", Self::NAMES.join(", "))),
        })
    }
}

/// The models and settings behind the samplers.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// GGUF causal LM for askllm and perplexity (None: the fetched SmolLM2-135M-Instruct Q4_1).
    pub llm: Option<PathBuf>,
    /// Sentence-encoder folder for density and semdedup (None: the fetched all-MiniLM-L6-v2),
    /// or `hashed` for the model-free [`HashedEmbedder`].
    pub encoder: Option<PathBuf>,
    /// Tokens of each document the LLM sees.
    pub max_doc_tokens: usize,
    /// The engine running the LLM (default: candle, the faster one for prompt scoring).
    pub backend: Backend,
    /// The Density sketch (its seed is replaced by the run's).
    pub lsh: LshConfig,
    /// k-means clusters for semdedup (0: √n).
    pub clusters: usize,
}

impl Default for ModelOptions {
    /// The CLI's defaults: the fetched models, 256 document tokens, a 64 × 4 sketch of width
    /// 1, √n clusters.
    fn default() -> Self {
        ModelOptions { llm: None, encoder: None, max_doc_tokens: 256, backend: Backend::for_scoring(), lsh: LshConfig::default(), clusters: 0 }
    }
}

impl ModelOptions {
    pub fn llm_path(&self) -> PathBuf {
        self.llm.clone().unwrap_or_else(|| data_dir().join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"))
    }

    pub fn encoder_path(&self) -> PathBuf {
        self.encoder.clone().unwrap_or_else(|| data_dir().join("models/all-minilm-l6-v2"))
    }

    fn embedder(&self) -> Result<Box<dyn TextEmbedder>> {
        if self.encoder.as_deref() == Some(Path::new("hashed")) {
            return Ok(Box::new(HashedEmbedder::default()));
        }
        let dir = self.encoder_path();
        let model = SentenceEncoder::load(&dir)
            .map_err(|e| SelectError::Model(format!("loading the sentence encoder {}: {e} (run scripts/fetch-data.sh or pass --encoder hashed)", dir.display())))?;
        Ok(Box::new(model))
    }

    fn llm(&self) -> Result<CausalLm> {
        let path = self.llm_path();
        CausalLm::load_with(&path, LoadOptions { backend: self.backend, ..LoadOptions::default() }).map_err(|e| SelectError::Model(format!("loading the LLM {}: {e} (run scripts/fetch-data.sh or pass --llm)", path.display())))
    }
}

/// The sampler `kind` over the models `options` name.
pub fn build_sampler(kind: SamplerKind, options: &ModelOptions, seed: u64) -> Result<Box<dyn Sampler>> {
    Ok(match kind {
        SamplerKind::Random => Box::new(RandomSampler { seed }),
        SamplerKind::Perplexity => Box::new(Perplexity { model: options.llm()?, max_tokens: options.max_doc_tokens }),
        SamplerKind::AskLlm => Box::new(AskLlm { model: options.llm()?, max_doc_tokens: options.max_doc_tokens }),
        SamplerKind::Density => Box::new(DensitySampler { embedder: options.embedder()?, config: LshConfig { seed, ..options.lsh.clone() } }),
        SamplerKind::SemDedup => {
            let config = SemDedupConfig { clusters: options.clusters, seed, ..SemDedupConfig::default() };
            Box::new(SemDedup { embedder: options.embedder()?, config })
        }
    })
}

/// The redb feature cache at `path`, or an in-memory one.
pub fn open_cache(path: Option<&Path>) -> Result<Box<dyn FeatureCache>> {
    match path {
        None => Ok(Box::new(MemoryCache::default())),
        Some(p) => Ok(Box::new(ScoreCache::open(p).map_err(|e| SelectError::Model(format!("opening the cache {}: {e}", p.display())))?)),
    }
}
