//! `recforge select bench`: the Density sketch at scale (recforge-select's `density_bench`).

use anyhow::Result;
use recforge_select::density::LshConfig;
use recforge_select::density_bench::{BenchConfig, run_bench};

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
    /// Print the result as JSON (and nothing else) on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let config = BenchConfig { points: args.points, dim: args.dim, clusters: args.clusters, seed: args.seed };
    let lsh = LshConfig { rows: args.rows, hashes_per_row: args.hashes, width: args.width, seed: args.seed, ..LshConfig::default() };
    let r = run_bench(&config, &lsh, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("density bench: {} points × {} dims, R={} rows × K={} hashes, B={} buckets, {} threads", args.points, args.dim, lsh.rows, lsh.hashes_per_row, lsh.buckets, r.threads);
    println!("pass 1 (hash + count): {:.1}s; pass 2 (score): {:.1}s; of which LSH {:.1}s ({:.0} points/s per pass), data generation {:.1}s", r.pass1_s, r.pass2_s, r.lsh_s, r.points_per_s(), r.generate_s);
    let rss = r.peak_rss_bytes.map_or("n/a".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0));
    println!("density: mean {:.1}, min {:.1}, max {:.1}; sketch + projections {:.1} MiB; peak RSS {rss}", r.density_mean, r.density_min, r.density_max, r.sketch_bytes as f64 / 1048576.0);
    Ok(())
}
