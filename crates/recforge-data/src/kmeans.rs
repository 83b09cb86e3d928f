//! k-means with k-means++ seeding (Arthur & Vassilvitskii 2007) and Lloyd iterations over
//! dense `f32` vectors: the one clustering both Online Matching (user clusters) and SemDeDup
//! (embedding clusters) use.
//!
//! Written by hand rather than with `linfa-clustering`: a few dozen lines, deterministic per
//! seed and per random-number generator, and it keeps linfa's ndarray stack out of the
//! lowest crate. The caller chooses the generator, so each user keeps its published numbers.

use rand::Rng;

/// Squared Euclidean distance.
pub fn distance2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index of the nearest centroid and its squared distance (ties: the lower index).
pub fn nearest(point: &[f32], centroids: &[Vec<f32>]) -> (usize, f32) {
    centroids.iter().enumerate().map(|(c, m)| (c, distance2(point, m))).min_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, f32::INFINITY))
}

/// k-means++ seeding: the first centre uniformly, each next one with probability
/// proportional to the squared distance to the nearest centre chosen so far. At most
/// `min(k, n)` centres.
pub fn kmeans_plus_plus<R: Rng + ?Sized>(points: &[Vec<f32>], k: usize, rng: &mut R) -> Vec<Vec<f32>> {
    let mut centroids: Vec<Vec<f32>> = Vec::with_capacity(k);
    if points.is_empty() || k == 0 {
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
            d2.iter()
                .position(|&d| {
                    target -= f64::from(d);
                    target <= 0.0
                })
                .unwrap_or(points.len() - 1)
        };
        let centre = points[next].clone();
        for (d, p) in d2.iter_mut().zip(points) {
            *d = d.min(distance2(p, &centre));
        }
        centroids.push(centre);
    }
    centroids
}

/// Centroids and each point's cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    pub centroids: Vec<Vec<f32>>,
    /// Cluster of each point, in point order (`usize::MAX` only when no iteration ran).
    pub assignment: Vec<usize>,
}

/// Lloyd iterations from k-means++ seeds drawn from `rng`, until the assignments stop
/// changing or after `max_iter` iterations. An emptied cluster keeps its previous centre.
pub fn kmeans<R: Rng + ?Sized>(points: &[Vec<f32>], k: usize, max_iter: usize, rng: &mut R) -> Clustering {
    let mut centroids = kmeans_plus_plus(points, k, rng);
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
            if n > 0 {
                *centre = sum.into_iter().map(|s| s / n as f32).collect();
            }
        }
    }
    Clustering { centroids, assignment }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::{SmallRng, StdRng};

    use super::*;

    #[test]
    fn recovers_three_separated_blobs() {
        let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let mut rng = SmallRng::seed_from_u64(3);
        let points: Vec<Vec<f32>> = (0..300)
            .map(|i| {
                let c = centres[i % 3];
                vec![c[0] + rng.random::<f32>() - 0.5, c[1] + rng.random::<f32>() - 0.5]
            })
            .collect();
        let Clustering { centroids, assignment } = kmeans(&points, 3, 50, &mut SmallRng::seed_from_u64(1));
        for i in 0..3 {
            // Every point of a blob lands in the same cluster, and that centre is the blob's.
            let c = assignment[i];
            assert!((0..300).filter(|j| j % 3 == i).all(|j| assignment[j] == c));
            assert!(distance2(&centroids[c], &centres[i]) < 0.1);
        }
    }

    #[test]
    fn separates_two_blobs() {
        let pts: Vec<Vec<f32>> = (0..40).map(|i| vec![if i < 20 { 0.0 } else { 10.0 } + (i % 5) as f32 * 0.01]).collect();
        let a = kmeans(&pts, 2, 10, &mut StdRng::seed_from_u64(3)).assignment;
        assert!(a[..20].iter().all(|&c| c == a[0]));
        assert!(a[20..].iter().all(|&c| c == a[20]));
        assert_ne!(a[0], a[20]);
    }

    #[test]
    fn the_same_seed_gives_the_same_clusters() {
        let mut rng = StdRng::seed_from_u64(9);
        let pts: Vec<Vec<f32>> = (0..200).map(|_| vec![rng.random::<f32>(), rng.random::<f32>()]).collect();
        let run = |seed| kmeans(&pts, 7, 20, &mut StdRng::seed_from_u64(seed));
        assert_eq!(run(4), run(4));
        assert_ne!(run(4).centroids, run(5).centroids);
    }

    #[test]
    fn k_is_capped_at_the_number_of_points_and_empty_input_is_empty() {
        let pts = vec![vec![1.0f32], vec![2.0]];
        assert_eq!(kmeans(&pts, 5, 10, &mut StdRng::seed_from_u64(0)).centroids.len(), 2);
        assert!(kmeans(&[], 3, 10, &mut StdRng::seed_from_u64(0)).assignment.is_empty());
    }
}
