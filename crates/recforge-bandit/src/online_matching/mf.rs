//! A small logistic matrix factorisation trained by SGD in plain Rust: the user/item
//! embedding model behind the offline half of Online Matching (the paper uses a two-tower
//! model; any model giving user and item vectors whose inner product ranks items fits).
//! `P(r = 1 | u, j) = σ(b + b_u + b_j + ⟨p_u, q_j⟩)`.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of [`Mf::train`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MfConfig {
    pub dim: usize,
    pub epochs: usize,
    pub lr: f32,
    /// L2 penalty per update on the touched rows.
    pub l2: f32,
    /// Standard deviation of the initial embeddings.
    pub init_std: f32,
}

impl Default for MfConfig {
    fn default() -> Self {
        MfConfig { dim: 16, epochs: 12, lr: 0.05, l2: 0.005, init_std: 0.1 }
    }
}

/// Trained embeddings: `users[u]` and `items[j]` are `dim`-vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mf {
    pub dim: usize,
    pub bias: f32,
    pub user_bias: Vec<f32>,
    pub item_bias: Vec<f32>,
    pub users: Vec<Vec<f32>>,
    pub items: Vec<Vec<f32>>,
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Mf {
    /// Fits `(user, item, label ∈ {0,1})` triples; users and items are dense indices below
    /// `num_users` / `num_items`. Deterministic for a given seed.
    pub fn train(examples: &[(u32, u32, f32)], num_users: usize, num_items: usize, config: MfConfig, seed: u64) -> Mf {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut init = |n: usize| -> Vec<Vec<f32>> {
            (0..n).map(|_| (0..config.dim).map(|_| (rng.random::<f32>() * 2.0 - 1.0) * config.init_std * 3f32.sqrt()).collect()).collect()
        };
        let users = init(num_users);
        let items = init(num_items);
        let base = examples.iter().map(|e| e.2).sum::<f32>() / examples.len().max(1) as f32;
        let mut mf = Mf {
            dim: config.dim,
            bias: (base.clamp(1e-3, 1.0 - 1e-3) / (1.0 - base.clamp(1e-3, 1.0 - 1e-3))).ln(),
            user_bias: vec![0.0; num_users],
            item_bias: vec![0.0; num_items],
            users,
            items,
        };
        let mut order: Vec<usize> = (0..examples.len()).collect();
        for _ in 0..config.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let (u, j, y) = examples[i];
                let (u, j) = (u as usize, j as usize);
                let g = mf.probability(u, j) - y;
                mf.bias -= config.lr * g * 0.1;
                mf.user_bias[u] -= config.lr * (g + config.l2 * mf.user_bias[u]);
                mf.item_bias[j] -= config.lr * (g + config.l2 * mf.item_bias[j]);
                for k in 0..config.dim {
                    let (pu, qj) = (mf.users[u][k], mf.items[j][k]);
                    mf.users[u][k] -= config.lr * (g * qj + config.l2 * pu);
                    mf.items[j][k] -= config.lr * (g * pu + config.l2 * qj);
                }
            }
        }
        mf
    }

    /// `σ(b + b_u + b_j + ⟨p_u, q_j⟩)`.
    pub fn probability(&self, user: usize, item: usize) -> f32 {
        sigmoid(self.bias + self.user_bias[user] + self.item_bias[item] + dot(&self.users[user], &self.items[item]))
    }

    /// Mean log loss on `examples`.
    pub fn logloss(&self, examples: &[(u32, u32, f32)]) -> f64 {
        let total: f64 = examples
            .iter()
            .map(|&(u, j, y)| {
                let p = f64::from(self.probability(u as usize, j as usize)).clamp(1e-7, 1.0 - 1e-7);
                -(f64::from(y) * p.ln() + (1.0 - f64::from(y)) * (1.0 - p).ln())
            })
            .sum();
        total / examples.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_planted_block_structure() {
        // Users 0..10 like items 0..5, users 10..20 like items 5..10.
        let mut examples = Vec::new();
        for u in 0..20u32 {
            for j in 0..10u32 {
                examples.push((u, j, f32::from((u < 10) == (j < 5))));
            }
        }
        let mf = Mf::train(&examples, 20, 10, MfConfig { epochs: 200, ..MfConfig::default() }, 7);
        assert!(mf.logloss(&examples) < 0.2, "{}", mf.logloss(&examples));
        assert!(mf.probability(0, 0) > 0.8 && mf.probability(0, 9) < 0.2);
    }
}
