//! EASE — "Embarrassingly Shallow Autoencoders for Sparse Data" (Steck, arXiv 1905.03375).
//! An item-item weight matrix B minimising ‖X − XB‖² + λ‖B‖² with diag(B) = 0, in closed
//! form: P = (XᵀX + λI)⁻¹, B_ij = −P_ij / P_jj (i ≠ j), B_jj = 0; a user's scores are xB for
//! the multi-hot row x of the items they interacted with.
//!
//! The inverse is an in-place Gauss-Jordan sweep written by hand (rows updated in parallel
//! with rayon): XᵀX + λI is symmetric positive definite, so no pivoting is needed, and one
//! O(n³) solve is all EASE asks of linear algebra — not worth a linear-algebra crate's build.

use burn::module::Param;
use burn::prelude::*;
use rayon::prelude::*;

/// Sizes of an [`Ease`] model (the weights come from [`ease_weights`]).
#[derive(Config, Debug)]
pub struct EaseConfig {
    /// Item vocabulary rows, including the padding row 0.
    pub num_items: usize,
    /// Ridge λ added to the Gram matrix's diagonal.
    #[config(default = 500.0)]
    pub lambda: f64,
}

/// The item-item matrix B `[num_items, num_items]` (row i: how much having item i adds to each
/// item's score).
#[derive(Module, Debug)]
pub struct Ease {
    pub weights: Param<Tensor<2>>,
}

/// Why EASE could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EaseError {
    #[error("EASE needs a positive ridge λ (got {0}); set [model] lambda, e.g. 500")]
    Lambda(f64),
    #[error("item id {item} is beyond the {num_items} items EASE was sized for")]
    Item { item: u32, num_items: usize },
    #[error("the Gram matrix is not positive definite (pivot {pivot} at item {item}); raise λ")]
    Singular { item: usize, pivot: f64 },
}

impl EaseConfig {
    /// A zero B (load weights into it, or build one with [`Ease::from_weights`]).
    pub fn init(&self, device: &Device) -> Ease {
        let n = self.num_items.max(1);
        Ease { weights: Param::from_tensor(Tensor::zeros([n, n], device)) }
    }
}

impl Ease {
    /// A model from B, row-major `[num_items, num_items]`.
    pub fn from_weights(weights: Vec<f32>, num_items: usize, device: &Device) -> Self {
        Ease { weights: Param::from_tensor(Tensor::from_data(TensorData::new(weights, [num_items, num_items]), device)) }
    }

    pub fn num_items(&self) -> usize {
        self.weights.dims()[0]
    }

    /// Scores `[batch, num_items]`: xB for the multi-hot row x of each history (item ids beyond
    /// the corpus are ignored, repeated items count once).
    pub fn score_all(&self, histories: &[&[u32]], device: &Device) -> Tensor<2> {
        let n = self.num_items();
        let mut x = vec![0f32; histories.len() * n];
        for (row, history) in histories.iter().enumerate() {
            for &item in history.iter().filter(|&&i| (i as usize) < n) {
                x[row * n + item as usize] = 1.0;
            }
        }
        Tensor::<2>::from_data(TensorData::new(x, [histories.len(), n]), device).matmul(self.weights.val())
    }
}

/// B for the interaction rows `rows` (each a user's item ids) over `num_items` items, row-major
/// `[num_items, num_items]`.
pub fn ease_weights(rows: &[&[u32]], num_items: usize, lambda: f64) -> Result<Vec<f32>, EaseError> {
    if !(lambda > 0.0 && lambda.is_finite()) {
        return Err(EaseError::Lambda(lambda));
    }
    let n = num_items;
    let mut p = gram(rows, n)?;
    for i in 0..n {
        p[i * n + i] += lambda;
    }
    invert_spd(&mut p, n)?;
    let mut b = vec![0f32; n * n];
    b.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
        for (j, out) in row.iter_mut().enumerate() {
            if i != j {
                *out = (-p[i * n + j] / p[j * n + j]) as f32;
            }
        }
    });
    Ok(b)
}

/// XᵀX of the multi-hot rows (repeated items in a row count once), row-major `[n, n]`.
pub fn gram(rows: &[&[u32]], n: usize) -> Result<Vec<f64>, EaseError> {
    let mut g = vec![0f64; n * n];
    let mut items: Vec<usize> = Vec::new();
    for row in rows {
        items.clear();
        for &item in row.iter() {
            if item as usize >= n {
                return Err(EaseError::Item { item, num_items: n });
            }
            items.push(item as usize);
        }
        items.sort_unstable();
        items.dedup();
        for &a in &items {
            let line = &mut g[a * n..(a + 1) * n];
            for &b in &items {
                line[b] += 1.0;
            }
        }
    }
    Ok(g)
}

/// Inverts the symmetric positive definite row-major `[n, n]` matrix `a` in place
/// (Gauss-Jordan without pivoting).
pub fn invert_spd(a: &mut [f64], n: usize) -> Result<(), EaseError> {
    let mut pivot_row = vec![0f64; n];
    for k in 0..n {
        let pivot = a[k * n + k];
        if !(pivot > 0.0 && pivot.is_finite()) {
            return Err(EaseError::Singular { item: k, pivot });
        }
        a[k * n + k] = 1.0;
        for v in &mut a[k * n..(k + 1) * n] {
            *v /= pivot;
        }
        pivot_row.copy_from_slice(&a[k * n..(k + 1) * n]);
        a.par_chunks_mut(n).enumerate().filter(|&(i, _)| i != k).for_each(|(_, row)| {
            let factor = row[k];
            if factor != 0.0 {
                row[k] = 0.0;
                for (v, &p) in row.iter_mut().zip(&pivot_row) {
                    *v -= factor * p;
                }
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_match_numpy_on_a_four_item_toy() {
        // X: users {0,1}, {1,2}, {0,1,2}, {2,3}, {0,3}; λ = 1. numpy:
        // P = inv(X.T @ X + I); B = -P / diag(P)[None, :]; fill_diagonal(B, 0).
        let rows: [&[u32]; 5] = [&[0, 1], &[1, 2], &[0, 1, 2], &[2, 3], &[0, 3]];
        let b = ease_weights(&rows, 4, 1.0).unwrap();
        let expected = [
            [0.0, 6.0 / 13.0, -1.0 / 8.0, 1.0 / 3.0],
            [9.0 / 16.0, 0.0, 9.0 / 16.0, -1.0 / 3.0],
            [-1.0 / 8.0, 6.0 / 13.0, 0.0, 1.0 / 3.0],
            [3.0 / 8.0, -4.0 / 13.0, 3.0 / 8.0, 0.0],
        ];
        for (i, row) in expected.iter().enumerate() {
            for (j, &want) in row.iter().enumerate() {
                assert!((b[i * 4 + j] as f64 - want).abs() < 1e-6, "B[{i}][{j}] = {} (numpy {want})", b[i * 4 + j]);
            }
        }
        // A user's scores are xB: user {0,1,2} scores (7/16, 12/13, 7/16, 1/3).
        let device = Device::default();
        let model = Ease::from_weights(b, 4, &device);
        let scores = model.score_all(&[&[0, 1, 2, 2]], &device).into_data().try_to_vec::<f32>().unwrap();
        for (got, want) in scores.iter().zip([7.0 / 16.0, 12.0 / 13.0, 7.0 / 16.0, 1.0 / 3.0]) {
            assert!((*got as f64 - want).abs() < 1e-6, "{scores:?}");
        }
    }

    #[test]
    fn the_inverse_times_the_matrix_is_the_identity() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let mut inverse = a;
        invert_spd(&mut inverse, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let product: f64 = (0..3).map(|k| a[i * 3 + k] * inverse[k * 3 + j]).sum();
                assert!((product - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(ease_weights(&[&[0]], 2, 0.0), Err(EaseError::Lambda(0.0)));
        assert_eq!(ease_weights(&[&[5]], 2, 1.0), Err(EaseError::Item { item: 5, num_items: 2 }));
    }
}
