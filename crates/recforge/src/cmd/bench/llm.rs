//! `recforge bench llm`: speed and memory of the LLM runtime on the real models, and with
//! `--peers` llama.cpp and sentence-transformers on the same prompts (recforge-llm's `bench`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use recforge_llm::WeightFormat;
use recforge_llm::bench::{LlmBenchConfig, LlmBenchReport, Peer, run_llm_bench, run_peers};

#[derive(ClapArgs)]
pub struct Args {
    /// Causal LM: a .gguf file or a Hugging Face directory.
    #[arg(long, default_value = "data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")]
    model: PathBuf,
    /// Sentence encoder directory (BERT, safetensors).
    #[arg(long, default_value = "data/models/all-minilm-l6-v2")]
    encoder: PathBuf,
    /// Text corpus, one document per line.
    #[arg(long, alias = "data", default_value = "data/text/gensim/lee_background.cor")]
    corpus: PathBuf,
    /// Documents scored with the yes/no quality prompt.
    #[arg(long, alias = "limit", default_value_t = 16)]
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
    /// Also time recforge's llama.cpp engine (`--backend llama-cpp`) on the same prompts.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = cfg!(feature = "llama-cpp"))]
    llama_cpp_engine: bool,
    /// Also run llama-cpp-python and sentence-transformers from bench/llm/.venv (see bench/llm/).
    #[arg(long)]
    peers: bool,
    /// Where the JSON results go.
    #[arg(long, default_value = "runs/bench-llm/results.json")]
    out: PathBuf,
    /// Print the results as JSON (and nothing else) on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Weights {
    F32,
    Quantized,
    Both,
}

pub fn run(args: Args) -> Result<()> {
    let formats = match args.weights {
        Weights::F32 => vec![WeightFormat::F32],
        Weights::Quantized => vec![WeightFormat::Quantized],
        Weights::Both => vec![WeightFormat::F32, WeightFormat::Quantized],
    };
    let config = LlmBenchConfig {
        model: args.model.clone(),
        encoder: args.encoder.clone(),
        corpus: args.corpus.clone(),
        docs: args.docs,
        max_doc_tokens: args.max_doc_tokens,
        gen_tokens: args.gen_tokens,
        sentences: args.sentences,
        formats,
        llama_cpp: args.llama_cpp_engine,
    };
    let (mut report, workload) = run_llm_bench(&config).context("scripts/fetch-data.sh fetches the models and text corpora")?;
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if args.peers {
        let python = Path::new("bench/llm/.venv/bin/python");
        report.peers = Some(run_peers(python, Path::new("bench/llm/peers.py"), &workload, &args.out.with_file_name("workload.json"))?);
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report, &args.model);
        eprintln!("wrote {}", args.out.display());
    }
    Ok(())
}

fn print_table(r: &LlmBenchReport, model: &Path) {
    println!("recforge bench llm — {} threads; model {}", r.threads, model.display());
    println!("{:<34} {:>12} {:>12} {:>22} {:>7}", "workload", "unit", "recforge", "peer", "ratio");
    for c in r.comparisons() {
        let peer = c.peer_value.map_or_else(|| format!("{} —", c.peer), |v| format!("{} {v:.1}", c.peer));
        let ratio = c.ratio().map_or_else(|| "—".to_string(), |x| format!("{x:.2}×"));
        println!("{:<34} {:>12} {:>12.1} {:>22} {:>7}", c.workload, c.unit, c.recforge, if r.peers.is_some() { peer } else { "—".into() }, ratio);
    }
    println!("peak RSS {:.1} MiB", r.peak_rss_mib);
    if let Some(p) = &r.peers {
        if let Peer::Skipped { skipped } = &p.llama_cpp {
            println!("llama.cpp skipped: {skipped}");
        }
        if let Peer::Skipped { skipped } = &p.sentence_transformers {
            println!("sentence-transformers skipped: {skipped}");
        }
    }
}
