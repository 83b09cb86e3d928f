//! k-means with k-means++ seeding (Arthur & Vassilvitskii 2007) over user embeddings: the
//! clusters whose rows the Diag-LinUCB statistics are kept per. Written by hand: a few dozen
//! lines, deterministic per seed, and it avoids pulling linfa's ndarray stack into the crate.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::mf::dot;

fn distance2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index of the nearest centroid and its squared distance.
pub fn nearest(point: &[f32], centroids: &[Vec<f32>]) -> (usize, f32) {
    centroids.iter().enumerate().map(|(c, m)| (c, distance2(point, m))).min_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, f32::INFINITY))
}

/// k-means++ seeding: the first centre uniformly, each next one with probability
/// proportional to the squared distance to the nearest centre chosen so far.
pub fn kmeans_plus_plus(points: &[Vec<f32>], k: usize, rng: &mut SmallRng) -> Vec<Vec<f32>> {
    let mut centroids: Vec<Vec<f32>> = Vec::with_capacity(k);
    if points.is_empty() {
        return centroids;
    }
    centroids.push(points[rng.random_range(0..points.len())].clone());
    let mut d2: Vec<f32> = points.iter().map(|p| distance2(p, &centroids[0])).collect();
    while centroids.len() < k.min(points.len()) {
        let total: f64 = d2.iter().map(|&d| f64::from(d)).sum();
        let next = if total <= 0.0 {
            rng.random_range(0..points.len())
        } else {
            let mut target = rng.random::<f64>() * total;
            d2.iter().position(|&d| {
                target -= f64::from(d);
                target <= 0.0
            }).unwrap_or(points.len() - 1)
        };
        let centre = points[next].clone();
        for (d, p) in d2.iter_mut().zip(points) {
            *d = d.min(distance2(p, &centre));
        }
        centroids.push(centre);
    }
    centroids
}

/// Lloyd iterations from k-means++ seeds until assignments stop changing or `max_iter`.
/// Returns the centroids and each point's cluster.
pub fn kmeans(points: &[Vec<f32>], k: usize, max_iter: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut centroids = kmeans_plus_plus(points, k, &mut rng);
    let mut assignment = vec![usize::MAX; points.len()];
    let dim = points.first().map_or(0, Vec::len);
    for _ in 0..max_iter {
        let mut changed = false;
        for (a, p) in assignment.iter_mut().zip(points) {
            let (c, _) = nearest(p, &centroids);
            changed |= *a != c;
            *a = c;
        }
        if !changed {
            break;
        }
        let mut sums = vec![vec![0.0f32; dim]; centroids.len()];
        let mut counts = vec![0usize; centroids.len()];
        for (&a, p) in assignment.iter().zip(points) {
            counts[a] += 1;
            for (s, x) in sums[a].iter_mut().zip(p) {
                *s += x;
            }
        }
        for ((centre, sum), &n) in centroids.iter_mut().zip(sums).zip(&counts) {
            // An emptied cluster keeps its previous centre.
            if n > 0 {
                *centre = sum.into_iter().map(|s| s / n as f32).collect();
            }
        }
    }
    (centroids, assignment)
}

/// Inner-product similarity of `point` to every centroid.
pub fn similarities(point: &[f32], centroids: &[Vec<f32>]) -> Vec<f32> {
    centroids.iter().map(|c| dot(point, c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_three_separated_blobs() {
        let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let mut rng = SmallRng::seed_from_u64(3);
        let points: Vec<Vec<f32>> = (0..300).map(|i| {
            let c = centres[i % 3];
            vec![c[0] + rng.random::<f32>() - 0.5, c[1] + rng.random::<f32>() - 0.5]
        }).collect();
        let (centroids, assignment) = kmeans(&points, 3, 50, 1);
        for i in 0..3 {
            // Every point of a blob lands in the same cluster, and that centre is the blob's.
            let c = assignment[i];
            assert!((0..300).filter(|j| j % 3 == i).all(|j| assignment[j] == c));
            assert!(distance2(&centroids[c], &centres[i]) < 0.1);
        }
    }
}
