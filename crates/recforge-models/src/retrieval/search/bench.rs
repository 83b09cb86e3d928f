//! Speed and quality of top-K search: queries/s and latency percentiles of exact search and
//! the graph indexes (hnsw_rs, and USearch with the `usearch` feature) at several `ef`, and
//! their recall@K against exact, on any corpus of item vectors.
//! Queries have several heads, as multi-interest users do.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::{ExactIndex, HnswIndex, HnswParams, MipsIndex};

/// Untimed queries before the timed ones.
const WARM_UP_QUERIES: usize = 20;

/// The indexes a benchmark can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchIndex {
    /// [`ExactIndex`]: every item scored (the recall baseline, always measured).
    Exact,
    /// [`HnswIndex`] (hnsw_rs).
    Hnsw,
    /// [`super::UsearchIndex`] (USearch, with the `usearch` feature).
    Usearch,
}

impl std::str::FromStr for BenchIndex {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exact" => Ok(BenchIndex::Exact),
            "hnsw" => Ok(BenchIndex::Hnsw),
            "usearch" if cfg!(feature = "usearch") => Ok(BenchIndex::Usearch),
            "usearch" => Err("usearch: this build has no `usearch` feature".into()),
            other => Err(format!("unknown index {other:?} (exact, hnsw, usearch)")),
        }
    }
}

/// What to measure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchBenchConfig {
    /// Timed queries per index.
    pub queries: usize,
    /// Vectors per query (a multi-interest user's H).
    pub heads: usize,
    pub k: usize,
    /// HNSW neighbours per node (M) and build candidate list size.
    pub connections: usize,
    pub ef_construction: usize,
    /// HNSW search candidate list sizes to measure.
    pub ef: Vec<usize>,
    /// Queries per call in the batched measurement.
    pub batch: usize,
    /// Graph indexes to measure beside exact search.
    pub indexes: Vec<BenchIndex>,
    pub seed: u64,
}

/// One index on one corpus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchBenchRow {
    pub corpus: String,
    pub items: usize,
    pub dim: usize,
    /// "exact", "hnsw ef=N" (hnsw_rs), "usearch ef=N"; the Python peers' rows name theirs.
    pub index: String,
    /// Index build time (0 for exact search, which needs none).
    pub build_seconds: f64,
    /// One query per call.
    pub queries_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Queries per second when [`SearchBenchConfig::batch`] queries are answered per call
    /// (exact search: one blocked pass over the items for the whole batch; graph indexes: the
    /// batch's queries spread over the threads).
    pub batch_queries_per_sec: f64,
    /// Memory the index holds, MiB: exact search's tiled copy of the vectors; for a graph
    /// index, the process's RSS growth while building it plus the item vectors it keeps for
    /// rescoring.
    pub memory_mib: f64,
    /// Share of exact search's top-K that the index returned.
    pub recall: f64,
}

/// The process's resident set size in bytes (Linux `/proc/self/status`; 0 elsewhere).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())))
        .map_or(0, |kib| kib * 1024)
}

const MIB: f64 = 1024.0 * 1024.0;

/// Builds an index and reports it with the seconds and resident MiB the build took.
fn timed_build<T>(build: impl FnOnce() -> T) -> (T, f64, f64) {
    let (rss, started) = (resident_bytes(), Instant::now());
    let index = build();
    let seconds = started.elapsed().as_secs_f64();
    (index, seconds, resident_bytes().saturating_sub(rss) as f64 / MIB)
}

/// Gaussian vectors with log-normally varying norms (trained item vectors differ in norm),
/// row-major `[n, dim]`.
pub fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let Ok(normal) = Normal::new(0f32, 1.0) else { return vec![0.0; n * dim] };
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let scale = (0.3 * normal.sample(&mut rng)).exp();
        out.extend((0..dim).map(|_| scale * normal.sample(&mut rng)));
    }
    out
}

/// The queries [`bench_corpus`] sends (warm-up ones first): `heads × dim` uniform values in
/// [-1, 1) each, from `config.seed`.
pub fn bench_queries(config: &SearchBenchConfig, dim: usize) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    (0..config.queries + WARM_UP_QUERIES).map(|_| (0..config.heads * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect()
}

/// Writes a row-major `[rows, cols]` f32 matrix as a NumPy `.npy` file (format 1.0), so the
/// Python peers in `bench/ann/` search exactly the corpus and queries recforge searched.
pub fn write_npy_f32(path: &std::path::Path, rows: usize, cols: usize, values: &[f32]) -> std::io::Result<()> {
    use std::io::Write;
    assert_eq!(values.len(), rows * cols, "values must be [rows, cols]");
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple
    // of 64 bytes and ended by a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for v in values {
        out.write_all(&v.to_le_bytes())?;
    }
    out.flush()
}

/// Writes `corpus` (`[items, dim]`) and the queries [`bench_corpus`] sends for it as
/// `dir/corpus.npy` and `dir/queries.npy` (`[queries, heads × dim]`), for the Python peers.
pub fn export_corpus(dir: &std::path::Path, corpus: &[f32], dim: usize, config: &SearchBenchConfig) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_npy_f32(&dir.join("corpus.npy"), corpus.len() / dim.max(1), dim, corpus)?;
    let width = config.heads * dim;
    let queries: Vec<f32> = bench_queries(config, dim).concat();
    write_npy_f32(&dir.join("queries.npy"), queries.len() / width.max(1), width, &queries)
}

/// The Python peers of the benchmark (`bench/ann/peers.py`: hnswlib and FAISS's flat index)
/// run by `python` on a corpus [`export_corpus`] wrote to `dir`, with `config`'s search
/// parameters and `threads` threads; their rows, measured as [`bench_corpus`] measures.
pub fn run_peers(python: &std::path::Path, script: &std::path::Path, dir: &std::path::Path, config: &SearchBenchConfig, threads: usize) -> Result<Vec<SearchBenchRow>, String> {
    if !python.exists() || !script.exists() {
        return Err(format!("{} is missing: run bench/ann/setup.sh from the repository root (hnswlib and FAISS in bench/ann/.venv)", python.display()));
    }
    let ef = config.ef.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(dir)
        .args(["--json", "--k", &config.k.to_string(), "--m", &config.connections.to_string()])
        .args(["--ef-construction", &config.ef_construction.to_string(), "--ef", &ef])
        .args(["--batch", &config.batch.to_string(), "--threads", &threads.to_string()])
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!("{} failed ({})", script.display(), output.status));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("{} printed no JSON rows ({e}): {}", script.display(), String::from_utf8_lossy(&output.stdout)))
}

/// Measures exact search and each graph index of `config.indexes` at each `ef` on `vectors`
/// (row-major `[items, dim]`).
pub fn bench_corpus(corpus: &str, vectors: Vec<f32>, dim: usize, config: &SearchBenchConfig) -> Vec<SearchBenchRow> {
    let n = vectors.len() / dim.max(1);
    let queries = bench_queries(config, dim);
    let wants = |index| config.indexes.contains(&index);
    let mut graph_vectors = (wants(BenchIndex::Hnsw) || wants(BenchIndex::Usearch)).then(|| vectors.clone());
    let exact = ExactIndex::new(vectors, dim);
    let truth: Vec<Vec<u32>> = exact.search_batch(&queries.iter().map(Vec::as_slice).collect::<Vec<_>>(), config.k).into_iter().map(|hits| hits.iter().map(|h| h.item).collect()).collect();
    let row = |index: String, build_seconds: f64, memory_mib: f64, m: Measured| SearchBenchRow {
        corpus: corpus.to_string(),
        items: n,
        dim,
        index,
        build_seconds,
        queries_per_sec: m.qps,
        p50_ms: m.p50_ms,
        p99_ms: m.p99_ms,
        batch_queries_per_sec: m.batch_qps,
        memory_mib,
        recall: m.recall,
    };
    let exact_mib = exact.memory_bytes() as f64 / MIB;
    let mut rows = vec![row("exact".into(), 0.0, exact_mib, measure(&exact, &queries, &truth, config))];
    drop(exact);
    // A graph index keeps the item vectors it is given for exact rescoring: counted with it.
    let vectors_mib = (n * dim * std::mem::size_of::<f32>()) as f64 / MIB;
    let params = HnswParams { connections: config.connections, ef_construction: config.ef_construction, ef_search: 64 };
    if wants(BenchIndex::Hnsw) {
        let usearch_next = wants(BenchIndex::Usearch) && cfg!(feature = "usearch");
        let vectors = if usearch_next { graph_vectors.clone() } else { graph_vectors.take() };
        if let Some(vectors) = vectors {
            let (mut hnsw, build, mib) = timed_build(|| HnswIndex::build(vectors, dim, params));
            for &ef in &config.ef {
                hnsw.set_ef_search(ef);
                rows.push(row(format!("hnsw ef={ef}"), build, mib + vectors_mib, measure(&hnsw, &queries, &truth, config)));
            }
        }
    }
    #[cfg(feature = "usearch")]
    if wants(BenchIndex::Usearch)
        && let Some(vectors) = graph_vectors
    {
        match timed_build(|| super::UsearchIndex::build(vectors, dim, params)) {
            (Ok(mut index), build, mib) => {
                for &ef in &config.ef {
                    index.set_ef_search(ef);
                    rows.push(row(format!("usearch ef={ef}"), build, mib + vectors_mib, measure(&index, &queries, &truth, config)));
                }
            }
            (Err(e), ..) => eprintln!("usearch rows skipped: {e}"),
        }
    }
    rows
}

struct Measured {
    qps: f64,
    p50_ms: f64,
    p99_ms: f64,
    batch_qps: f64,
    recall: f64,
}

fn measure(index: &dyn MipsIndex, queries: &[Vec<f32>], truth: &[Vec<u32>], config: &SearchBenchConfig) -> Measured {
    let k = config.k;
    for q in &queries[..WARM_UP_QUERIES] {
        std::hint::black_box(index.search(q, k));
    }
    let timed = &queries[WARM_UP_QUERIES..];
    let mut latencies = Vec::with_capacity(timed.len());
    let mut found = 0usize;
    let started = Instant::now();
    for (q, t) in timed.iter().zip(&truth[WARM_UP_QUERIES..]) {
        let at = Instant::now();
        let hits = index.search(q, k);
        latencies.push(at.elapsed().as_secs_f64() * 1e3);
        found += hits.iter().filter(|h| t.contains(&h.item)).count();
    }
    let total = started.elapsed().as_secs_f64();
    let refs: Vec<&[f32]> = timed.iter().map(Vec::as_slice).collect();
    let started = Instant::now();
    for batch in refs.chunks(config.batch.max(1)) {
        std::hint::black_box(index.search_batch(batch, k));
    }
    let batch_total = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0.0);
    Measured {
        qps: latencies.len() as f64 / total.max(1e-12),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        batch_qps: timed.len() as f64 / batch_total.max(1e-12),
        recall: found as f64 / (latencies.len() * k).max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_search_recalls_itself_and_hnsw_is_close_on_a_small_corpus() {
        let indexes = vec![BenchIndex::Hnsw, BenchIndex::Usearch].into_iter().filter(|&i| i != BenchIndex::Usearch || cfg!(feature = "usearch")).collect();
        let config = SearchBenchConfig { queries: 30, heads: 2, k: 5, connections: 16, ef_construction: 100, ef: vec![64], batch: 8, indexes, seed: 3 };
        let rows = bench_corpus("random", random_vectors(500, 8, 1), 8, &config);
        let names: Vec<&str> = rows.iter().map(|r| r.index.as_str()).collect();
        let expected: &[&str] = if cfg!(feature = "usearch") { &["exact", "hnsw ef=64", "usearch ef=64"] } else { &["exact", "hnsw ef=64"] };
        assert_eq!(names, expected);
        assert_eq!(rows[0].recall, 1.0);
        assert!(rows[1..].iter().all(|r| r.recall > 0.8), "{rows:?}");
        assert!(rows.iter().all(|r| r.items == 500 && r.p50_ms <= r.p99_ms && r.batch_queries_per_sec > 0.0));
    }

    #[test]
    fn npy_files_have_numpys_header_and_little_endian_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        write_npy_f32(&path, 2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0, "the data starts 64-byte aligned");
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") && header.ends_with('\n'), "{header:?}");
        let data = &bytes[10 + header_len..];
        assert_eq!(data.len(), 24);
        assert_eq!(f32::from_le_bytes(data[20..24].try_into().unwrap()), 6.5);
    }
}
