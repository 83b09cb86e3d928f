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
    /// Number of state floats kept per weight.
    pub fn state_per_weight(&self) -> usize {
        match self {
            SparseOptimizer::Sgd { .. } => 0,
            SparseOptimizer::Adagrad { .. } => 1,
            SparseOptimizer::LazyAdam { .. } => 2,
        }
    }

    /// Initial value of the state buffer (all weights of a table).
    pub fn initial_state(&self, weights: usize) -> Vec<f32> {
        match *self {
            SparseOptimizer::Sgd { .. } => Vec::new(),
            SparseOptimizer::Adagrad { initial_accumulator, .. } => vec![initial_accumulator; weights],
            SparseOptimizer::LazyAdam { .. } => vec![0.0; 2 * weights],
        }
    }

    /// Update one row in place. `row` and `grad` have `dim` entries; `state` is the table's
    /// whole state buffer and `offset` the row's first weight index; `step` counts from 1.
    pub fn update_row(&self, row: &mut [f32], grad: &[f32], state: &mut [f32], offset: usize, step: u64) {
        let dim = row.len();
        match *self {
            SparseOptimizer::Sgd { lr } => {
                for (w, g) in row.iter_mut().zip(grad) {
                    *w -= lr * g;
                }
            }
            SparseOptimizer::Adagrad { lr, eps, .. } => {
                let acc = &mut state[offset..offset + dim];
                for ((w, g), a) in row.iter_mut().zip(grad).zip(acc) {
                    *a += g * g;
                    *w -= lr * g / (a.sqrt() + eps);
                }
            }
            SparseOptimizer::LazyAdam { lr, beta1, beta2, eps } => {
                let total = state.len() / 2;
                let (m_all, v_all) = state.split_at_mut(total);
                let m = &mut m_all[offset..offset + dim];
                let v = &mut v_all[offset..offset + dim];
                let t = step.max(1) as i32;
                let correction1 = 1.0 - beta1.powi(t);
                let correction2 = 1.0 - beta2.powi(t);
                let step_size = lr * correction2.sqrt() / correction1;
                for (((w, g), m), v) in row.iter_mut().zip(grad).zip(m).zip(v) {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *w -= step_size * *m / (v.sqrt() + eps);
                }
            }
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
}
