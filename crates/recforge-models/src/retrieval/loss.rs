//! Scoring and losses for two-tower retrieval (arXiv 2308.01563, and Yi et al. 2019 for the
//! logQ correction): score s(u, i) = max over heads h of ⟨u_h, v_i⟩; in-batch softmax where
//! each row's positives are its own target and the other rows' targets are negatives, with
//! logits s/τ − log q_j (q_j = the target's sampling probability), per-example weights,
//! accidental hits removed (another row whose target is this row's own item is not a negative
//! for it, as TensorFlow's `sampled_softmax_loss(remove_accidental_hits=True)`); and
//! the optional disagreement loss Σ_{h≠h'} cos(q_h, q_h') over the interest queries.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Scores `[batch, items]`: for each user the max over its H vectors of the inner product.
/// `users` is `[batch, H, d]`, `items` `[items, d]`.
pub fn max_over_heads(users: Tensor<3>, items: Tensor<2>) -> Tensor<2> {
    let [batch, heads, dim] = users.dims();
    let [n, _] = items.dims();
    let per_head = users.reshape([batch * heads, dim]).matmul(items.transpose());
    per_head.reshape([batch, heads, n]).max_dim(1).reshape([batch, n])
}

/// Masked logits (a large negative number, not −∞, so a fully masked row stays finite).
const MASKED: f32 = -1.0e9;

/// `[B, B]`: `true` at (b, j) when j ≠ b and row j's target is row b's target — the
/// in-batch "negatives" that are in fact the row's own positive (accidental hits).
pub fn accidental_hits(targets: &[u32], device: &Device) -> Tensor<2, Bool> {
    let n = targets.len();
    let mask: Vec<bool> = (0..n * n).map(|at| at / n != at % n && targets[at / n] == targets[at % n]).collect();
    Tensor::<2, Bool>::from_data(TensorData::new(mask, [n, n]), device)
}

/// In-batch softmax loss: `users` `[B, H, d]`, the rows' target item vectors `items`
/// `[B, d]`, `log_q` `[B]` the log sampling probability of each row's target (zeros disable
/// the correction), `weights` `[B]` per-example weights, `mask` `[B, B]` the columns left out
/// of each row's softmax (see [`accidental_hits`]; `None` keeps every column). Returns the
/// scalar `Σ_b w_b · CE_b / B`, `CE_b = −log softmax_j(s(u_b, v_j)/τ − log q_j)[b]` over the
/// unmasked j.
pub fn in_batch_softmax(
    users: Tensor<3>,
    items: Tensor<2>,
    log_q: Tensor<1>,
    weights: Tensor<1>,
    temperature: f64,
    mask: Option<Tensor<2, Bool>>,
) -> Tensor<1> {
    let [batch, _, _] = users.dims();
    let device = users.device();
    let mut logits = max_over_heads(users, items) / temperature - log_q.unsqueeze_dim::<2>(0);
    if let Some(mask) = mask {
        logits = logits.mask_fill(mask, MASKED);
    }
    let log_probs = log_softmax(logits, 1);
    let diagonal = Tensor::<2>::eye(batch, &device);
    let positive = (log_probs * diagonal).sum_dim(1).reshape([batch]);
    (-positive * weights).sum() / batch as f64
}

/// Σ_{h≠h'} cos(q_h, q_h') over the rows of `queries` `[H, d]` (0 for H = 1).
pub fn disagreement(queries: Tensor<2>) -> Tensor<1> {
    let [heads, _] = queries.dims();
    let norms = queries.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-8);
    let unit = queries / norms;
    let cosines = unit.clone().matmul(unit.transpose());
    let off_diagonal = Tensor::<2>::ones([heads, heads], &cosines.device()) - Tensor::<2>::eye(heads, &cosines.device());
    (cosines * off_diagonal).sum()
}
