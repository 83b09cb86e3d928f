//! Criterion benchmarks of the EmbeddingStore hot path: deduplicated row gather and the
//! row-wise sparse update, at a CTR-sized batch (2048 examples, zipfian ids into 100k rows).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_models::{EmbeddingStore, SparseOptimizer, TableSpec};

const ROWS: usize = 100_000;
const BATCH: usize = 2048;

/// Zipf-like ids: a few hot rows, a long tail, as in real interaction logs.
fn zipf_ids(count: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let u: f64 = rng.random_range(0.0..1.0);
            ((ROWS as f64).powf(u) as usize).min(ROWS - 1) as u32
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("embedding_store");
    group.throughput(Throughput::Elements(BATCH as u64));
    for dim in [16usize, 64] {
        let ids = zipf_ids(BATCH, 1);
        for (name, optimizer) in [
            ("adagrad", SparseOptimizer::Adagrad { lr: 0.05, initial_accumulator: 0.1, eps: 1e-8 }),
            ("lazy_adam", SparseOptimizer::LazyAdam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
        ] {
            let mut store = EmbeddingStore::new(vec![TableSpec::exact("t", ROWS, dim)], optimizer, 0.01, 7);
            group.bench_function(BenchmarkId::new(format!("gather_{name}"), dim), |b| {
                b.iter(|| {
                    let gather = store.gather_rows(0, &ids);
                    std::hint::black_box(store.rows_data(0, &gather.rows))
                })
            });
            let gather = store.gather_rows(0, &ids);
            let grads = vec![0.01f32; gather.rows.len() * dim];
            group.bench_function(BenchmarkId::new(format!("sparse_update_{name}"), dim), |b| {
                b.iter(|| {
                    store.begin_step();
                    store.apply_row_gradients(0, &gather.rows, &grads)
                })
            });
            // The dense alternative touches every row every step.
            let all_rows: Vec<u32> = (0..ROWS as u32).collect();
            let dense_grads = vec![0.0f32; ROWS * dim];
            group.bench_function(BenchmarkId::new(format!("dense_update_{name}"), dim), |b| {
                b.iter(|| {
                    store.begin_step();
                    store.apply_row_gradients(0, &all_rows, &dense_grads)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
