//! LinUCB (Li et al., arXiv 1003.0146) with a full covariance per item: the exact baseline
//! Diag-LinUCB approximates. `A_j = λI + Σ x xᵀ` is kept as its inverse and updated by
//! Sherman–Morrison (O(d²) per update, no inversion); mean `θ_j·x`, standard deviation `sqrt(xᵀ A_j⁻¹ x)`.

use std::collections::HashMap;

use crate::{ClusterContext, Score, Scorer};

/// One item's inverse covariance and reward-weighted context sum.
#[derive(Debug, Clone)]
struct ItemModel {
    /// A⁻¹, row-major d×d.
    a_inv: Vec<f64>,
    b: Vec<f64>,
}

/// LinUCB over dense contexts of `dim` clusters.
#[derive(Debug, Clone)]
pub struct LinUcb {
    pub lambda: f64,
    dim: usize,
    items: HashMap<u32, ItemModel>,
}

impl LinUcb {
    pub fn new(dim: usize, lambda: f64) -> Self {
        LinUcb { lambda, dim, items: HashMap::new() }
    }

    fn fresh(&self) -> ItemModel {
        let mut a_inv = vec![0.0; self.dim * self.dim];
        for i in 0..self.dim {
            a_inv[i * self.dim + i] = 1.0 / self.lambda;
        }
        ItemModel { a_inv, b: vec![0.0; self.dim] }
    }

    /// A⁻¹ x for one item.
    fn a_inv_x(&self, model: &ItemModel, x: &[f64]) -> Vec<f64> {
        (0..self.dim).map(|i| (0..self.dim).map(|j| model.a_inv[i * self.dim + j] * x[j]).sum()).collect()
    }
}

impl Scorer for LinUcb {
    fn score(&self, context: &ClusterContext, item: u32) -> Score {
        let x = context.dense(self.dim);
        let Some(model) = self.items.get(&item) else {
            // An unseen item: A = λI, b = 0, so the mean is 0 and xᵀA⁻¹x = ‖x‖²/λ.
            let variance: f64 = x.iter().map(|v| v * v).sum::<f64>() / self.lambda;
            return Score { mean: 0.0, sd: variance.sqrt() };
        };
        let a_inv_x = self.a_inv_x(model, &x);
        // θ·x = (A⁻¹ b)·x = b·(A⁻¹ x) since A⁻¹ is symmetric.
        let mean = model.b.iter().zip(&a_inv_x).map(|(b, v)| b * v).sum();
        let variance: f64 = x.iter().zip(&a_inv_x).map(|(a, b)| a * b).sum();
        Score { mean, sd: variance.max(0.0).sqrt() }
    }

    fn update(&mut self, context: &ClusterContext, item: u32, reward: f64) {
        let x = context.dense(self.dim);
        let mut model = self.items.remove(&item).unwrap_or_else(|| self.fresh());
        // Sherman–Morrison: (A + x xᵀ)⁻¹ = A⁻¹ − (A⁻¹x)(A⁻¹x)ᵀ / (1 + xᵀA⁻¹x).
        let v = self.a_inv_x(&model, &x);
        let denominator = 1.0 + x.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>();
        for i in 0..self.dim {
            for j in 0..self.dim {
                model.a_inv[i * self.dim + j] -= v[i] * v[j] / denominator;
            }
        }
        for (b, xi) in model.b.iter_mut().zip(&x) {
            *b += reward * xi;
        }
        self.items.insert(item, model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Solve A θ = b by Gaussian elimination (test oracle for the Sherman–Morrison updates).
    fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for col in 0..n {
            let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap();
            a.swap(col, pivot);
            b.swap(col, pivot);
            let pivot_row = a[col].clone();
            for row in col + 1..n {
                let f = a[row][col] / pivot_row[col];
                for (target, source) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                    *target -= f * source;
                }
                b[row] -= f * b[col];
            }
        }
        let mut x = vec![0.0; n];
        for row in (0..n).rev() {
            let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
            x[row] = (b[row] - s) / a[row][row];
        }
        x
    }

    #[test]
    fn sherman_morrison_matches_a_direct_solve() {
        let dim = 3;
        let mut policy = LinUcb::new(dim, 0.5);
        let events = [
            (ClusterContext::new([(0, 0.7), (2, 0.3)]), 1.0),
            (ClusterContext::new([(1, 1.0)]), 0.0),
            (ClusterContext::new([(0, 0.2), (1, 0.5), (2, 0.3)]), 1.0),
            (ClusterContext::new([(2, 0.9), (0, 0.1)]), 0.0),
        ];
        let mut a = vec![vec![0.0; dim]; dim];
        for (i, row) in a.iter_mut().enumerate() {
            row[i] = 0.5;
        }
        let mut b = vec![0.0; dim];
        for (ctx, reward) in &events {
            policy.update(ctx, 4, *reward);
            let x = ctx.dense(dim);
            for i in 0..dim {
                for j in 0..dim {
                    a[i][j] += x[i] * x[j];
                }
                b[i] += reward * x[i];
            }
        }
        let probe = ClusterContext::new([(0, 0.5), (1, 0.25), (2, 0.25)]);
        let x = probe.dense(dim);
        let theta = solve(a.clone(), b);
        let mean: f64 = theta.iter().zip(&x).map(|(t, v)| t * v).sum();
        let a_inv_x = solve(a, x.clone());
        let variance: f64 = x.iter().zip(&a_inv_x).map(|(p, q)| p * q).sum();
        let s = policy.score(&probe, 4);
        assert!((s.mean - mean).abs() < 1e-10, "{} vs {mean}", s.mean);
        assert!((s.sd - variance.sqrt()).abs() < 1e-10);
    }
}
