//! The LSH count-sketch density against the exact kernel density it estimates, and
//! inverse-propensity selection keeping rare clusters (synthetic data).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use recforge_select::density::{LshConfig, density_scores, exact_kde};
use recforge_select::selection::{Selection, select};
use recforge_select::stats::spearman;

/// Rank correlation the sketch must reach against the exact KDE on the data below.
const SPEARMAN_FLOOR: f64 = 0.9;

/// Unit vectors around `sizes.len()` random centres; cluster `c` has `sizes[c]` points.
fn clusters(sizes: &[usize], dim: usize, spread: f32, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for (c, &n) in sizes.iter().enumerate() {
        let centre: Vec<f32> = (0..dim).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
        for _ in 0..n {
            let mut p: Vec<f32> = centre.iter().map(|v| v + spread * rng.sample::<f32, _>(StandardNormal)).collect();
            let norm = p.iter().map(|v| v * v).sum::<f32>().sqrt();
            p.iter_mut().for_each(|v| *v /= norm);
            points.push(p);
            labels.push(c);
        }
    }
    (points, labels)
}

#[test]
fn lsh_density_ranks_like_the_exact_kde() {
    let (points, _) = clusters(&[300, 120, 60, 20, 5], 32, 0.25, 1);
    let config = LshConfig { rows: 200, hashes_per_row: 3, width: 1.0, buckets: 1 << 14, seed: 2 };
    let sketch: Vec<f64> = density_scores(&config, &points).unwrap().into_iter().map(f64::from).collect();
    let exact = exact_kde(&config, &points).unwrap();
    let rho = spearman(&sketch, &exact);
    assert!(rho > SPEARMAN_FLOOR, "Spearman {rho:.3} <= {SPEARMAN_FLOOR}");
    // The sketch is an unbiased estimate (up to bucket collisions): means agree within 10%.
    let (ms, me) = (sketch.iter().sum::<f64>() / sketch.len() as f64, exact.iter().sum::<f64>() / exact.len() as f64);
    assert!((ms / me - 1.0).abs() < 0.1, "sketch mean {ms:.2} vs exact {me:.2}");
}

#[test]
fn inverse_propensity_keeps_rare_clusters() {
    // One dominant cluster and nine rare ones of 10 points each.
    let mut sizes = vec![910];
    sizes.extend([10; 9]);
    let (points, labels) = clusters(&sizes, 16, 0.1, 5);
    let scores = density_scores(&LshConfig { rows: 64, hashes_per_row: 3, width: 1.0, buckets: 1 << 14, seed: 3 }, &points).unwrap();
    let k = 100;
    let rare_share = |kept: &[usize]| kept.iter().filter(|&&i| labels[i] != 0).count() as f64 / kept.len() as f64;
    let covered = |kept: &[usize]| {
        let mut seen = vec![false; sizes.len()];
        kept.iter().for_each(|&i| seen[labels[i]] = true);
        seen.iter().filter(|&&s| s).count()
    };
    let ipw = select(&scores, Selection::InversePropensity, k, 11).unwrap();
    let uniform: Vec<f32> = vec![1.0; scores.len()];
    let random = select(&uniform, Selection::InversePropensity, k, 11).unwrap();
    let top = select(&scores, Selection::TopK, k, 11).unwrap();
    assert_eq!(ipw.len(), k);
    assert_eq!(covered(&ipw), sizes.len(), "inverse propensity must keep every cluster");
    // Rare clusters are 9% of the data; density sampling keeps far more of them than random.
    assert!(rare_share(&ipw) > 0.5, "rare share {}", rare_share(&ipw));
    assert!(rare_share(&random) < 0.25, "random rare share {}", rare_share(&random));
    // Top-k by density keeps only the dense cluster: the coverage loss the paper warns about.
    assert_eq!(covered(&top), 1);
}
