//! `recforge select bench`: the Density sketch at scale. Synthetic clustered unit vectors are
//! generated chunk by chunk from a seed (never all in memory), hashed in pass 1 and scored in
//! pass 2; prints the time of each pass and the process's peak resident memory.

use std::time::Instant;

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use recforge_select::density::{LshConfig, LshSketch};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub points: usize,
    #[arg(long, default_value_t = 384)]
    pub dim: usize,
    /// Gaussian clusters the synthetic points are drawn around.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    #[arg(long, default_value_t = 64)]
    pub rows: usize,
    #[arg(long, default_value_t = 4)]
    pub hashes: usize,
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Points generated (and hashed) per chunk.
const CHUNK: usize = 16_384;

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Chunk `c` of the synthetic data, identical in both passes.
fn chunk(args: &BenchArgs, centres: &[Vec<f32>], c: usize) -> Vec<Vec<f32>> {
    let start = c * CHUNK;
    let end = (start + CHUNK).min(args.points);
    (start..end)
        .into_par_iter()
        .map(|i| {
            let mut rng = StdRng::seed_from_u64(args.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let centre = &centres[rng.random_range(0..centres.len())];
            unit(centre.iter().map(|m| m + 0.5 * rng.sample::<f32, _>(StandardNormal) / (args.dim as f32).sqrt()).collect())
        })
        .collect()
}

/// Peak resident memory of this process (VmHWM), in MiB, where /proc is available.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn run(args: BenchArgs) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let centres: Vec<Vec<f32>> = (0..args.clusters.max(1)).map(|_| unit((0..args.dim).map(|_| rng.sample(StandardNormal)).collect())).collect();
    let config = LshConfig { rows: args.rows, hashes_per_row: args.hashes, width: args.width, seed: args.seed, ..LshConfig::default() };
    let mut sketch = LshSketch::new(&config, args.dim)?;
    let chunks = args.points.div_ceil(CHUNK);
    let bar = indicatif::ProgressBar::new(2 * chunks as u64);
    let (mut generate_s, mut hash_s) = (0.0, 0.0);
    let started = Instant::now();
    for c in 0..chunks {
        let t = Instant::now();
        let points = chunk(&args, &centres, c);
        generate_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        sketch.add_batch(&points);
        hash_s += t.elapsed().as_secs_f64();
        bar.inc(1);
    }
    let pass1 = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (mut sum, mut min, mut max) = (0f64, f32::MAX, f32::MIN);
    for c in 0..chunks {
        let t = Instant::now();
        let points = chunk(&args, &centres, c);
        generate_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for d in sketch.density_batch(&points) {
            sum += d as f64;
            min = min.min(d);
            max = max.max(d);
        }
        hash_s += t.elapsed().as_secs_f64();
        bar.inc(1);
    }
    bar.finish_and_clear();
    let pass2 = started.elapsed().as_secs_f64();
    println!(
        "density bench: {} points × {} dims, R={} rows × K={} hashes, B={} buckets, {} threads",
        args.points, args.dim, config.rows, config.hashes_per_row, config.buckets, rayon::current_num_threads()
    );
    println!("pass 1 (hash + count): {pass1:.1}s; pass 2 (score): {pass2:.1}s; of which LSH {hash_s:.1}s ({:.0} points/s per pass), data generation {generate_s:.1}s", 2.0 * args.points as f64 / hash_s.max(1e-9));
    println!("density: mean {:.1}, min {min:.1}, max {max:.1}; sketch + projections {:.1} MiB; peak RSS {}", sum / args.points as f64, sketch.memory_bytes() as f64 / 1048576.0, peak_rss_mib().map_or("n/a".into(), |m| format!("{m:.0} MiB")));
    Ok(())
}
