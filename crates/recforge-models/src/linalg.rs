//! Truncated SVD of small dense matrices, for the low-rank serving export.
//!
//! One-sided Jacobi (Hestenes): plane rotations orthogonalise the columns of `A` until
//! `A V = U Σ`; accurate to working precision and short. Written by hand because the matrices
//! are small (Hiformer's composite projections are a few hundred wide) and a linear-algebra
//! crate would add build time on 2 cores for one function.

/// Sweeps before giving up on convergence (Jacobi converges quadratically; 30 is generous).
const MAX_SWEEPS: usize = 30;
/// Columns count as orthogonal when |aᵢ·aⱼ| ≤ TOLERANCE · ‖aᵢ‖‖aⱼ‖.
const TOLERANCE: f64 = 1e-12;

/// `A ≈ U diag(σ) Vᵀ` keeping the largest `rank` singular values.
#[derive(Debug, Clone, PartialEq)]
pub struct Svd {
    /// `[rows, rank]`, row-major.
    pub u: Vec<f64>,
    /// Descending singular values, `rank` of them.
    pub sigma: Vec<f64>,
    /// `[cols, rank]`, row-major.
    pub v: Vec<f64>,
    pub rows: usize,
    pub cols: usize,
    pub rank: usize,
}

/// Truncated SVD of the row-major `rows × cols` matrix `a`; `rank` is clamped to `min(rows, cols)`.
pub fn truncated_svd(a: &[f32], rows: usize, cols: usize, rank: usize) -> Svd {
    assert_eq!(a.len(), rows * cols, "matrix data does not match {rows} x {cols}");
    if rows < cols {
        // Decompose Aᵀ = V Σ Uᵀ and swap the factors.
        let mut t = vec![0f32; a.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        let s = truncated_svd(&t, cols, rows, rank);
        return Svd { u: s.v, sigma: s.sigma, v: s.u, rows, cols, rank: s.rank };
    }
    // Column-major working copies: columns of A (length rows) and of V (length cols).
    let mut w: Vec<Vec<f64>> = (0..cols).map(|c| (0..rows).map(|r| a[r * cols + c] as f64).collect()).collect();
    let mut v: Vec<Vec<f64>> = (0..cols).map(|c| (0..cols).map(|r| if r == c { 1.0 } else { 0.0 }).collect()).collect();
    for _ in 0..MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..cols {
            for q in p + 1..cols {
                let (alpha, beta, gamma) = column_products(&w[p], &w[q]);
                if gamma.abs() <= TOLERANCE * (alpha * beta).sqrt() || gamma == 0.0 {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                rotate(&mut w, p, q, c, s);
                rotate(&mut v, p, q, c, s);
            }
        }
        if !rotated {
            break;
        }
    }
    let mut order: Vec<(f64, usize)> = w.iter().enumerate().map(|(i, col)| (norm(col), i)).collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    let rank = rank.min(cols);
    let (mut u_out, mut v_out, mut sigma) = (vec![0.0; rows * rank], vec![0.0; cols * rank], Vec::with_capacity(rank));
    for (k, &(s, i)) in order.iter().take(rank).enumerate() {
        sigma.push(s);
        for r in 0..rows {
            u_out[r * rank + k] = if s > 0.0 { w[i][r] / s } else { 0.0 };
        }
        for r in 0..cols {
            v_out[r * rank + k] = v[i][r];
        }
    }
    Svd { u: u_out, sigma, v: v_out, rows, cols, rank }
}

impl Svd {
    /// The two factors of `A ≈ L R` with the singular values split evenly:
    /// `L = U √Σ` (`[rows, rank]`) and `R = √Σ Vᵀ` (`[rank, cols]`), row-major f32.
    pub fn balanced_factors(&self) -> (Vec<f32>, Vec<f32>) {
        let root: Vec<f64> = self.sigma.iter().map(|s| s.sqrt()).collect();
        let left = (0..self.rows * self.rank).map(|i| (self.u[i] * root[i % self.rank]) as f32).collect();
        let mut right = vec![0f32; self.rank * self.cols];
        for c in 0..self.cols {
            for k in 0..self.rank {
                right[k * self.cols + c] = (self.v[c * self.rank + k] * root[k]) as f32;
            }
        }
        (left, right)
    }
}

fn column_products(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    a.iter().zip(b).fold((0.0, 0.0, 0.0), |(aa, bb, ab), (&x, &y)| (aa + x * x, bb + y * y, ab + x * y))
}

fn rotate(columns: &mut [Vec<f64>], p: usize, q: usize, c: f64, s: f64) {
    let (head, tail) = columns.split_at_mut(q);
    for (x, y) in head[p].iter_mut().zip(tail[0].iter_mut()) {
        let (xp, yq) = (*x, *y);
        *x = c * xp - s * yq;
        *y = s * xp + c * yq;
    }
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reconstruct(svd: &Svd) -> Vec<f32> {
        let (l, r) = svd.balanced_factors();
        let mut out = vec![0f32; svd.rows * svd.cols];
        for i in 0..svd.rows {
            for j in 0..svd.cols {
                out[i * svd.cols + j] = (0..svd.rank).map(|k| l[i * svd.rank + k] * r[k * svd.cols + j]).sum();
            }
        }
        out
    }

    #[test]
    fn full_rank_reconstructs_and_singular_values_are_known() {
        // diag(3, 2) rotated: singular values 3 and 2 whatever the rotations.
        let a = [0.0f32, 3.0, -2.0, 0.0, 0.0, 0.0];
        let svd = truncated_svd(&a, 3, 2, 2);
        assert!((svd.sigma[0] - 3.0).abs() < 1e-9 && (svd.sigma[1] - 2.0).abs() < 1e-9, "{:?}", svd.sigma);
        for (x, y) in reconstruct(&svd).iter().zip(&a) {
            assert!((x - y).abs() < 1e-6);
        }
        // A wide matrix goes through the transpose.
        let wide: Vec<f32> = (0..12).map(|i| ((i * 7 % 5) as f32) - 2.0).collect();
        let svd = truncated_svd(&wide, 3, 4, 3);
        for (x, y) in reconstruct(&svd).iter().zip(&wide) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    #[test]
    fn rank_one_truncation_keeps_the_largest_direction() {
        // Outer product 5·u vᵀ plus a small orthogonal part 0.1.
        let a = [5.0f32, 0.0, 0.0, 0.1];
        let svd = truncated_svd(&a, 2, 2, 1);
        assert_eq!(svd.rank, 1);
        let r = reconstruct(&svd);
        assert!((r[0] - 5.0).abs() < 1e-6 && r[3].abs() < 1e-6);
    }
}
