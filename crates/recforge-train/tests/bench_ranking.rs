//! The side-by-side benchmark's plumbing, without torch: the reference data shape, medians and
//! ratios on hand-made rounds, and whole runs against a stand-in "PyTorch" script that speaks
//! the JSON protocol (so the alternation, the data hand-off and error paths are exercised).

use std::collections::BTreeMap;
use std::path::Path;

use recforge_data::{Column, FeatureKind};
use recforge_models::ModelConfig;
use recforge_models::ranking::MlpRankerConfig;
use recforge_train::bench::{
    BenchError, PythonReference, RankingBench, Round, Throughput, TorchMeasured, Workload, reference_dataset, summarise,
    synthetic_dataset,
};

#[test]
fn reference_shape_is_26_fields_of_100k_ids_and_13_numeric() {
    let data = reference_dataset(64, 1);
    assert_eq!(data.len(), 64);
    data.check_consistency().expect("consistent");
    let layout = data.layout();
    assert_eq!(layout.sparse.len(), 26);
    assert!(layout.sparse.iter().all(|f| f.cardinality == 100_000 && !f.bag));
    assert_eq!(layout.dense.len(), 13);
    assert!(data.labels.iter().any(|&y| y == 1.0) && data.labels.iter().any(|&y| y == 0.0));
    assert_eq!(data.meta.features.iter().filter(|f| f.kind == FeatureKind::Numeric).count(), 13);
    // Same seed, same data.
    assert_eq!(reference_dataset(64, 1).columns, data.columns);
}

fn round(n: usize, recforge: [f64; 3], torch: [f64; 5]) -> Round {
    let variants: BTreeMap<String, f64> =
        [("adam", torch[0]), ("fused_adam", torch[1]), ("sparse_adam", torch[2])].map(|(k, v)| (k.to_string(), v)).into();
    Round {
        round: n,
        recforge_first: n % 2 == 1,
        recforge: Throughput {
            train_examples_per_sec: recforge[0],
            inference_examples_per_sec: recforge[1],
            latency_batch1_ms: recforge[2],
        },
        pytorch: Some(TorchMeasured {
            train_examples_per_sec: variants,
            inference_examples_per_sec: torch[3],
            latency_batch1_ms: torch[4],
            dense_parameters: 0,
            torch_version: "test".into(),
            threads: 2,
        }),
        load_avg_1m: 0.5,
    }
}

#[test]
fn summary_takes_medians_over_rounds_and_divides_them() {
    let rounds = vec![
        round(1, [100.0, 1000.0, 0.1], [10.0, 40.0, 50.0, 500.0, 0.3]),
        round(2, [300.0, 3000.0, 0.3], [30.0, 60.0, 20.0, 700.0, 0.5]),
        round(3, [200.0, 2000.0, 0.2], [20.0, 50.0, 30.0, 600.0, 0.4]),
    ];
    let s = summarise(&rounds);
    assert_eq!(s.recforge.train_examples_per_sec, 200.0);
    assert_eq!(s.recforge.inference_examples_per_sec, 2000.0);
    assert_eq!(s.pytorch_train_examples_per_sec["adam"], 20.0);
    assert_eq!(s.pytorch_train_examples_per_sec["fused_adam"], 50.0);
    assert_eq!(s.pytorch_train_examples_per_sec["sparse_adam"], 30.0);
    // The best PyTorch variant is chosen on medians (fused 50 > sparse 30), not per round.
    assert_eq!(s.pytorch_best_variant, "fused_adam");
    assert_eq!(s.train_ratio_vs_best, 4.0);
    assert_eq!(s.train_ratio_vs_adam, 10.0);
    assert!((s.inference_ratio - 2000.0 / 600.0).abs() < 1e-12);
    assert!((s.latency_ratio - 0.4 / 0.2).abs() < 1e-12);
}

/// A stand-in for the PyTorch script: checks it was handed a dataset folder and prints the
/// protocol's JSON line (or fails, when asked to).
fn fake_reference(dir: &Path, body: &str) -> PythonReference {
    let script = dir.join("fake_torch.sh");
    std::fs::write(&script, body).expect("write script");
    PythonReference { python: "/bin/sh".into(), script }
}

const ANSWER: &str = r#"
while [ $# -gt 0 ]; do
  if [ "$1" = "--data" ]; then test -f "$2/data.arrow" -a -f "$2/meta.json" || { echo "no dataset in $2" >&2; exit 3; }; fi
  shift
done
echo "torch log line that is not JSON"
echo '{"train_examples_per_sec": {"adam": 100.0, "fused_adam": 400.0, "sparse_adam": 300.0}, "inference_examples_per_sec": 5000.0, "latency_batch1_ms": 0.5, "torch_version": "fake", "threads": 2}'
"#;

fn bench(dir: &Path, reference: PythonReference, rounds: usize) -> RankingBench {
    RankingBench {
        model: ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 4, hidden: vec![8], dropout: 0.0 }),
        work: Workload { batch_size: 32, warmup_steps: 1, steps: 2, latency_samples: 3 },
        rounds,
        threads: 1,
        lr: 1e-3,
        seed: 5,
        reference,
        work_dir: dir.join("work"),
        recforge_only: false,
        engine: recforge_train::TrainEngine::Auto,
    }
}

#[test]
fn rounds_alternate_and_read_the_reference_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runner = bench(dir.path(), fake_reference(dir.path(), ANSWER), 3);
    let data = synthetic_dataset(runner.work.rows(), 3, 50, 2, 9);
    let mut seen = Vec::new();
    let report = runner.run("tiny", &data, |r| seen.push(r.round)).expect("bench runs");
    assert_eq!(seen, vec![1, 2, 3]);
    assert_eq!(report.rounds.iter().map(|r| r.recforge_first).collect::<Vec<_>>(), vec![true, false, true]);
    assert_eq!(report.torch_version, "fake");
    assert_eq!(report.embedding_weights, 3 * 50 * 4);
    let s = &report.summary;
    assert_eq!(s.pytorch_best_variant, "fused_adam");
    assert!(s.recforge.train_examples_per_sec > 0.0 && s.recforge.inference_examples_per_sec > 0.0);
    assert!((s.train_ratio_vs_best - s.recforge.train_examples_per_sec / 400.0).abs() < 1e-9);
    assert!((s.inference_ratio - s.recforge.inference_examples_per_sec / 5000.0).abs() < 1e-9);
    // The rows handed to the reference are the rows recforge trained on.
    let written = recforge_data::Dataset::load(&dir.path().join("work/tiny-3x32")).expect("bench data");
    assert_eq!(written.columns, data.columns);
    assert!(matches!(&written.columns[0], Column::Categorical(ids) if ids.len() == 96));
}

#[test]
fn a_failing_reference_reports_its_stderr() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runner = bench(dir.path(), fake_reference(dir.path(), "echo 'ModuleNotFoundError: torch' >&2; exit 1\n"), 1);
    let data = synthetic_dataset(runner.work.rows(), 2, 10, 0, 1);
    match runner.run("tiny", &data, |_| {}) {
        Err(BenchError::Python(message)) => assert!(message.contains("ModuleNotFoundError: torch"), "{message}"),
        other => panic!("expected a Python error, got {other:?}"),
    }
}

#[test]
fn a_missing_interpreter_says_how_to_make_the_venv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut reference = fake_reference(dir.path(), ANSWER);
    reference.python = dir.path().join("no-venv/bin/python");
    let runner = bench(dir.path(), reference, 1);
    let data = synthetic_dataset(runner.work.rows(), 2, 10, 1, 1);
    match runner.run("tiny", &data, |_| {}) {
        Err(BenchError::Setup(message)) => assert!(message.contains("requirements.txt"), "{message}"),
        other => panic!("expected a setup error, got {other:?}"),
    }
}

#[test]
fn too_few_rows_is_an_error_not_a_short_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runner = bench(dir.path(), fake_reference(dir.path(), ANSWER), 1);
    let data = synthetic_dataset(runner.work.rows() - 1, 2, 10, 1, 1);
    assert!(matches!(runner.run("tiny", &data, |_| {}), Err(BenchError::Setup(_))));
}
