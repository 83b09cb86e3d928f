//! `recforge bench llm`: speed and memory of this runtime on the real models — prompt
//! tokens/s when scoring Ask-LLM-style prompts (batched, f32 and quantized weights),
//! generation tokens/s, sentence embeddings/s, peak RSS — and, on request, the same workload
//! through llama-cpp-python and sentence-transformers (bench/llm/peers.py) in the same run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{Backend, CausalLm, GenerationParams, LlmError, LoadOptions, SentenceEncoder, WeightFormat};

/// The workload.
#[derive(Debug, Clone)]
pub struct LlmBenchConfig {
    /// Causal LM: a .gguf file or a Hugging Face directory.
    pub model: PathBuf,
    /// Sentence encoder directory (BERT, safetensors).
    pub encoder: PathBuf,
    /// Text corpus, one document per line.
    pub corpus: PathBuf,
    /// Documents scored with the yes/no quality prompt.
    pub docs: usize,
    /// Documents are cut to this many tokens before being put in the prompt.
    pub max_doc_tokens: usize,
    /// Tokens generated (greedy) for the generation speed.
    pub gen_tokens: usize,
    /// Sentences embedded for the encoder speed.
    pub sentences: usize,
    /// Weight formats timed for scoring and generation (candle engine).
    pub formats: Vec<WeightFormat>,
    /// Also time recforge's llama.cpp engine (feature `llama-cpp`) on the same work.
    pub llama_cpp: bool,
}

/// One weight format's causal-LM timings.
#[derive(Debug, Clone, Serialize)]
pub struct CausalLmBench {
    pub model_id: String,
    pub load_s: f64,
    pub prompts: usize,
    pub prompt_tokens: usize,
    pub score_s: f64,
    pub prompt_tokens_per_s: f64,
    pub docs_per_s: f64,
    pub mean_p_yes: f32,
    pub generated_tokens: usize,
    pub generate_s: f64,
    pub generation_tokens_per_s: f64,
}

/// The sentence encoder's timing.
#[derive(Debug, Clone, Serialize)]
pub struct EncoderBench {
    pub model_id: String,
    pub sentences: usize,
    pub embed_s: f64,
    pub embeddings_per_s: f64,
    /// CPU time (all threads) spent embedding, when `/proc` tells it: a figure that holds up
    /// on a machine shared with other jobs, where wall time does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed_cpu_s: Option<f64>,
}

/// CPU seconds (user + system, all threads) this process has used, from `/proc/self/stat`
/// (fields 14 and 15, in USER_HZ = 100 ticks per second on Linux).
fn process_cpu_seconds() -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some((utime + stime) / USER_HZ)
}

/// Everything measured (`results.json`).
#[derive(Debug, Clone, Serialize)]
pub struct LlmBenchReport {
    pub threads: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causal_lm_f32: Option<CausalLmBench>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causal_lm_quantized: Option<CausalLmBench>,
    /// recforge's llama.cpp engine (`--backend llama-cpp`) on the file's own quantization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causal_lm_llama_cpp: Option<CausalLmBench>,
    pub sentence_encoder: EncoderBench,
    pub peak_rss_mib: f64,
    /// What bench/llm/peers.py measured on the same workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peers: Option<Peers>,
}

/// A peer's result, or why it did not run (not installed, failed to load).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Peer<T> {
    Ran(T),
    Skipped { skipped: String },
}

impl<T> Peer<T> {
    pub fn ran(&self) -> Option<&T> {
        match self {
            Peer::Ran(t) => Some(t),
            Peer::Skipped { .. } => None,
        }
    }
}

/// llama.cpp (llama-cpp-python) on the same prompts and generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LlamaCppPeer {
    pub prompt_tokens: usize,
    pub score_s: f64,
    pub prompt_tokens_per_s: f64,
    pub docs_per_s: f64,
    pub generated_tokens: usize,
    pub generation_tokens_per_s: f64,
}

/// sentence-transformers on the same sentences.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentenceTransformersPeer {
    pub sentences: usize,
    pub embeddings_per_s: f64,
    /// CPU time of the timed `encode` (Python's `time.process_time`, all threads).
    #[serde(default)]
    pub cpu_s: Option<f64>,
    /// torch's version string.
    pub torch: String,
}

/// What bench/llm/peers.py prints (one JSON object).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Peers {
    pub llama_cpp: Peer<LlamaCppPeer>,
    pub sentence_transformers: Peer<SentenceTransformersPeer>,
}

/// One line of the side-by-side table: a recforge figure against a peer's (higher is better).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub workload: String,
    pub unit: &'static str,
    pub recforge: f64,
    pub peer: &'static str,
    /// `None` when the peer did not run (see [`Peer::Skipped`]).
    pub peer_value: Option<f64>,
}

impl Comparison {
    /// recforge ÷ peer (> 1: recforge is faster).
    pub fn ratio(&self) -> Option<f64> {
        self.peer_value.filter(|&p| p > 0.0).map(|p| self.recforge / p)
    }
}

impl LlmBenchReport {
    /// Every measured workload next to its peer's figure.
    pub fn comparisons(&self) -> Vec<Comparison> {
        let llama = self.peers.as_ref().and_then(|p| p.llama_cpp.ran());
        let st = self.peers.as_ref().and_then(|p| p.sentence_transformers.ran());
        let mut rows = Vec::new();
        for (name, b) in [("f32", &self.causal_lm_f32), ("quantized", &self.causal_lm_quantized), ("llama.cpp engine", &self.causal_lm_llama_cpp)] {
            let Some(b) = b else { continue };
            rows.push(Comparison { workload: format!("score {} prompts ({name})", b.prompts), unit: "docs/s", recforge: b.docs_per_s, peer: "llama.cpp", peer_value: llama.map(|l| l.docs_per_s) });
            rows.push(Comparison { workload: format!("score prompt tokens ({name})", ), unit: "tokens/s", recforge: b.prompt_tokens_per_s, peer: "llama.cpp", peer_value: llama.map(|l| l.prompt_tokens_per_s) });
            rows.push(Comparison { workload: format!("generate {} tokens ({name})", b.generated_tokens), unit: "tokens/s", recforge: b.generation_tokens_per_s, peer: "llama.cpp", peer_value: llama.map(|l| l.generation_tokens_per_s) });
        }
        let e = &self.sentence_encoder;
        rows.push(Comparison { workload: format!("embed {} sentences (MiniLM)", e.sentences), unit: "sentences/s", recforge: e.embeddings_per_s, peer: "sentence-transformers", peer_value: st.map(|s| s.embeddings_per_s) });
        if let Some(cpu) = e.embed_cpu_s.filter(|&c| c > 0.0) {
            let peer_value = st.and_then(|s| s.cpu_s.filter(|&c| c > 0.0).map(|c| s.sentences as f64 / c));
            rows.push(Comparison { workload: "  same, per CPU-second".into(), unit: "sentences/cpu-s", recforge: e.sentences as f64 / cpu, peer: "sentence-transformers", peer_value });
        }
        rows
    }
}

/// The exact prompts and sentences timed, for the peers to run the same work.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub model: PathBuf,
    pub encoder: PathBuf,
    pub prompts: Vec<String>,
    pub gen_prompt: String,
    pub gen_tokens: usize,
    pub sentences: Vec<String>,
}

fn read_corpus(path: &Path) -> Result<Vec<String>, LlmError> {
    let text = std::fs::read_to_string(path).map_err(|source| LlmError::Io { path: path.to_path_buf(), source })?;
    let docs: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if docs.is_empty() {
        return Err(LlmError::Input(format!("{}: no documents (one per line expected)", path.display())));
    }
    Ok(docs)
}

/// The yes/no data-quality prompt of Ask-LLM (PAPERS.md §5), as the benchmark's workload.
fn quality_prompt(doc: &str) -> String {
    format!(
        "###\n{doc}\n###\n\nDoes the previous paragraph demarcated within ### and ### contain informative signal for pre-training a large-language model? An informative datapoint should be well-formatted, contain some usable knowledge of the world, and strictly NOT have any harmful, racist, sexist, etc. content.\n\nOPTIONS:\n- yes\n- no"
    )
}

fn bench_causal_lm(config: &LlmBenchConfig, corpus: &[String], options: LoadOptions, workload: &mut Workload) -> Result<CausalLmBench, LlmError> {
    let start = Instant::now();
    let lm = CausalLm::load_with(&config.model, options)?;
    let load_s = start.elapsed().as_secs_f64();
    let prompts: Vec<String> = corpus.iter().take(config.docs).map(|d| lm.chat_prompt(&quality_prompt(&lm.truncate_to_tokens(d, config.max_doc_tokens)))).collect();
    let tokens: usize = prompts.iter().map(|p| lm.count_tokens(p)).sum();
    // Warm-up on one prompt, then the timed batched pass.
    lm.first_token_probability(&prompts[..1], &["yes", "Yes"])?;
    let start = Instant::now();
    let scores = lm.first_token_probability(&prompts, &["yes", "Yes"])?;
    let score_s = start.elapsed().as_secs_f64();
    let gen_prompt = lm.chat_prompt("Write a long paragraph about the history of the river Thames.");
    let params = GenerationParams { max_tokens: config.gen_tokens, ..Default::default() };
    let start = Instant::now();
    let text = lm.generate(&gen_prompt, &params)?;
    let generate_s = start.elapsed().as_secs_f64();
    let generated = lm.count_tokens(&text);
    workload.prompts = prompts.clone();
    workload.gen_prompt = gen_prompt;
    Ok(CausalLmBench {
        model_id: lm.model_id().to_string(),
        load_s,
        prompts: prompts.len(),
        prompt_tokens: tokens,
        score_s,
        prompt_tokens_per_s: tokens as f64 / score_s,
        docs_per_s: prompts.len() as f64 / score_s,
        mean_p_yes: scores.iter().sum::<f32>() / scores.len().max(1) as f32,
        generated_tokens: generated,
        generate_s,
        generation_tokens_per_s: generated as f64 / generate_s,
    })
}

/// Times every weight format of the causal LM, then the sentence encoder.
pub fn run_llm_bench(config: &LlmBenchConfig) -> Result<(LlmBenchReport, Workload), LlmError> {
    let corpus = read_corpus(&config.corpus)?;
    if config.docs == 0 {
        return Err(LlmError::Input("the benchmark needs at least one document (--docs)".into()));
    }
    let mut workload = Workload {
        model: config.model.clone(),
        encoder: config.encoder.clone(),
        prompts: Vec::new(),
        gen_prompt: String::new(),
        gen_tokens: config.gen_tokens,
        sentences: Vec::new(),
    };
    let (mut causal_lm_f32, mut causal_lm_quantized) = (None, None);
    for &format in &config.formats {
        let bench = bench_causal_lm(config, &corpus, LoadOptions { weights: format, ..Default::default() }, &mut workload)?;
        match format {
            WeightFormat::F32 => causal_lm_f32 = Some(bench),
            WeightFormat::Quantized => causal_lm_quantized = Some(bench),
        }
    }
    let causal_lm_llama_cpp = if config.llama_cpp {
        Some(bench_causal_lm(config, &corpus, LoadOptions { backend: Backend::LlamaCpp, ..Default::default() }, &mut workload)?)
    } else {
        None
    };
    workload.sentences = corpus
        .iter()
        .flat_map(|d| d.split(". ").map(|s| s.trim().to_string()).collect::<Vec<_>>())
        .filter(|s| s.len() > 20)
        .take(config.sentences)
        .collect();
    let encoder = SentenceEncoder::load(&config.encoder)?;
    encoder.embed(&workload.sentences[..workload.sentences.len().min(8)])?;
    let (start, cpu_start) = (Instant::now(), process_cpu_seconds());
    encoder.embed(&workload.sentences)?;
    let embed_s = start.elapsed().as_secs_f64();
    let sentence_encoder = EncoderBench {
        model_id: encoder.model_id().to_string(),
        sentences: workload.sentences.len(),
        embed_s,
        embeddings_per_s: workload.sentences.len() as f64 / embed_s,
        embed_cpu_s: cpu_start.zip(process_cpu_seconds()).map(|(a, b)| b - a),
    };
    let report = LlmBenchReport {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        causal_lm_f32,
        causal_lm_quantized,
        causal_lm_llama_cpp,
        sentence_encoder,
        peak_rss_mib: recforge_data::memory::peak_rss_bytes().unwrap_or(0) as f64 / (1024.0 * 1024.0),
        peers: None,
    };
    Ok((report, workload))
}

/// Runs bench/llm/peers.py with `python` on `workload` (written to `workload_path`) and
/// returns what it measured.
pub fn run_peers(python: &Path, script: &Path, workload: &Workload, workload_path: &Path) -> Result<Peers, LlmError> {
    let json = serde_json::to_string(workload).map_err(|e| LlmError::Input(e.to_string()))?;
    std::fs::write(workload_path, json).map_err(|source| LlmError::Io { path: workload_path.to_path_buf(), source })?;
    if !python.exists() {
        return Err(LlmError::Input(format!(
            "{} is missing: run bench/llm/setup.sh (SKIP_LLAMA_CPP=1 for sentence-transformers only)",
            python.display()
        )));
    }
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(workload_path)
        .output()
        .map_err(|source| LlmError::Io { path: script.to_path_buf(), source })?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        // A peer that crashes (a segfault in a native build) prints nothing useful of its own.
        return Err(LlmError::Input(format!(
            "{} failed ({}); rerun it alone to see where: {} {} {}",
            script.display(),
            output.status,
            python.display(),
            script.display(),
            workload_path.display()
        )));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| LlmError::Input(format!("{} printed no JSON ({e}): {}", script.display(), String::from_utf8_lossy(&output.stdout))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_output_parses_into_ran_and_skipped() {
        let json = r#"{"llama_cpp": {"skipped": "ModuleNotFoundError('llama_cpp')"},
            "sentence_transformers": {"sentences": 256, "embeddings_per_s": 200.0, "cpu_s": 2.5, "torch": "2.15.0"}}"#;
        let peers: Peers = serde_json::from_str(json).unwrap();
        assert!(matches!(&peers.llama_cpp, Peer::Skipped { skipped } if skipped.contains("llama_cpp")));
        let st = peers.sentence_transformers.ran().unwrap();
        assert_eq!((st.sentences, st.cpu_s), (256, Some(2.5)));
        let report = LlmBenchReport {
            threads: 2,
            causal_lm_f32: None,
            causal_lm_quantized: None,
            causal_lm_llama_cpp: None,
            sentence_encoder: EncoderBench { model_id: "m".into(), sentences: 256, embed_s: 0.5, embeddings_per_s: 512.0, embed_cpu_s: Some(1.0) },
            peak_rss_mib: 1.0,
            peers: Some(peers),
        };
        let rows = report.comparisons();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].ratio(), Some(512.0 / 200.0));
        // 256 sentences in 1 CPU-second against 256 in 2.5.
        assert_eq!(rows[1].ratio(), Some(2.5));
    }

    #[test]
    fn cpu_seconds_are_read_from_proc_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu_seconds().is_some_and(|c| c >= 0.0));
        }
    }
}
