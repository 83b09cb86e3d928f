//! A small seeded k-means (k-means++ seeding, Lloyd iterations) over dense vectors.
//!
//! Written by hand rather than pulling in `linfa-clustering` (and its ndarray/linfa stack)
//! for the few thousand embeddings SemDeDup clusters here.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Cluster id of every point after at most `iterations` Lloyd steps; `k` is capped at n.
pub fn kmeans(points: &[Vec<f32>], k: usize, iterations: usize, seed: u64) -> Vec<usize> {
    let n = points.len();
    if n == 0 {
        return Vec::new();
    }
    let k = k.clamp(1, n);
    let dim = points[0].len();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut centers: Vec<Vec<f32>> = vec![points[rng.random_range(0..n)].clone()];
    let mut nearest: Vec<f32> = points.iter().map(|p| dist2(p, &centers[0])).collect();
    while centers.len() < k {
        let total: f64 = nearest.iter().map(|&d| d as f64).sum();
        let next = if total <= 0.0 {
            rng.random_range(0..n)
        } else {
            let mut target = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, &d) in nearest.iter().enumerate() {
                target -= d as f64;
                if target <= 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        };
        centers.push(points[next].clone());
        let c = centers.last().cloned().unwrap_or_default();
        for (d, p) in nearest.iter_mut().zip(points) {
            *d = d.min(dist2(p, &c));
        }
    }
    let mut assign = vec![0usize; n];
    for _ in 0..iterations.max(1) {
        let mut changed = false;
        for (a, p) in assign.iter_mut().zip(points) {
            let best = (0..k).min_by(|&i, &j| dist2(p, &centers[i]).total_cmp(&dist2(p, &centers[j]))).unwrap_or(0);
            changed |= *a != best;
            *a = best;
        }
        let mut sums = vec![vec![0f32; dim]; k];
        let mut counts = vec![0usize; k];
        for (&a, p) in assign.iter().zip(points) {
            counts[a] += 1;
            for (s, v) in sums[a].iter_mut().zip(p) {
                *s += v;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                centers[c] = sums[c].iter().map(|s| s / counts[c] as f32).collect();
            }
        }
        if !changed {
            break;
        }
    }
    assign
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_two_blobs() {
        let pts: Vec<Vec<f32>> = (0..40).map(|i| vec![if i < 20 { 0.0 } else { 10.0 } + (i % 5) as f32 * 0.01]).collect();
        let a = kmeans(&pts, 2, 10, 3);
        assert!(a[..20].iter().all(|&c| c == a[0]));
        assert!(a[20..].iter().all(|&c| c == a[20]));
        assert_ne!(a[0], a[20]);
    }
}
