//! `recforge bench retrieval`: top-K search speed and quality
//! ([`recforge_models::retrieval::search::bench`]) on a trained run's item vectors (or a random
//! corpus of ML-1M's size) and on a synthetic corpus of 1M items.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use recforge_models::retrieval::search::bench::{SearchBenchConfig, SearchBenchRow, bench_corpus, bench_queries, random_vectors, write_npy_f32};
use recforge_train::retrieval::run::{ItemVectors, VECTORS};

#[derive(ClapArgs)]
pub struct Args {
    /// A retrieval run directory whose item vectors form the small corpus (default: random
    /// vectors, 3,706 items × 8 as ML-1M's).
    #[arg(long)]
    run: Option<PathBuf>,
    /// Size of the synthetic large corpus (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    items: usize,
    /// Vector dimension of the synthetic large corpus.
    #[arg(long, default_value_t = 32)]
    dim: usize,
    /// Timed queries per index (after 20 warm-up queries).
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Vectors per query (a multi-interest user's H).
    #[arg(long, default_value_t = 3)]
    heads: usize,
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// HNSW neighbours per node (M).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    #[arg(long, default_value_t = 100)]
    ef_construction: usize,
    /// HNSW search candidate list sizes to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "32,64,128")]
    ef: Vec<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the rows as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the synthetic corpus and its queries as DIR/corpus.npy and DIR/queries.npy,
    /// for the Python peers (`bench/ann/peers.py DIR`: hnswlib and FAISS on the same vectors).
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let config = SearchBenchConfig {
        queries: args.queries,
        heads: args.heads,
        k: args.k,
        connections: args.connections,
        ef_construction: args.ef_construction,
        ef: args.ef.clone(),
        seed: args.seed,
    };
    let mut rows = match &args.run {
        Some(dir) => {
            let run = recforge_train::retrieval::RetrievalRun::load(dir).with_context(|| format!("loading {}", dir.display()))?;
            let path = dir.join(VECTORS);
            let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let v: ItemVectors = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
            bench_corpus(&format!("{} item vectors ({})", run.info.dataset, run.info.model), v.vectors, v.dim, &config)
        }
        None => bench_corpus("random, ML-1M size", random_vectors(3706, 8, args.seed), 8, &config),
    };
    if args.items > 0 {
        let corpus = random_vectors(args.items, args.dim, args.seed.wrapping_add(1));
        if let Some(dir) = &args.export {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_npy_f32(&dir.join("corpus.npy"), args.items, args.dim, &corpus).with_context(|| format!("writing {}", dir.display()))?;
            let queries: Vec<f32> = bench_queries(&config, args.dim).concat();
            write_npy_f32(&dir.join("queries.npy"), queries.len() / (args.heads * args.dim), args.heads * args.dim, &queries)
                .with_context(|| format!("writing {}", dir.display()))?;
        }
        rows.extend(bench_corpus("synthetic", corpus, args.dim, &config));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("| corpus | items × dim | index | build s | queries/s | p50 ms | p99 ms | recall@{} |\n|---|---|---|---|---|---|---|---|", args.k);
    rows.iter().for_each(print_row);
    println!(
        "\n{} queries of {} heads each, one at a time (exact search splits each query over rayon's {} threads; \
         the graph indexes answer on one), k = {}, M = {}, ef_construction = {}.",
        args.queries,
        args.heads,
        rayon::current_num_threads(),
        args.k,
        args.connections,
        args.ef_construction
    );
    Ok(())
}

fn print_row(r: &SearchBenchRow) {
    let build = if r.build_seconds > 0.0 { format!("{:.1}", r.build_seconds) } else { "–".into() };
    println!(
        "| {} | {} × {} | {} | {build} | {:.0} | {:.3} | {:.3} | {:.3} |",
        r.corpus, r.items, r.dim, r.index, r.queries_per_sec, r.p50_ms, r.p99_ms, r.recall
    );
}
