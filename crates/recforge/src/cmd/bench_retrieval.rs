//! `recforge bench retrieval`: top-K search speed and quality — queries/s and latency
//! percentiles of exact search and HNSW, and HNSW's recall@K against exact, on a trained
//! run's item vectors (or a random corpus of the same size) and on a synthetic corpus of
//! 1M items. Queries have several heads, as multi-interest users do.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use recforge_models::retrieval::{ExactIndex, HnswIndex, HnswParams, MipsIndex};

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
}

struct Measured {
    qps: f64,
    p50_ms: f64,
    p99_ms: f64,
    recall: f64,
}

pub fn run(args: Args) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let (name, small, small_dim) = match &args.run {
        Some(dir) => {
            let run = recforge_train::retrieval::RetrievalRun::load(dir)
                .with_context(|| format!("loading {}", dir.display()))?;
            let path = dir.join(recforge_train::retrieval::run::VECTORS);
            let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let v: recforge_train::retrieval::run::ItemVectors = serde_json::from_slice(&text)?;
            (format!("{} item vectors ({})", run.info.dataset, run.info.model), v.vectors, v.dim)
        }
        None => ("random, ML-1M size".to_string(), random_vectors(3706, 8, &mut rng), 8),
    };
    println!("| corpus | items × dim | index | build s | queries/s | p50 ms | p99 ms | recall@{} |", args.k);
    println!("|---|---|---|---|---|---|---|---|");
    bench_corpus(&name, small, small_dim, &args, &mut rng);
    if args.items > 0 {
        let vectors = random_vectors(args.items, args.dim, &mut rng);
        bench_corpus("synthetic", vectors, args.dim, &args, &mut rng);
    }
    println!(
        "\n{} queries of {} heads each, one at a time (exact search splits each query over rayon's {} threads; \
         HNSW answers on one), k = {}, HNSW M = {}, ef_construction = {}.",
        args.queries,
        args.heads,
        rayon::current_num_threads(),
        args.k,
        args.connections,
        args.ef_construction
    );
    Ok(())
}

/// Gaussian vectors with log-normally varying norms (trained item vectors differ in norm).
fn random_vectors(n: usize, dim: usize, rng: &mut StdRng) -> Vec<f32> {
    let normal = Normal::new(0f32, 1.0).expect("valid normal");
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let scale = (0.3 * normal.sample(rng)).exp();
        out.extend((0..dim).map(|_| scale * normal.sample(rng)));
    }
    out
}

fn bench_corpus(name: &str, vectors: Vec<f32>, dim: usize, args: &Args, rng: &mut StdRng) {
    let n = vectors.len() / dim;
    let queries: Vec<Vec<f32>> = (0..args.queries + 20).map(|_| (0..args.heads * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect();
    let exact = ExactIndex::new(vectors.clone(), dim);
    let truth: Vec<Vec<u32>> = queries.iter().map(|q| exact.search(q, args.k).iter().map(|h| h.item).collect()).collect();
    let m = measure(&exact, &queries, &truth, args.k);
    row(name, n, dim, "exact", 0.0, &m);
    let started = Instant::now();
    let params = HnswParams { connections: args.connections, ef_construction: args.ef_construction, ef_search: 64 };
    let mut hnsw = HnswIndex::build(vectors, dim, params);
    let build = started.elapsed().as_secs_f64();
    for &ef in &args.ef {
        hnsw.set_ef_search(ef);
        let m = measure(&hnsw, &queries, &truth, args.k);
        row(name, n, dim, &format!("hnsw ef={ef}"), build, &m);
    }
}

fn measure(index: &dyn MipsIndex, queries: &[Vec<f32>], truth: &[Vec<u32>], k: usize) -> Measured {
    for q in &queries[..20] {
        std::hint::black_box(index.search(q, k));
    }
    let mut latencies = Vec::with_capacity(queries.len() - 20);
    let mut found = 0usize;
    let started = Instant::now();
    for (q, t) in queries[20..].iter().zip(&truth[20..]) {
        let at = Instant::now();
        let hits = index.search(q, k);
        latencies.push(at.elapsed().as_secs_f64() * 1e3);
        found += hits.iter().filter(|h| t.contains(&h.item)).count();
    }
    let total = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Measured {
        qps: latencies.len() as f64 / total,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        recall: found as f64 / (latencies.len() * k).max(1) as f64,
    }
}

fn row(name: &str, n: usize, dim: usize, index: &str, build: f64, m: &Measured) {
    println!(
        "| {name} | {n} × {dim} | {index} | {} | {:.0} | {:.3} | {:.3} | {:.3} |",
        if build > 0.0 { format!("{build:.1}") } else { "–".into() },
        m.qps,
        m.p50_ms,
        m.p99_ms,
        m.recall
    );
}
