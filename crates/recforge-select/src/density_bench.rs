//! The Density sketch at scale (`recforge select bench`): synthetic clustered unit vectors are
//! generated chunk by chunk from a seed (never all in memory) into one flat `[chunk][dim]`
//! buffer, hashed in pass 1 and scored in pass 2; the result holds the time of each pass and the
//! process's peak resident memory. Each point has its own small RNG (xoshiro256++) seeded from
//! its index, so both passes regenerate identical points in parallel; the noise around each
//! cluster centre is approximately Gaussian ([`irwin_hall_normal`]).

use std::time::Instant;

use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use recforge_data::{Phase, Progress, Unit};
use serde::Serialize;

use crate::density::{LshConfig, LshSketch};
use crate::error::Result;

/// Points generated (and hashed) per chunk.
const CHUNK: usize = 16_384;

/// The synthetic workload.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BenchConfig {
    pub points: usize,
    pub dim: usize,
    /// Gaussian clusters the points are drawn around.
    pub clusters: usize,
    pub seed: u64,
}

/// What the two passes measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub config: BenchConfig,
    pub lsh: LshConfig,
    pub threads: usize,
    pub pass1_s: f64,
    pub pass2_s: f64,
    /// Time spent in the sketch (both passes), data generation excluded.
    pub lsh_s: f64,
    pub generate_s: f64,
    pub density_mean: f64,
    pub density_min: f32,
    pub density_max: f32,
    pub sketch_bytes: usize,
    pub peak_rss_bytes: Option<u64>,
}

impl BenchReport {
    /// Points hashed per second of sketch time, per pass.
    pub fn points_per_s(&self) -> f64 {
        2.0 * self.config.points as f64 / self.lsh_s.max(1e-9)
    }
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    normalise(&mut v);
    v
}

/// An approximately standard normal sample from one random `u64`: the sum of its four 16-bit
/// quarters as uniforms (Irwin–Hall, n = 4), centred and scaled to unit variance, bounded by
/// ±2√3; a few times cheaper than a ziggurat sample, which made data generation as slow as the
/// sketch itself.
fn irwin_hall_normal(bits: u64) -> f32 {
    const QUARTER: u64 = 0xFFFF;
    let sum = (bits & QUARTER) + ((bits >> 16) & QUARTER) + ((bits >> 32) & QUARTER) + (bits >> 48);
    // Each quarter is uniform on [0, 1) after / 2¹⁶; the sum has mean 2 and variance 4/12.
    (sum as f32 / 65_536.0 - 2.0) * 3f32.sqrt()
}

/// Chunk `c` of the synthetic data into `out` (flat `[points][dim]`), identical in both passes.
fn chunk(config: &BenchConfig, centres: &[Vec<f32>], c: usize, out: &mut Vec<f32>) {
    let start = c * CHUNK;
    let end = (start + CHUNK).min(config.points);
    let spread = 0.5 / (config.dim as f32).sqrt();
    out.resize((end - start) * config.dim, 0.0);
    out.par_chunks_mut(config.dim).enumerate().for_each(|(j, p)| {
        let i = start + j;
        let mut rng = SmallRng::seed_from_u64(config.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let centre = &centres[rng.random_range(0..centres.len())];
        for (x, m) in p.iter_mut().zip(centre) {
            *x = m + spread * irwin_hall_normal(rng.next_u64());
        }
        normalise(p);
    });
}

/// Runs both passes of the sketch `lsh` over the workload `config`.
pub fn run_bench(config: &BenchConfig, lsh: &LshConfig, progress: &dyn Progress) -> Result<BenchReport> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let centres: Vec<Vec<f32>> = (0..config.clusters.max(1)).map(|_| unit((0..config.dim).map(|_| rng.sample(StandardNormal)).collect())).collect();
    let mut sketch = LshSketch::new(lsh, config.dim)?;
    let chunks = config.points.div_ceil(CHUNK);
    let phase = Phase::begin(progress, "density bench", Some(2 * config.points as u64), Unit::Items);
    let (mut generate_s, mut lsh_s) = (0.0, 0.0);
    let mut points = Vec::new();
    let started = Instant::now();
    for c in 0..chunks {
        let t = Instant::now();
        chunk(config, &centres, c, &mut points);
        generate_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        sketch.add_flat(&points);
        lsh_s += t.elapsed().as_secs_f64();
        phase.update(((c + 1) * CHUNK).min(config.points) as u64, "pass 1");
    }
    let pass1_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (mut sum, mut min, mut max) = (0f64, f32::MAX, f32::MIN);
    for c in 0..chunks {
        let t = Instant::now();
        chunk(config, &centres, c, &mut points);
        generate_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for d in sketch.density_flat(&points) {
            sum += d as f64;
            min = min.min(d);
            max = max.max(d);
        }
        lsh_s += t.elapsed().as_secs_f64();
        phase.update((config.points + ((c + 1) * CHUNK).min(config.points)) as u64, "pass 2");
    }
    drop(phase);
    Ok(BenchReport {
        config: *config,
        lsh: lsh.clone(),
        threads: rayon::current_num_threads(),
        pass1_s,
        pass2_s: started.elapsed().as_secs_f64(),
        lsh_s,
        generate_s,
        density_mean: sum / config.points.max(1) as f64,
        density_min: min,
        density_max: max,
        sketch_bytes: sketch.memory_bytes(),
        peak_rss_bytes: recforge_data::memory::peak_rss_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irwin_hall_noise_has_unit_variance_and_zero_mean() {
        let mut rng = SmallRng::seed_from_u64(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| f64::from(irwin_hall_normal(rng.next_u64()))).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        assert_eq!(irwin_hall_normal(0), -2.0 * 3f32.sqrt());
    }

    #[test]
    fn both_passes_see_the_same_points() {
        let config = BenchConfig { points: 3000, dim: 8, clusters: 3, seed: 5 };
        let centres = vec![unit(vec![1.0; 8]), unit(vec![-1.0; 8]), unit((0..8).map(|i| i as f32).collect())];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        chunk(&config, &centres, 0, &mut a);
        chunk(&config, &centres, 0, &mut b);
        assert_eq!(a, b);
        assert_eq!(a.len(), 3000 * 8);
        assert!(a.chunks(8).all(|p| (p.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5));
    }
}
