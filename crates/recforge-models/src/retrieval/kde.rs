//! Gaussian kernel density estimate with Scott's-rule bandwidth, as scipy's `gaussian_kde`
//! computes it: kernel covariance = sample covariance (ddof = 1) × n^(−2/(d+4)); the density
//! at x is the mean over samples of N(x; x_i, kernel covariance). Hand-written because no
//! well-kept Rust crate offers a multivariate KDE with this bandwidth; it whitens with the
//! Cholesky factor once and evaluates points in parallel (rayon).

use rayon::prelude::*;

/// Why a KDE could not be fitted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KdeError {
    #[error("a KDE needs at least 2 samples, got {0}")]
    TooFewSamples(usize),
    #[error("samples have {len} values, not a multiple of the dimension {dim}")]
    Shape { len: usize, dim: usize },
    #[error("the samples' covariance is singular (all samples on a lower-dimensional set)")]
    Singular,
}

/// A fitted Gaussian KDE.
#[derive(Debug, Clone)]
pub struct GaussianKde {
    dim: usize,
    /// Samples whitened by the kernel covariance's Cholesky factor, row-major `[n, dim]`.
    whitened: Vec<f64>,
    /// Lower-triangular Cholesky factor of the kernel covariance, row-major `[dim, dim]`.
    cholesky: Vec<f64>,
    /// 1 / (n · (2π)^{d/2} · det(L)).
    norm: f64,
}

/// Scott's factor n^(−1/(d+4)).
pub fn scott_factor(n: usize, dim: usize) -> f64 {
    (n as f64).powf(-1.0 / (dim as f64 + 4.0))
}

impl GaussianKde {
    /// Fits on `samples`, row-major `[n, dim]`.
    pub fn fit(samples: &[f64], dim: usize) -> Result<Self, KdeError> {
        if dim == 0 || samples.len() % dim != 0 {
            return Err(KdeError::Shape { len: samples.len(), dim });
        }
        let n = samples.len() / dim;
        if n < 2 {
            return Err(KdeError::TooFewSamples(n));
        }
        let mut mean = vec![0f64; dim];
        for row in samples.chunks_exact(dim) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x / n as f64;
            }
        }
        let mut cov = vec![0f64; dim * dim];
        for row in samples.chunks_exact(dim) {
            for a in 0..dim {
                for b in 0..=a {
                    cov[a * dim + b] += (row[a] - mean[a]) * (row[b] - mean[b]);
                }
            }
        }
        let factor = scott_factor(n, dim);
        for a in 0..dim {
            for b in 0..=a {
                let v = cov[a * dim + b] / (n - 1) as f64 * factor * factor;
                cov[a * dim + b] = v;
                cov[b * dim + a] = v;
            }
        }
        let cholesky = cholesky(&cov, dim).ok_or(KdeError::Singular)?;
        let det: f64 = (0..dim).map(|i| cholesky[i * dim + i]).product();
        let whitened: Vec<f64> = samples.chunks_exact(dim).flat_map(|row| solve_lower(&cholesky, row, dim)).collect();
        let norm = 1.0 / (n as f64 * (2.0 * std::f64::consts::PI).powf(dim as f64 / 2.0) * det);
        Ok(GaussianKde { dim, whitened, cholesky, norm })
    }

    /// Density at each point of `points`, row-major `[m, dim]`.
    pub fn evaluate(&self, points: &[f64]) -> Vec<f64> {
        let dim = self.dim;
        points
            .par_chunks_exact(dim)
            .map(|point| {
                let z = solve_lower(&self.cholesky, point, dim);
                let sum: f64 = self
                    .whitened
                    .chunks_exact(dim)
                    .map(|s| {
                        let d2: f64 = s.iter().zip(&z).map(|(a, b)| (a - b) * (a - b)).sum();
                        (-0.5 * d2).exp()
                    })
                    .sum();
                sum * self.norm
            })
            .collect()
    }
}

/// Lower Cholesky factor of a symmetric positive-definite `[dim, dim]` matrix.
fn cholesky(a: &[f64], dim: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * dim + k] * l[j * dim + k]).sum();
            if i == j {
                let d = a[i * dim + i] - s;
                if !(d > 1e-300) || !d.is_finite() {
                    return None;
                }
                l[i * dim + i] = d.sqrt();
            } else {
                l[i * dim + j] = (a[i * dim + j] - s) / l[j * dim + j];
            }
        }
    }
    Some(l)
}

/// Solves L z = x by forward substitution.
fn solve_lower(l: &[f64], x: &[f64], dim: usize) -> Vec<f64> {
    let mut z = vec![0f64; dim];
    for i in 0..dim {
        let s: f64 = (0..i).map(|k| l[i * dim + k] * z[k]).sum();
        z[i] = (x[i] - s) / l[i * dim + i];
    }
    z
}
