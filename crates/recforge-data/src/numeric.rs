//! Numeric cells: parsing (finite numbers only), the statistics fitted in the first pass and
//! the normalisation applied in the second.

use serde::{Deserialize, Serialize};

use crate::schema::Normalize;

/// Statistics of one numeric feature over the prepared file, on the values the normaliser
/// sees (after `ln(1 + x)` for [`Normalize::Log1p`]); `std` is the population deviation.
/// Filled (missing) cells are counted in `missing` and left out of the moments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    pub count: u64,
    pub missing: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

/// Welford's streaming mean and variance plus min, max and the missing count.
#[derive(Debug, Clone, Default)]
pub struct StatsBuilder {
    count: u64,
    missing: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl StatsBuilder {
    pub fn add(&mut self, x: f64) {
        if self.count == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    pub fn add_missing(&mut self) {
        self.missing += 1;
    }

    pub fn finish(&self) -> NumericStats {
        let std = if self.count > 0 {
            (self.m2 / self.count as f64).sqrt()
        } else {
            0.0
        };
        NumericStats {
            count: self.count,
            missing: self.missing,
            mean: self.mean,
            std,
            min: self.min,
            max: self.max,
        }
    }
}

/// Why a cell is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    NotANumber,
    NonFinite,
}

/// Parses a trimmed cell as a finite `f64` (`NaN`, `inf` and friends are rejected).
pub fn parse_number(cell: &str) -> Result<f64, NumberError> {
    match cell.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(NumberError::NonFinite),
        Err(_) => Err(NumberError::NotANumber),
    }
}

/// The transform applied before statistics: `ln(1 + x)` for log1p (which needs x > -1).
pub fn pre_transform(x: f64, normalize: Normalize) -> Result<f64, String> {
    match normalize {
        Normalize::Log1p if x <= -1.0 => Err(format!("log1p needs values above -1, found {x}")),
        Normalize::Log1p => Ok(x.ln_1p()),
        _ => Ok(x),
    }
}

/// Maps a pre-transformed value to the model's input scale.
pub fn normalize(x: f64, normalize: Normalize, stats: &NumericStats) -> f32 {
    let y = match normalize {
        Normalize::Zscore | Normalize::Log1p => {
            let std = if stats.std > 0.0 { stats.std } else { 1.0 };
            (x - stats.mean) / std
        }
        Normalize::Minmax => {
            let range = stats.max - stats.min;
            if range > 0.0 {
                (x - stats.min) / range
            } else {
                0.0
            }
        }
        Normalize::None => x,
    };
    y as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_the_textbook_formulas() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut b = StatsBuilder::default();
        xs.iter().for_each(|&x| b.add(x));
        b.add_missing();
        let s = b.finish();
        assert_eq!(s.count, 8);
        assert_eq!(s.missing, 1);
        assert!((s.mean - 5.0).abs() < 1e-12);
        assert!((s.std - 2.0).abs() < 1e-12); // population std of the classic example
        assert_eq!((s.min, s.max), (2.0, 9.0));
        assert_eq!(normalize(9.0, Normalize::Zscore, &s), 2.0);
        assert_eq!(normalize(9.0, Normalize::Minmax, &s), 1.0);
        assert_eq!(normalize(9.0, Normalize::None, &s), 9.0);
    }

    #[test]
    fn non_finite_and_garbage_are_rejected() {
        assert_eq!(parse_number(" 3.5 "), Ok(3.5));
        assert_eq!(parse_number("NaN"), Err(NumberError::NonFinite));
        assert_eq!(parse_number("-inf"), Err(NumberError::NonFinite));
        assert_eq!(parse_number("abc"), Err(NumberError::NotANumber));
        assert_eq!(parse_number(""), Err(NumberError::NotANumber));
        assert!(pre_transform(-1.0, Normalize::Log1p).is_err());
        assert_eq!(pre_transform(0.0, Normalize::Log1p), Ok(0.0));
    }
}
