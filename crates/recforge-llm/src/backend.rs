//! Which engine runs a GGUF causal LM, and the default per workload.

/// The engine that runs a GGUF causal LM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// candle, f32 GEMM over dequantized weights: the faster engine for batched prompt scoring.
    #[default]
    Candle,
    /// llama.cpp (feature `llama-cpp`) on the file's quantized blocks: the faster engine for
    /// generation.
    LlamaCpp,
}

impl Backend {
    /// The faster engine for generation-bound work (reasoning, Rec-SAVER), as
    /// measured in docs/results/llm.md: llama.cpp when built in, else candle.
    pub const fn for_generation() -> Self {
        if cfg!(feature = "llama-cpp") { Backend::LlamaCpp } else { Backend::Candle }
    }

    /// The faster engine for prompt scoring (Ask-LLM, perplexity): candle's f32 GEMM.
    pub const fn for_scoring() -> Self {
        Backend::Candle
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Candle => "candle",
            Backend::LlamaCpp => "llama-cpp",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "candle" => Ok(Backend::Candle),
            "llama-cpp" | "llama.cpp" | "llamacpp" => Ok(Backend::LlamaCpp),
            other => Err(format!("unknown backend `{other}`: use llama-cpp or candle")),
        }
    }
}
