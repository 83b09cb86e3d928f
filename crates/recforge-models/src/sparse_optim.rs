//! Row-wise sparse optimizers for embedding tables: only the rows a batch touched are updated.
//!
//! This is what makes large embedding tables cheap to train: a dense optimizer walks every
//! weight of every table each step, these walk `touched rows × dim`. Adagrad keeps one
//! accumulator per weight; lazy Adam keeps first and second moments per weight and applies
//! the bias correction of the global step (TensorFlow's LazyAdam semantics).

use serde::{Deserialize, Serialize};

/// Which row-wise optimizer updates the embedding tables, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SparseOptimizer {
    /// Plain SGD on touched rows (no state).
    Sgd { lr: f32 },
    /// Adagrad: `acc += g²; w -= lr · g / (sqrt(acc) + eps)`.
    Adagrad {
        lr: f32,
        #[serde(default = "default_initial_accumulator")]
        initial_accumulator: f32,
        #[serde(default = "default_eps")]
        eps: f32,
    },
    /// Lazy Adam: Adam moments updated only for touched rows, bias-corrected by the global step.
    LazyAdam {
        lr: f32,
        #[serde(default = "default_beta1")]
        beta1: f32,
        #[serde(default = "default_beta2")]
        beta2: f32,
        #[serde(default = "default_eps")]
        eps: f32,
    },
}

/// PyTorch's default: the first step on a row moves each weight by about `lr`.
fn default_initial_accumulator() -> f32 {
    0.0
}
fn default_eps() -> f32 {
    1e-8
}
fn default_beta1() -> f32 {
    0.9
}
fn default_beta2() -> f32 {
    0.999
}

impl Default for SparseOptimizer {
    fn default() -> Self {
        SparseOptimizer::Adagrad { lr: 0.05, initial_accumulator: default_initial_accumulator(), eps: default_eps() }
    }
}

impl SparseOptimizer {
    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            SparseOptimizer::Sgd { lr } | SparseOptimizer::Adagrad { lr, .. } | SparseOptimizer::LazyAdam { lr, .. } => lr,
        }
    }

    /// Number of state floats kept per weight.
    pub fn state_per_weight(&self) -> usize {
        match self {
            SparseOptimizer::Sgd { .. } => 0,
            SparseOptimizer::Adagrad { .. } => 1,
            SparseOptimizer::LazyAdam { .. } => 2,
        }
    }

    /// Initial value of the state buffer (all weights of a table), written out now: zeros
    /// from the allocator would be mapped page by page as training first touches each row,
    /// a page fault inside the steps for every fresh 2 MiB of state.
    pub fn initial_state(&self, weights: usize) -> Vec<f32> {
        let (len, value) = match *self {
            SparseOptimizer::Sgd { .. } => (0, 0.0),
            SparseOptimizer::Adagrad { initial_accumulator, .. } => (weights, initial_accumulator),
            SparseOptimizer::LazyAdam { .. } => (2 * weights, 0.0),
        };
        let mut state = Vec::with_capacity(len);
        state.resize(len, value);
        state
    }

    /// Update one row in place. `row` and `grad` have `dim` entries; `state` is the table's
    /// whole state buffer and `offset` the row's first weight index; `step` counts from 1.
    pub fn update_row(&self, row: &mut [f32], grad: &[f32], state: &mut [f32], offset: usize, step: u64) {
        let dim = row.len();
        let kernel = self.kernel(step);
        let (first, second) = split_state(state, self.state_per_weight());
        kernel.apply(row, grad, first.map(|s| &mut s[offset..offset + dim]), second.map(|s| &mut s[offset..offset + dim]));
    }

    /// Update `rows` (distinct) of a table in one pass: `weights` is the table `[rows, dim]`,
    /// `state` its whole state buffer, `grads` `[rows.len() * dim]` summed per row. The
    /// step's constants (Adam's bias corrections) are computed once, not per row.
    pub fn update_rows(&self, weights: &mut [f32], state: &mut [f32], dim: usize, rows: &[u32], grads: &[f32], step: u64) {
        let kernel = self.kernel(step);
        let (mut first, mut second) = split_state(state, self.state_per_weight());
        for (&row, grad) in rows.iter().zip(grads.chunks_exact(dim)) {
            let range = row as usize * dim..(row as usize + 1) * dim;
            kernel.apply(
                &mut weights[range.clone()],
                grad,
                first.as_deref_mut().map(|s| &mut s[range.clone()]),
                second.as_deref_mut().map(|s| &mut s[range]),
            );
        }
    }

    /// The update rule with this step's constants folded in.
    fn kernel(&self, step: u64) -> Kernel {
        match *self {
            SparseOptimizer::Sgd { lr } => Kernel::Sgd { lr },
            SparseOptimizer::Adagrad { lr, eps, .. } => Kernel::Adagrad { lr, eps },
            SparseOptimizer::LazyAdam { lr, beta1, beta2, eps } => {
                let t = step.clamp(1, i32::MAX as u64) as i32;
                let correction1 = 1.0 - beta1.powi(t);
                let correction2 = 1.0 - beta2.powi(t);
                Kernel::Adam { beta1, beta2, eps, step_size: lr * correction2.sqrt() / correction1 }
            }
        }
    }
}

/// A table's state buffer as its (up to two) per-weight slots: Adagrad's accumulator, or
/// Adam's first and second moments (stored one after the other).
fn split_state(state: &mut [f32], per_weight: usize) -> (Option<&mut [f32]>, Option<&mut [f32]>) {
    match per_weight {
        0 => (None, None),
        1 => (Some(state), None),
        _ => {
            let (m, v) = state.split_at_mut(state.len() / 2);
            (Some(m), Some(v))
        }
    }
}

/// One optimizer step's arithmetic for one row.
#[derive(Debug, Clone, Copy)]
enum Kernel {
    Sgd { lr: f32 },
    Adagrad { lr: f32, eps: f32 },
    Adam { beta1: f32, beta2: f32, eps: f32, step_size: f32 },
}

impl Kernel {
    #[inline]
    fn apply(&self, row: &mut [f32], grad: &[f32], first: Option<&mut [f32]>, second: Option<&mut [f32]>) {
        match (*self, first, second) {
            (Kernel::Sgd { lr }, _, _) => {
                for (w, g) in row.iter_mut().zip(grad) {
                    *w -= lr * g;
                }
            }
            (Kernel::Adagrad { lr, eps }, Some(acc), _) => {
                for ((w, g), a) in row.iter_mut().zip(grad).zip(acc) {
                    *a += g * g;
                    *w -= lr * g / (a.sqrt() + eps);
                }
            }
            (Kernel::Adam { beta1, beta2, eps, step_size }, Some(m), Some(v)) => {
                for (((w, g), m), v) in row.iter_mut().zip(grad).zip(m).zip(v) {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *w -= step_size * *m / (v.sqrt() + eps);
                }
            }
            // A state buffer of the wrong size is a construction bug, caught by the tests.
            _ => debug_assert!(false, "optimizer state missing"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adagrad_matches_hand_computation() {
        let opt = SparseOptimizer::Adagrad { lr: 0.1, initial_accumulator: 0.0, eps: 0.0 };
        let mut row = [1.0, 2.0];
        let mut state = opt.initial_state(4);
        // Row 1 of a 2-row table: offset 2.
        opt.update_row(&mut row, &[0.5, -2.0], &mut state, 2, 1);
        // acc = g², w -= 0.1 · g / |g| → ∓0.1
        assert!((row[0] - 0.9).abs() < 1e-6 && (row[1] - 2.1).abs() < 1e-6);
        assert_eq!(&state[..2], &[0.0, 0.0], "other rows' state is untouched");
        assert!((state[2] - 0.25).abs() < 1e-7 && (state[3] - 4.0).abs() < 1e-7);
    }

    #[test]
    fn lazy_adam_first_step_moves_by_lr() {
        // With bias correction, Adam's first step is lr · sign(g) (eps → 0).
        let opt = SparseOptimizer::LazyAdam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-12 };
        let mut row = [0.0, 0.0, 0.0];
        let mut state = opt.initial_state(3);
        opt.update_row(&mut row, &[3.0, -0.2, 0.0], &mut state, 0, 1);
        assert!((row[0] + 0.01).abs() < 1e-6);
        assert!((row[1] - 0.01).abs() < 1e-6);
        assert_eq!(row[2], 0.0);
    }

    #[test]
    fn update_rows_matches_row_by_row_updates() {
        for opt in [
            SparseOptimizer::Sgd { lr: 0.1 },
            SparseOptimizer::Adagrad { lr: 0.1, initial_accumulator: 0.1, eps: 1e-8 },
            SparseOptimizer::LazyAdam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        ] {
            let dim = 3;
            let mut fused: Vec<f32> = (0..5 * dim).map(|i| i as f32 * 0.1).collect();
            let mut fused_state = opt.initial_state(fused.len());
            let mut single = fused.clone();
            let mut single_state = fused_state.clone();
            let rows = [4u32, 0, 2];
            let grads: Vec<f32> = (0..rows.len() * dim).map(|i| (i as f32 - 4.0) * 0.3).collect();
            for step in 1..=3 {
                opt.update_rows(&mut fused, &mut fused_state, dim, &rows, &grads, step);
                for (&row, grad) in rows.iter().zip(grads.chunks_exact(dim)) {
                    let offset = row as usize * dim;
                    opt.update_row(&mut single[offset..offset + dim], grad, &mut single_state, offset, step);
                }
            }
            assert_eq!(fused, single, "{opt:?}");
            assert_eq!(fused_state, single_state, "{opt:?}");
        }
    }
}
