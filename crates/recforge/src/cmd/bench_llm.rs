//! `recforge bench llm`: speed and memory of the LLM runtime (recforge-llm) on the real models —
//! prompt tokens/s when scoring Ask-LLM-style prompts (batched, f32 and quantized weights),
//! generation tokens/s, MiniLM embeddings/s, peak RSS — and, with `--peers`, llama.cpp
//! (llama-cpp-python) and sentence-transformers on the same prompts in the same run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use recforge_llm::{CausalLm, GenerationParams, LoadOptions, SentenceEncoder, WeightFormat};
use serde_json::json;

#[derive(ClapArgs)]
pub struct Args {
    /// Causal LM: a .gguf file or a Hugging Face directory.
    #[arg(long, default_value = "data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")]
    model: PathBuf,
    /// Sentence encoder directory (BERT, safetensors).
    #[arg(long, default_value = "data/models/all-minilm-l6-v2")]
    encoder: PathBuf,
    /// Text corpus, one document per line.
    #[arg(long, default_value = "data/text/gensim/lee_background.cor")]
    corpus: PathBuf,
    /// Documents scored with the yes/no quality prompt.
    #[arg(long, default_value_t = 16)]
    docs: usize,
    /// Documents are cut to this many tokens before being put in the prompt.
    #[arg(long, default_value_t = 256)]
    max_doc_tokens: usize,
    /// Tokens generated (greedy) for the generation speed.
    #[arg(long, default_value_t = 32)]
    gen_tokens: usize,
    /// Sentences embedded for the encoder speed (the corpus's first sentences).
    #[arg(long, default_value_t = 256)]
    sentences: usize,
    /// Which weight formats to time for scoring.
    #[arg(long, value_enum, default_value = "both")]
    weights: Weights,
    /// Also run llama-cpp-python and sentence-transformers from bench/llm/.venv (see bench/llm/).
    #[arg(long)]
    peers: bool,
    /// Where the JSON results go.
    #[arg(long, default_value = "runs/bench-llm/results.json")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Weights {
    F32,
    Quantized,
    Both,
}

fn read_corpus(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (scripts/fetch-data.sh fetches the text corpora)", path.display()))?;
    let docs: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if docs.is_empty() {
        bail!("{}: no documents (one per line expected)", path.display());
    }
    Ok(docs)
}

/// The yes/no data-quality prompt of Ask-LLM (PAPERS.md §5), as the benchmark's workload.
fn quality_prompt(doc: &str) -> String {
    format!(
        "###\n{doc}\n###\n\nDoes the previous paragraph demarcated within ### and ### contain informative signal for pre-training a large-language model? An informative datapoint should be well-formatted, contain some usable knowledge of the world, and strictly NOT have any harmful, racist, sexist, etc. content.\n\nOPTIONS:\n- yes\n- no"
    )
}

pub fn run(args: Args) -> Result<()> {
    let corpus = read_corpus(&args.corpus)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results = serde_json::Map::new();
    results.insert("threads".into(), json!(threads));
    let formats: Vec<WeightFormat> = match args.weights {
        Weights::F32 => vec![WeightFormat::F32],
        Weights::Quantized => vec![WeightFormat::Quantized],
        Weights::Both => vec![WeightFormat::F32, WeightFormat::Quantized],
    };
    let mut prompts = Vec::new();
    let mut gen_prompt = String::new();
    println!("recforge bench llm — {} threads; model {}", threads, args.model.display());
    println!("{:<34} {:>14} {:>12}", "workload", "tokens/s", "docs/s");
    for format in formats {
        let start = Instant::now();
        let lm = CausalLm::load_with(&args.model, LoadOptions { weights: format })
            .with_context(|| format!("loading {}", args.model.display()))?;
        let load_s = start.elapsed().as_secs_f64();
        let name = match format {
            WeightFormat::F32 => "f32",
            WeightFormat::Quantized => "quantized",
        };
        prompts = corpus
            .iter()
            .take(args.docs)
            .map(|d| lm.chat_prompt(&quality_prompt(&lm.truncate_to_tokens(d, args.max_doc_tokens))))
            .collect();
        let tokens: usize = prompts.iter().map(|p| lm.count_tokens(p)).sum();
        // Warm-up on one prompt, then the timed batched pass.
        lm.first_token_probability(&prompts[..1], &["yes", "Yes"])?;
        let start = Instant::now();
        let scores = lm.first_token_probability(&prompts, &["yes", "Yes"])?;
        let score_s = start.elapsed().as_secs_f64();
        println!(
            "{:<34} {:>14.1} {:>12.2}",
            format!("score {} prompts ({name})", prompts.len()),
            tokens as f64 / score_s,
            prompts.len() as f64 / score_s
        );
        gen_prompt = lm.chat_prompt("Write a long paragraph about the history of the river Thames.");
        let params = GenerationParams { max_tokens: args.gen_tokens, ..Default::default() };
        let start = Instant::now();
        let text = lm.generate(&gen_prompt, &params)?;
        let gen_s = start.elapsed().as_secs_f64();
        let generated = lm.count_tokens(&text);
        println!("{:<34} {:>14.1} {:>12}", format!("generate {generated} tokens ({name})"), generated as f64 / gen_s, "");
        results.insert(
            format!("causal_lm_{name}"),
            json!({
                "model_id": lm.model_id(), "load_s": load_s, "prompts": prompts.len(),
                "prompt_tokens": tokens, "score_s": score_s,
                "prompt_tokens_per_s": tokens as f64 / score_s,
                "docs_per_s": prompts.len() as f64 / score_s,
                "mean_p_yes": scores.iter().sum::<f32>() / scores.len() as f32,
                "generated_tokens": generated, "generate_s": gen_s,
                "generation_tokens_per_s": generated as f64 / gen_s,
            }),
        );
    }
    let sentences: Vec<String> = corpus
        .iter()
        .flat_map(|d| d.split(". ").map(|s| s.trim().to_string()).collect::<Vec<_>>())
        .filter(|s| s.len() > 20)
        .take(args.sentences)
        .collect();
    let encoder = SentenceEncoder::load(&args.encoder).with_context(|| format!("loading {}", args.encoder.display()))?;
    encoder.embed(&sentences[..sentences.len().min(8)])?;
    let start = Instant::now();
    encoder.embed(&sentences)?;
    let embed_s = start.elapsed().as_secs_f64();
    println!("{:<34} {:>14} {:>12.1}", format!("embed {} sentences (MiniLM)", sentences.len()), "", sentences.len() as f64 / embed_s);
    results.insert(
        "sentence_encoder".into(),
        json!({ "model_id": encoder.model_id(), "sentences": sentences.len(), "embed_s": embed_s,
                "embeddings_per_s": sentences.len() as f64 / embed_s }),
    );
    let peak = recforge_train::bench::prepare::peak_rss_bytes();
    println!("peak RSS {:.1} MiB", peak as f64 / (1024.0 * 1024.0));
    results.insert("peak_rss_mib".into(), json!(peak as f64 / (1024.0 * 1024.0)));
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if args.peers {
        let workload = args.out.with_file_name("workload.json");
        std::fs::write(&workload, serde_json::to_string(&json!({
            "model": args.model, "encoder": args.encoder, "prompts": prompts,
            "gen_prompt": gen_prompt, "gen_tokens": args.gen_tokens, "sentences": sentences,
        }))?)?;
        let python = Path::new("bench/llm/.venv/bin/python");
        if !python.exists() {
            bail!("{} is missing: python3 -m venv bench/llm/.venv && bench/llm/.venv/bin/pip install -r bench/llm/requirements.txt", python.display());
        }
        let output = std::process::Command::new(python)
            .arg("bench/llm/peers.py")
            .arg(&workload)
            .output()
            .context("running bench/llm/peers.py")?;
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        let peers: serde_json::Value = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("peers.py printed no JSON: {}", String::from_utf8_lossy(&output.stdout)))?;
        for (name, v) in peers.as_object().into_iter().flatten() {
            println!("peer {name}: {v}");
        }
        results.insert("peers".into(), peers);
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)?)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
