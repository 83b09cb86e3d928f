//! The small layout, batch and embedding store the model tests share: a single-id field and a
//! bag field (one bag empty, one with a repeated id) plus two numeric features.
#![allow(dead_code)] // each test binary uses a different part

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_data::{Batch, FeatureLayout, SparseFeature, SparseField};
use recforge_models::{EmbeddingStore, SparseOptimizer, TableSpec};

pub fn layout() -> FeatureLayout {
    FeatureLayout {
        sparse: vec![
            SparseFeature { name: "user".into(), cardinality: 4, bag: false, max_len: None },
            SparseFeature { name: "tags".into(), cardinality: 6, bag: true, max_len: None },
        ],
        dense: vec!["price".into(), "age".into()],
    }
}

/// Four examples: a single-id field and a bag field (one bag empty, one with a repeated id).
pub fn batch() -> Batch {
    Batch {
        len: 4,
        sparse: vec![
            SparseField::Single(vec![1, 2, 1, 3]),
            SparseField::Bag { offsets: vec![0, 2, 2, 3, 6], values: vec![1, 2, 5, 3, 4, 3] },
        ],
        dense: vec![0.5, -1.0, 1.5, 0.2, -0.3, 0.8, 0.0, 1.0],
        num_dense: 2,
        labels: vec![1.0, 0.0, 1.0, 0.0],
        example_ids: vec![0, 1, 2, 3],
    }
}

/// `examples` random rows of `layout()`: ids in range, bags of 0-4 ids, numbers in [-2, 2),
/// labels 0 (a test that trains sets its own).
pub fn random_batch(examples: usize, seed: u64) -> Batch {
    let mut rng = StdRng::seed_from_u64(seed);
    let users: Vec<u32> = (0..examples).map(|_| rng.random_range(0..4)).collect();
    let (mut offsets, mut values) = (vec![0u32], Vec::new());
    for _ in 0..examples {
        for _ in 0..rng.random_range(0..5) {
            values.push(rng.random_range(0..6));
        }
        offsets.push(values.len() as u32);
    }
    Batch {
        len: examples,
        sparse: vec![SparseField::Single(users), SparseField::Bag { offsets, values }],
        dense: (0..examples * 2).map(|_| rng.random_range(-2.0f32..2.0)).collect(),
        num_dense: 2,
        labels: vec![0.0; examples],
        example_ids: (0..examples as u64).collect(),
    }
}

pub fn store(dim: usize, seed: u64) -> EmbeddingStore {
    EmbeddingStore::new(
        vec![TableSpec::exact("user", 4, dim), TableSpec::exact("tags", 6, dim)],
        SparseOptimizer::Sgd { lr: 1.0 },
        0.3,
        seed,
    )
}

/// Overwrites every float parameter with U(−0.5, 0.5) draws from a local RNG, so the weights
/// depend only on the seed — not on the backend's process-wide RNG, which tests running in
/// parallel threads share (and re-seed).
pub struct LocalWeights(StdRng);

impl ModuleMapper for LocalWeights {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|tensor| {
            let shape = tensor.shape();
            let values: Vec<f32> = (0..shape.num_elements()).map(|_| self.0.random_range(-0.5f32..0.5)).collect();
            // A fresh tensor is untracked: keep the parameter's autodiff tracking.
            Tensor::<D>::from_data(TensorData::new(values, shape), &tensor.device())
                .set_require_grad(tensor.is_require_grad())
        })
    }
}

/// `module` with every float parameter drawn from [`LocalWeights`] at `seed`.
pub fn local_weights<M: Module>(module: M, seed: u64) -> M {
    module.map(&mut LocalWeights(StdRng::seed_from_u64(seed)))
}

// ---- finite differences ----

/// Largest share of coordinates that may be skipped as sitting on a kink.
pub const MAX_SKIPPED_SHARE: f64 = 0.1;

/// The central difference of `f` at step `eps`, or None when it disagrees with the one at
/// `eps / 2` by more than the check's tolerance: then a kink (a ReLU switching, a max changing
/// its argument) lies within the step and neither difference estimates the gradient.
pub fn smooth_difference(eps: f32, f: impl Fn(f32) -> f64) -> Option<f64> {
    let wide = (f(eps) - f(-eps)) / (2.0 * eps as f64);
    let narrow = (f(eps / 2.0) - f(-eps / 2.0)) / (eps as f64);
    ((wide - narrow).abs() < 0.5 * tolerance(narrow)).then_some(narrow)
}

pub fn tolerance(numeric: f64) -> f64 {
    2e-2 * (1.0 + numeric.abs())
}

/// Counts checked and skipped coordinates and fails on the first disagreement.
#[derive(Default)]
pub struct Tally {
    pub checked: usize,
    pub skipped: usize,
}

impl Tally {
    pub fn compare(&mut self, what: &str, analytic: f64, numeric: Option<f64>) {
        match numeric {
            Some(numeric) => {
                assert!((analytic - numeric).abs() < tolerance(numeric), "{what}: autodiff {analytic} vs finite difference {numeric}");
                self.checked += 1;
            }
            None => self.skipped += 1,
        }
    }

    pub fn assert_mostly_checked(&self, what: &str) {
        let total = self.checked + self.skipped;
        assert!(
            (self.skipped as f64) <= MAX_SKIPPED_SHARE * total as f64,
            "{what}: {} of {total} coordinates sat on a kink; the check covers too little",
            self.skipped
        );
    }
}
