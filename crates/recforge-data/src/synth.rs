//! A synthetic CTR log with a planted signal, for tests and benchmarks: zipfian users and
//! items, a category per item, 1-4 tags per row, a price and a per-user age, and
//! `click ~ Bernoulli(sigmoid(user bias + item bias + tag effects + 0.8·zscore(price) − 1))`,
//! so a model that learns anything beats AUC 0.5 clearly. Rows are written as they are
//! drawn (constant memory apart from the zipf tables); per-id effects come from a hash of
//! (seed, id), so no table of biases is kept either.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{DataError, Result};

/// Rows per user and per item on average.
const ROWS_PER_USER: u64 = 20;
const ROWS_PER_ITEM: u64 = 50;
const CATEGORIES: u64 = 20;
const TAGS: u64 = 30;
const MAX_TAGS_PER_ROW: u64 = 4;
/// Zipf exponent of user and item popularity.
const ZIPF_EXPONENT: f64 = 1.05;
/// Standard deviations of the planted effects.
const USER_BIAS_STD: f64 = 0.6;
const ITEM_BIAS_STD: f64 = 0.6;
const TAG_EFFECT_STD: f64 = 0.5;
const PRICE_WEIGHT: f64 = 0.8;
const INTERCEPT: f64 = -1.0;
/// Price ~ LogNormal(mu, sigma).
const PRICE_LOG_MEAN: f64 = 3.0;
const PRICE_LOG_STD: f64 = 0.5;
const FIRST_TIMESTAMP: i64 = 1_600_000_000;
const SECONDS_PER_ROW: i64 = 10;
const MIN_AGE: u64 = 18;
const MAX_AGE: u64 = 70;

/// Salts that make the per-id hash streams independent.
const SALT_USER: u64 = 1;
const SALT_ITEM: u64 = 2;
const SALT_TAG: u64 = 3;
const SALT_CATEGORY: u64 = 4;
const SALT_AGE: u64 = 5;

/// Writes `synthetic.csv` with `rows` rows and a `schema.toml` declaring it into `dir`;
/// returns the schema path. The same `rows` and `seed` give byte-identical files.
pub fn write_synthetic_ctr(dir: &Path, rows: u64, seed: u64) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let csv_path = dir.join("synthetic.csv");
    let file = File::create(&csv_path).map_err(|e| DataError::io(&csv_path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write_rows(&mut out, rows, seed).map_err(|e| DataError::io(&csv_path, e))?;
    out.flush().map_err(|e| DataError::io(&csv_path, e))?;

    let schema_path = dir.join("schema.toml");
    std::fs::write(&schema_path, schema_text(rows, seed))
        .map_err(|e| DataError::io(&schema_path, e))?;
    Ok(schema_path)
}

fn write_rows(out: &mut impl Write, rows: u64, seed: u64) -> std::io::Result<()> {
    let users = Zipf::new((rows / ROWS_PER_USER).max(1) as usize, ZIPF_EXPONENT);
    let items = Zipf::new((rows / ROWS_PER_ITEM).max(1) as usize, ZIPF_EXPONENT);
    let mut rng = StdRng::seed_from_u64(seed);
    let price_mean = (PRICE_LOG_MEAN + PRICE_LOG_STD * PRICE_LOG_STD / 2.0).exp();
    let price_std = ((PRICE_LOG_STD * PRICE_LOG_STD).exp_m1()
        * (2.0 * PRICE_LOG_MEAN + PRICE_LOG_STD * PRICE_LOG_STD).exp())
    .sqrt();
    writeln!(
        out,
        "example_id,timestamp,user_id,item_id,category,tags,price,age,click"
    )?;
    let mut tags = Vec::with_capacity(MAX_TAGS_PER_ROW as usize);
    for i in 0..rows {
        let user = users.sample(&mut rng) as u64;
        let item = items.sample(&mut rng) as u64;
        let category = hash(seed, SALT_CATEGORY, item) % CATEGORIES;
        let age = MIN_AGE + hash(seed, SALT_AGE, user) % (MAX_AGE - MIN_AGE + 1);
        let n_tags = rng.random_range(1..=MAX_TAGS_PER_ROW);
        tags.clear();
        while (tags.len() as u64) < n_tags {
            let t = rng.random_range(0..TAGS);
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let price = (PRICE_LOG_MEAN + PRICE_LOG_STD * standard_normal(&mut rng)).exp();
        let logit = USER_BIAS_STD * normal_from_hash(seed, SALT_USER, user)
            + ITEM_BIAS_STD * normal_from_hash(seed, SALT_ITEM, item)
            + tags
                .iter()
                .map(|&t| TAG_EFFECT_STD * normal_from_hash(seed, SALT_TAG, t))
                .sum::<f64>()
            + PRICE_WEIGHT * (price - price_mean) / price_std
            + INTERCEPT;
        let click = u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp()));
        let timestamp =
            FIRST_TIMESTAMP + i as i64 * SECONDS_PER_ROW + rng.random_range(0..SECONDS_PER_ROW);
        write!(out, "{i},{timestamp},u{user},i{item},c{category},")?;
        for (k, t) in tags.iter().enumerate() {
            if k > 0 {
                out.write_all(b"|")?;
            }
            write!(out, "t{t}")?;
        }
        writeln!(out, ",{price:.2},{age},{click}")?;
    }
    Ok(())
}

fn schema_text(rows: u64, seed: u64) -> String {
    format!(
        r#"# Synthetic CTR log written by recforge-data's write_synthetic_ctr (rows = {rows}, seed = {seed}).
# click ~ Bernoulli(sigmoid(user bias + item bias + tag effects + 0.8 * zscore(price) - 1)).
name = "synthetic"
example_id = "example_id"
timestamp = "timestamp"
user = "user_id"
item = "item_id"

[source]
path = "synthetic.csv"
format = "csv"

[label]
column = "click"

[[features]]
name = "user_id"
kind = "categorical"
side = "user"

[[features]]
name = "item_id"
kind = "categorical"
side = "item"

[[features]]
name = "category"
kind = "categorical"
side = "item"

[[features]]
name = "tags"
kind = "multi_categorical"
separator = "|"
max_len = {MAX_TAGS_PER_ROW}
side = "context"

[[features]]
name = "price"
kind = "numeric"
side = "context"

[[features]]
name = "age"
kind = "numeric"
side = "user"

[split]
method = "random"
valid = 0.1
test = 0.1
seed = {seed}
"#
    )
}

/// Zipf(n, s) over 0..n by inverse CDF (a table of n cumulative weights).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, exponent: f64) -> Self {
        let mut total = 0.0;
        let cdf = (1..=n)
            .map(|k| {
                total += (k as f64).powf(-exponent);
                total
            })
            .collect();
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let total = self.cdf.last().copied().unwrap_or(0.0);
        let u = rng.random::<f64>() * total;
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// splitmix64 of (seed, salt, id): a fixed pseudo-random 64-bit value per id.
fn hash(seed: u64, salt: u64, id: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(salt.wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(id);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform in (0, 1) from the top 53 bits of a hash.
fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal fixed per (seed, salt, id), by Box–Muller on two hashes.
fn normal_from_hash(seed: u64, salt: u64, id: u64) -> f64 {
    let u1 = unit(hash(seed, salt, id));
    let u2 = unit(hash(seed, salt, id ^ 0x5555_5555_5555_5555));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
