//! Which HNSW graph answers maximum inner product search (MIPS)? The same `hnsw_rs` graph
//! (M = 16, ef_construction = 100), built three ways over one synthetic corpus (Gaussian
//! directions, log-normal norms σ, as `recforge bench retrieval` draws them), searched with
//! the same queries, recall@10 against brute force:
//! - `l2-reduction`: x ↦ [x, √(M² − ‖x‖²)], q ↦ [q, 0], Euclidean graph (Bachrach et al. 2014);
//! - `norm-ranges-8`: the same reduction within 8 norm-quantile partitions, each with its own M,
//!   all searched and merged (norm-ranging, Yan et al. 2018);
//! - `inner-product`: the graph built on `M² − ⟨a, b⟩` itself (ip-NSW, Morozov & Babenko 2018),
//!   which is what recforge's `HnswIndex` uses.
//!
//! Usage: `cargo run --release --manifest-path bench/hnsw-mips/Cargo.toml -- [--items N] [--sigma S]`

use std::time::Instant;

use hnsw_rs::prelude::{Distance, Hnsw};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

const DIM: usize = 32;
const K: usize = 10;
const QUERIES: usize = 300;
const EFS: [usize; 4] = [32, 64, 128, 256];

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[derive(Clone, Copy, Default)]
struct Euclidean;

impl Distance<f32> for Euclidean {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| (x - y) * (x - y)).sum();
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                lanes[i] += (x[i] - y[i]) * (x[i] - y[i]);
            }
        }
        (lanes.iter().sum::<f32>() + tail).sqrt()
    }
}

#[derive(Clone, Copy, Default)]
struct InnerProduct {
    offset: f32,
}

impl Distance<f32> for InnerProduct {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.offset - dot(a, b)).max(0.0)
    }
}

/// A built index: candidate ids for a query at a given ef.
trait Candidates {
    fn candidates(&self, query: &[f32], ef: usize) -> Vec<usize>;
}

/// Euclidean graphs over norm partitions (one partition: the plain reduction).
struct Reduced {
    parts: Vec<(Vec<usize>, Hnsw<'static, f32, Euclidean>)>,
}

impl Reduced {
    fn build(vectors: &[f32], squares: &[f32], partitions: usize) -> Self {
        let mut order: Vec<usize> = (0..squares.len()).collect();
        order.sort_by(|&a, &b| squares[a].total_cmp(&squares[b]));
        let parts = order
            .chunks(order.len().div_ceil(partitions))
            .map(|ids| {
                let max_square = ids.iter().map(|&i| squares[i]).fold(0f32, f32::max);
                let augmented: Vec<Vec<f32>> = ids
                    .iter()
                    .map(|&i| {
                        let mut a = vectors[i * DIM..(i + 1) * DIM].to_vec();
                        a.push((max_square - squares[i]).max(0.0).sqrt());
                        a
                    })
                    .collect();
                let graph = Hnsw::new(16, ids.len(), 16, 100, Euclidean);
                let refs: Vec<(&[f32], usize)> = augmented.iter().enumerate().map(|(j, v)| (v.as_slice(), j)).collect();
                graph.parallel_insert_slice(&refs);
                (ids.to_vec(), graph)
            })
            .collect();
        Reduced { parts }
    }
}

impl Candidates for Reduced {
    fn candidates(&self, query: &[f32], ef: usize) -> Vec<usize> {
        let mut q = query.to_vec();
        q.push(0.0);
        self.parts.iter().flat_map(|(ids, g)| g.search(&q, K, ef).into_iter().map(|n| ids[n.d_id])).collect()
    }
}

struct Native {
    graph: Hnsw<'static, f32, InnerProduct>,
    max_norm: f32,
}

impl Native {
    fn build(vectors: &[f32], squares: &[f32]) -> Self {
        let max_square = squares.iter().copied().fold(0f32, f32::max);
        let graph = Hnsw::new(16, squares.len(), 16, 100, InnerProduct { offset: max_square * (1.0 + 1e-4) });
        let refs: Vec<(&[f32], usize)> = vectors.chunks_exact(DIM).enumerate().map(|(i, v)| (v, i)).collect();
        graph.parallel_insert_slice(&refs);
        Native { graph, max_norm: max_square.sqrt() }
    }
}

impl Candidates for Native {
    fn candidates(&self, query: &[f32], ef: usize) -> Vec<usize> {
        let scale = self.max_norm / dot(query, query).sqrt().max(f32::MIN_POSITIVE);
        let q: Vec<f32> = query.iter().map(|x| x * scale).collect();
        self.graph.search(&q, K, ef).into_iter().map(|n| n.d_id).collect()
    }
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    let items = arg("--items", 100_000.0) as usize;
    let sigma = arg("--sigma", 0.3) as f32;
    let mut rng = StdRng::seed_from_u64(42);
    let normal = Normal::new(0f32, 1.0).unwrap();
    let mut vectors = Vec::with_capacity(items * DIM);
    for _ in 0..items {
        let scale = (sigma * normal.sample(&mut rng)).exp();
        vectors.extend((0..DIM).map(|_| scale * normal.sample(&mut rng)));
    }
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| (0..DIM).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect();
    let truth: Vec<Vec<usize>> = queries
        .par_iter()
        .map(|q| {
            let mut scored: Vec<(f32, usize)> = vectors.chunks_exact(DIM).enumerate().map(|(i, v)| (dot(q, v), i)).collect();
            scored.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
            scored[..K].iter().map(|s| s.1).collect()
        })
        .collect();
    let squares: Vec<f32> = vectors.chunks_exact(DIM).map(|v| dot(v, v)).collect();
    println!("{items} items × {DIM}, norms log-normal σ = {sigma}, {QUERIES} queries, {} threads\n", rayon::current_num_threads());
    println!("| graph | build s | ef | recall@{K} | queries/s |\n|---|---|---|---|---|");
    let builders: [(&str, Box<dyn Fn() -> Box<dyn Candidates>>); 3] = [
        ("l2-reduction", Box::new(|| Box::new(Reduced::build(&vectors, &squares, 1)))),
        ("norm-ranges-8", Box::new(|| Box::new(Reduced::build(&vectors, &squares, 8)))),
        ("inner-product", Box::new(|| Box::new(Native::build(&vectors, &squares)))),
    ];
    for (name, build) in builders {
        let started = Instant::now();
        let index = build();
        let build_s = started.elapsed().as_secs_f64();
        for ef in EFS {
            let started = Instant::now();
            let mut found = 0;
            for (q, t) in queries.iter().zip(&truth) {
                let mut scored: Vec<(f32, usize)> =
                    index.candidates(q, ef).into_iter().map(|i| (dot(q, &vectors[i * DIM..(i + 1) * DIM]), i)).collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                scored.dedup_by_key(|s| s.1);
                found += scored.iter().take(K).filter(|s| t.contains(&s.1)).count();
            }
            let qps = QUERIES as f64 / started.elapsed().as_secs_f64();
            println!("| {name} | {build_s:.1} | {ef} | {:.3} | {qps:.0} |", found as f64 / (QUERIES * K) as f64);
        }
    }
}
