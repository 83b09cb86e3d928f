//! Dropout with a fast mask generator.
//!
//! burn's own dropout draws its Bernoulli mask through the backend's generic random sampler,
//! which measured a third of an MLP training step here (perf: `ElementRandom::random` and
//! ChaCha20). This layer draws the mask from a thread-local xoshiro generator (`SmallRng`),
//! one integer comparison per element, and is reseeded by the trainer so runs stay
//! deterministic for a seed. Like burn's, it is the identity outside autodiff (evaluation).

use std::cell::RefCell;

use burn::prelude::*;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

thread_local! {
    static MASK_RNG: RefCell<SmallRng> = RefCell::new(SmallRng::seed_from_u64(0));
}

/// Reseed this thread's mask generator (the trainer calls it with the run's seed).
pub fn seed_dropout(seed: u64) {
    MASK_RNG.with(|rng| *rng.borrow_mut() = SmallRng::seed_from_u64(seed));
}

/// Inverted dropout: zero each element with probability `prob`, scale the rest by 1/(1 − prob).
#[derive(Module, Debug)]
pub struct Dropout {
    prob: f64,
}

impl Dropout {
    /// `prob` must be in `[0, 1)`; out-of-range values are clamped (0 disables the layer).
    pub fn new(prob: f64) -> Self {
        let prob = if prob.is_finite() { prob.clamp(0.0, 0.99) } else { 0.0 };
        Dropout { prob }
    }

    /// Whether the layer passes its input through unchanged (probability 0).
    pub fn is_identity(&self) -> bool {
        self.prob == 0.0
    }

    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        if self.is_identity() || !input.device().is_autodiff() {
            return input;
        }
        let dims = input.dims();
        let len: usize = dims.iter().product();
        let keep = 1.0 - self.prob;
        let scale = (1.0 / keep) as f32;
        let threshold = (keep * u32::MAX as f64) as u32;
        let mask: Vec<f32> = MASK_RNG.with(|rng| {
            let mut rng = rng.borrow_mut();
            (0..len).map(|_| if rng.next_u32() <= threshold { scale } else { 0.0 }).collect()
        });
        let mask = Tensor::<D>::from_data(TensorData::new(mask, dims), &input.device());
        input * mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_without_autodiff_and_scaled_mask_with_it() {
        let plain = Device::default();
        let x = Tensor::<2>::ones([100, 100], &plain);
        let layer = Dropout::new(0.25);
        assert_eq!(layer.forward(x).sum().into_scalar::<f32>(), 10_000.0);

        seed_dropout(1);
        let device = Device::default().autodiff();
        let y: Vec<f32> = layer.forward(Tensor::<2>::ones([100, 100], &device)).into_data().try_to_vec().unwrap();
        let kept = y.iter().filter(|&&v| v != 0.0).count();
        assert!((7_200..7_800).contains(&kept), "kept {kept} of 10000 at p = 0.25");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
        // Same seed, same mask.
        seed_dropout(1);
        let z: Vec<f32> = layer.forward(Tensor::<2>::ones([100, 100], &device)).into_data().try_to_vec().unwrap();
        assert_eq!(y, z);
    }
}
