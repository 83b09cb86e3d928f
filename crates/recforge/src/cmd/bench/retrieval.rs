//! `recforge bench retrieval`: top-K search speed and quality
//! ([`recforge_models::retrieval::search::bench`]) on a trained run's item vectors (or a random
//! corpus of ML-1M's size) and on a synthetic corpus of 1M items; `--peers` adds hnswlib and
//! FAISS (bench/ann/peers.py) on the same synthetic corpus and queries.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use recforge_models::retrieval::search::bench::{BenchIndex, SearchBenchConfig, SearchBenchRow, bench_corpus, export_corpus, random_vectors, run_peers};
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
    /// Graph indexes measured beside exact search (comma-separated: hnsw, usearch).
    #[arg(long = "index", value_delimiter = ',', default_value = "hnsw,usearch")]
    indexes: Vec<BenchIndex>,
    /// Queries per call in the batched measurement (the `batch q/s` column).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Also run hnswlib and FAISS (bench/ann/peers.py from bench/ann/.venv; create it with
    /// bench/ann/setup.sh) on the synthetic corpus and queries, written to `--export` or to
    /// runs/bench-retrieval/ann.
    #[arg(long)]
    peers: bool,
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
        batch: args.batch,
        indexes: args.indexes.clone(),
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
    if args.peers && args.items == 0 {
        bail!("--peers measures the synthetic corpus: give --items a size above 0");
    }
    if args.items > 0 {
        let corpus = random_vectors(args.items, args.dim, args.seed.wrapping_add(1));
        let export = args.export.clone().or_else(|| args.peers.then(|| PathBuf::from("runs/bench-retrieval/ann")));
        if let Some(dir) = &export {
            export_corpus(dir, &corpus, args.dim, &config).with_context(|| format!("writing {}", dir.display()))?;
        }
        rows.extend(bench_corpus("synthetic", corpus, args.dim, &config));
        if let (true, Some(dir)) = (args.peers, &export) {
            let (python, script) = (Path::new("bench/ann/.venv/bin/python"), Path::new("bench/ann/peers.py"));
            rows.extend(run_peers(python, script, dir, &config, rayon::current_num_threads()).map_err(anyhow::Error::msg)?);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "| corpus | items × dim | index | build s | memory MiB | queries/s | p50 ms | p99 ms | batch q/s | recall@{} |\n|---|---|---|---|---|---|---|---|---|---|",
        args.k
    );
    rows.iter().for_each(print_row);
    println!(
        "\n{} queries of {} heads each, one at a time (exact search splits each query over rayon's {} threads; \
         the graph indexes answer on one), then {} per call (`batch q/s`: exact search scores the batch in one pass \
         over the items; graph indexes spread its queries over the threads), k = {}, M = {}, ef_construction = {}.",
        args.queries,
        args.heads,
        rayon::current_num_threads(),
        args.batch,
        args.k,
        args.connections,
        args.ef_construction
    );
    Ok(())
}

fn print_row(r: &SearchBenchRow) {
    let build = if r.build_seconds > 0.0 { format!("{:.1}", r.build_seconds) } else { "–".into() };
    println!(
        "| {} | {} × {} | {} | {build} | {:.0} | {:.0} | {:.3} | {:.3} | {:.0} | {:.3} |",
        r.corpus, r.items, r.dim, r.index, r.memory_mib, r.queries_per_sec, r.p50_ms, r.p99_ms, r.batch_queries_per_sec, r.recall
    );
}
