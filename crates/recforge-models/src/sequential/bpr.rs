//! BPR-MF — "BPR: Bayesian Personalized Ranking from Implicit Feedback" (Rendle et al.,
//! arXiv 1205.2618). One vector per user and per item, score x_ui = ⟨p_u, q_i⟩, trained on
//! (user, interacted item i, sampled item j) triples to maximise ln σ(x_ui − x_uj).
//!
//! Users are the indices of `recforge_data::Sequences::users`; item id 0 is the padding/OOV
//! row, never a positive. Training (negative sampling, Adam, early stopping) lives in
//! `recforge-train`.

use burn::nn::{Embedding, EmbeddingConfig, Initializer};
use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;

/// Sizes of a [`BprMf`].
#[derive(Config, Debug)]
pub struct BprConfig {
    pub num_users: usize,
    /// Item vocabulary rows, including the padding row 0.
    pub num_items: usize,
    /// Embedding width d.
    #[config(default = 64)]
    pub dim: usize,
}

/// User and item embedding tables.
#[derive(Module, Debug)]
pub struct BprMf {
    /// `[num_users, dim]`.
    pub users: Embedding,
    /// `[num_items, dim]`.
    pub items: Embedding,
}

impl BprConfig {
    pub fn init(&self, device: &Device) -> BprMf {
        let dim = self.dim.max(1);
        // Std 1/√d keeps the initial scores ⟨p_u, q_i⟩ near std 1/√d, far from σ's flat tails.
        let table = |rows: usize| {
            EmbeddingConfig::new(rows.max(1), dim)
                .with_initializer(Initializer::Normal { mean: 0.0, std: 1.0 / (dim as f64).sqrt() })
                .init(device)
        };
        BprMf { users: table(self.num_users), items: table(self.num_items) }
    }
}

fn ids(values: &[u32], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = values.iter().map(|&v| i64::from(v)).collect();
    let len = values.len();
    Tensor::<1, Int>::from_data(TensorData::new(values, [len]), device)
}

/// The BPR loss of a batch: mean over rows of −ln σ(pos − neg), `pos` and `neg` `[batch]`.
pub fn bpr_loss(pos: Tensor<1>, neg: Tensor<1>) -> Tensor<1> {
    log_sigmoid(pos - neg).mean().neg()
}

impl BprMf {
    /// User vectors `[batch, dim]` of user indices.
    pub fn user_vectors(&self, users: &[u32], device: &Device) -> Tensor<2> {
        self.users.weight.val().select(0, ids(users, device))
    }

    /// Item vectors `[batch, dim]` of item ids.
    pub fn item_vectors(&self, items: &[u32], device: &Device) -> Tensor<2> {
        self.items.weight.val().select(0, ids(items, device))
    }

    /// The mean BPR loss of triples (`users[b]`, `positives[b]`, `negatives[b]`).
    pub fn triple_loss(&self, users: &[u32], positives: &[u32], negatives: &[u32], device: &Device) -> Tensor<1> {
        let u = self.user_vectors(users, device);
        let pos = (u.clone() * self.item_vectors(positives, device)).sum_dim(1).flatten::<1>(0, 1);
        let neg = (u * self.item_vectors(negatives, device)).sum_dim(1).flatten::<1>(0, 1);
        bpr_loss(pos, neg)
    }

    /// Scores `[batch, num_items]` of every item for each user index.
    pub fn score_all(&self, users: &[u32], device: &Device) -> Tensor<2> {
        self.user_vectors(users, device).matmul(self.items.weight.val().transpose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(rows: &[[f32; 2]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::<2>::from_data(TensorData::new(flat, [rows.len(), 2]), device)
    }

    fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// A model whose tables hold the given rows (d = 2).
    fn model(users: &[[f32; 2]], items: &[[f32; 2]], device: &Device) -> BprMf {
        let mut m = BprConfig::new(users.len(), items.len()).with_dim(2).init(device);
        m.users.weight = burn::module::Param::from_tensor(tensor(users, device));
        m.items.weight = burn::module::Param::from_tensor(tensor(items, device));
        m
    }

    #[test]
    fn loss_and_gradients_match_the_hand_computed_triple() {
        // p = (1, 0), q_i = (0.5, 0), q_j = (0, 1): x = 0.5 − 0 = 0.5, loss = ln(1 + e^−0.5).
        // ∂/∂p = −(1 − σ(x))(q_i − q_j), ∂/∂q_i = −(1 − σ(x)) p, ∂/∂q_j = (1 − σ(x)) p.
        let device = Device::default().autodiff();
        let m = model(&[[1.0, 0.0]], &[[0.0, 0.0], [0.5, 0.0], [0.0, 1.0]], &device);
        let loss = m.triple_loss(&[0], &[1], &[2], &device);
        let grads = loss.backward();
        let value = floats(loss)[0];
        assert!((value - (1.0f32 + (-0.5f32).exp()).ln()).abs() < 1e-6, "{value}");
        let s = 1.0 - 1.0 / (1.0 + (-0.5f32).exp());
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        let user_grad = floats(m.users.weight.val().grad(&grads).unwrap());
        assert!(close(&user_grad, &[-s * 0.5, s]), "{user_grad:?}");
        let item_grad = floats(m.items.weight.val().grad(&grads).unwrap());
        assert!(close(&item_grad, &[0.0, 0.0, -s, 0.0, s, 0.0]), "{item_grad:?}");
    }

    #[test]
    fn gradients_match_central_differences() {
        let device = Device::default().autodiff();
        let users = [[0.3f32, -0.2], [0.1, 0.7]];
        let items = [[0.0f32, 0.0], [0.4, 0.1], [-0.3, 0.5], [0.2, -0.6]];
        let (u, p, n) = ([0u32, 1, 1], [1u32, 2, 3], [3u32, 1, 2]);
        let m = model(&users, &items, &device);
        let grads = m.triple_loss(&u, &p, &n, &device).backward();
        let analytic = floats(m.users.weight.val().grad(&grads).unwrap());
        let plain = Device::default();
        let eps = 1e-2f32;
        for at in 0..4 {
            let loss_at = |delta: f32| {
                let mut moved = users;
                moved[at / 2][at % 2] += delta;
                floats(model(&moved, &items, &plain).triple_loss(&u, &p, &n, &plain))[0]
            };
            let numeric = (loss_at(eps) - loss_at(-eps)) / (2.0 * eps);
            assert!((numeric - analytic[at]).abs() < 1e-3, "user weight {at}: {numeric} vs {}", analytic[at]);
        }
    }

    #[test]
    fn scores_are_inner_products_with_every_item() {
        let device = Device::default();
        let m = model(&[[1.0, 2.0]], &[[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]], &device);
        assert_eq!(floats(m.score_all(&[0], &device)), vec![0.0, 3.0, 0.0]);
    }
}
