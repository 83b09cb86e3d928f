//! A fixed-size latency histogram for the labeler's lag percentiles: exact below 128 ms,
//! then 64 log-spaced buckets per power of two (relative error under 1.6 %), 3,776 counters
//! in all whatever the number of events — the labeler runs for weeks.

/// Values below this are counted exactly.
const EXACT: u64 = 128;
/// Sub-buckets per power of two (6 mantissa bits).
const SUB: u64 = 64;
const BUCKETS: usize = (EXACT + (64 - 7) * SUB) as usize;

/// Counts of values by bucket, plus the exact maximum.
#[derive(Debug, Clone)]
pub struct LagSketch {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for LagSketch {
    fn default() -> Self {
        LagSketch { counts: vec![0; BUCKETS], total: 0, max: 0 }
    }
}

fn bucket(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let e = 63 - u64::from(v.leading_zeros()); // >= 7
    let mantissa = (v >> (e - 6)) & (SUB - 1);
    (EXACT + (e - 7) * SUB + mantissa) as usize
}

/// The smallest value of bucket `i`.
fn lower(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let (e, mantissa) = ((i - EXACT) / SUB + 7, (i - EXACT) % SUB);
    (1 << e) | (mantissa << (e - 6))
}

impl LagSketch {
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The `q`-quantile (0..=1): the lower edge of the bucket holding it (exact below 128),
    /// never above the maximum; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((self.total - 1) as f64 * q.clamp(0.0, 1.0)).round() as u64;
        if rank + 1 >= self.total {
            return self.max;
        }
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                return lower(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_exact_below_128_and_within_two_percent_above() {
        let mut s = LagSketch::default();
        for v in 0..100 {
            s.record(v);
        }
        assert_eq!((s.quantile(0.5), s.quantile(0.99), s.max()), (50, 98, 99));
        let mut big = LagSketch::default();
        let values: Vec<u64> = (1..=10_000).map(|i| i * 37).collect();
        values.iter().for_each(|&v| big.record(v));
        for q in [0.5, 0.9, 0.99] {
            let exact = values[((values.len() - 1) as f64 * q).round() as usize] as f64;
            let got = big.quantile(q) as f64;
            assert!((exact - got).abs() / exact < 0.02, "q{q}: {got} vs {exact}");
        }
        assert_eq!(big.quantile(1.0), 370_000);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert!((0..BUCKETS).all(|i| bucket(lower(i)) == i));
    }
}
