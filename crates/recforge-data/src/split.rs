//! Train/validation/test splits as row-index lists: random (seeded), temporal (oldest rows
//! train, newest test) and leave-one-out per user (last interaction test, second-to-last
//! validation), the standard protocol for sequential recommendation.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Row indices of each part; together they partition `0..n` without overlap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

impl Split {
    /// The part of every row, `row,part` per line (`part` = train, valid or test), rows in
    /// dataset order: what another tool needs to train and test on exactly these rows.
    pub fn assignment_csv(&self) -> String {
        let mut parts = vec![""; self.train.len() + self.valid.len() + self.test.len()];
        for (rows, name) in [(&self.train, "train"), (&self.valid, "valid"), (&self.test, "test")] {
            for &row in rows {
                if let Some(slot) = parts.get_mut(row) {
                    *slot = name;
                }
            }
        }
        let mut out = String::with_capacity(parts.len() * 10 + 9);
        out.push_str("row,part\n");
        for (row, part) in parts.iter().enumerate() {
            out.push_str(&format!("{row},{part}\n"));
        }
        out
    }
}

/// Sizes of the valid and test parts for `n` rows: each fraction rounded to the nearest
/// row, fractions outside [0, 1] (or NaN) treated as 0, never more than `n` in all.
fn part_sizes(n: usize, valid: f64, test: f64) -> (usize, usize) {
    let size = |f: f64| {
        if (0.0..=1.0).contains(&f) {
            (n as f64 * f).round() as usize
        } else {
            0
        }
    };
    let n_test = size(test).min(n);
    let n_valid = size(valid).min(n - n_test);
    (n_valid, n_test)
}

/// Shuffles `0..n` with `seed` and cuts it; each part is returned in ascending row order.
pub fn random_split(n: usize, valid: f64, test: f64, seed: u64) -> Split {
    let (n_valid, n_test) = part_sizes(n, valid, test);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut test_rows = order[..n_test].to_vec();
    let mut valid_rows = order[n_test..n_test + n_valid].to_vec();
    let mut train_rows = order[n_test + n_valid..].to_vec();
    test_rows.sort_unstable();
    valid_rows.sort_unstable();
    train_rows.sort_unstable();
    Split {
        train: train_rows,
        valid: valid_rows,
        test: test_rows,
    }
}

/// Oldest rows train, then valid, newest test; rows with equal timestamps keep file order.
/// Each part is in time order.
pub fn temporal_split(timestamps: &[i64], valid: f64, test: f64) -> Split {
    let n = timestamps.len();
    let (n_valid, n_test) = part_sizes(n, valid, test);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&r| timestamps[r]);
    let n_train = n - n_valid - n_test;
    Split {
        train: order[..n_train].to_vec(),
        valid: order[n_train..n_train + n_valid].to_vec(),
        test: order[n_train + n_valid..].to_vec(),
    }
}

/// Per user (by time, ties by row order): the last interaction → test, the second-to-last →
/// valid, the rest → train. Users with fewer than 3 interactions, and rows of the OOV user
/// id 0, go wholly to train. Each part is in ascending row order.
///
/// Panics if the slices differ in length.
pub fn leave_one_out(users: &[u32], timestamps: &[i64]) -> Split {
    assert_eq!(
        users.len(),
        timestamps.len(),
        "users and timestamps must be parallel"
    );
    let mut by_user: HashMap<u32, Vec<usize>> = HashMap::new();
    for (row, &user) in users.iter().enumerate() {
        by_user.entry(user).or_default().push(row);
    }
    let mut split = Split::default();
    for (user, mut rows) in by_user {
        if user == crate::vocab::OOV_ID || rows.len() < 3 {
            split.train.extend(rows);
            continue;
        }
        rows.sort_by_key(|&r| (timestamps[r], r));
        let k = rows.len();
        split.test.push(rows[k - 1]);
        split.valid.push(rows[k - 2]);
        split.train.extend_from_slice(&rows[..k - 2]);
    }
    split.train.sort_unstable();
    split.valid.sort_unstable();
    split.test.sort_unstable();
    split
}

#[cfg(test)]
mod assignment_tests {
    use super::*;

    #[test]
    fn assignment_lists_every_row_with_its_part_in_row_order() {
        let split = Split { train: vec![2, 0], valid: vec![3], test: vec![1] };
        assert_eq!(split.assignment_csv(), "row,part\n0,train\n1,test\n2,train\n3,valid\n");
    }
}
