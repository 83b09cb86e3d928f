//! Splits partition the rows: random (sizes and seed), temporal (order), leave-one-out
//! (the last two interactions per user), and `Dataset::split` dispatch.

use proptest::prelude::*;
use recforge_data::{Split, leave_one_out, random_split, temporal_split};

fn assert_partition(split: &Split, n: usize) {
    let mut all: Vec<usize> = split
        .train
        .iter()
        .chain(&split.valid)
        .chain(&split.test)
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>(), "every row exactly once");
}

proptest! {
    #[test]
    fn random_split_partitions_with_the_right_sizes(
        n in 0usize..2000,
        valid in 0.0f64..0.5,
        test in 0.0f64..0.49,
        seed in any::<u64>(),
    ) {
        let split = random_split(n, valid, test, seed);
        assert_partition(&split, n);
        prop_assert_eq!(split.test.len(), (n as f64 * test).round() as usize);
        prop_assert_eq!(split.valid.len(), (n as f64 * valid).round() as usize);
        prop_assert_eq!(&split, &random_split(n, valid, test, seed), "same seed, same split");
    }

    #[test]
    fn temporal_split_partitions_and_orders(
        timestamps in proptest::collection::vec(0i64..50, 0..500),
        valid in 0.0f64..0.5,
        test in 0.0f64..0.49,
    ) {
        let split = temporal_split(&timestamps, valid, test);
        assert_partition(&split, timestamps.len());
        let ordered: Vec<usize> = split.train.iter().chain(&split.valid).chain(&split.test).copied().collect();
        for pair in ordered.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            prop_assert!(
                timestamps[a] < timestamps[b] || (timestamps[a] == timestamps[b] && a < b),
                "time order, ties by row order"
            );
        }
    }

    #[test]
    fn leave_one_out_partitions(
        rows in proptest::collection::vec((1u32..20, 0i64..100), 0..400),
    ) {
        let (users, timestamps): (Vec<u32>, Vec<i64>) = rows.into_iter().unzip();
        let split = leave_one_out(&users, &timestamps);
        assert_partition(&split, users.len());
        prop_assert_eq!(split.valid.len(), split.test.len());
    }
}

#[test]
fn different_seeds_give_different_random_splits() {
    assert_ne!(
        random_split(100, 0.1, 0.1, 1),
        random_split(100, 0.1, 0.1, 2)
    );
}

#[test]
fn temporal_split_puts_the_newest_rows_in_test() {
    let ts = [50, 10, 40, 20, 30, 30, 0, 60, 70, 80];
    let split = temporal_split(&ts, 0.2, 0.2);
    assert_eq!(split.train, [6, 1, 3, 4, 5, 2]);
    assert_eq!(split.valid, [0, 7]);
    assert_eq!(split.test, [8, 9]);
}

#[test]
fn leave_one_out_takes_the_last_two_interactions_per_user() {
    //            row: 0  1  2  3  4  5  6  7  8
    let users = [1, 2, 1, 1, 2, 3, 1, 2, 0];
    let times = [5, 1, 9, 7, 3, 4, 1, 2, 1];
    let split = leave_one_out(&users, &times);
    // User 1 in time order: rows 6 (1), 0 (5), 3 (7), 2 (9). User 2: rows 1, 7, 4.
    // User 3 has one row; user 0 is the OOV id: both stay in train.
    assert_eq!(split.test, [2, 4]);
    assert_eq!(split.valid, [3, 7]);
    assert_eq!(split.train, [0, 1, 5, 6, 8]);
}

#[test]
fn leave_one_out_breaks_timestamp_ties_by_row_order() {
    let split = leave_one_out(&[1, 1, 1], &[5, 5, 5]);
    assert_eq!(
        (split.train, split.valid, split.test),
        (vec![0], vec![1], vec![2])
    );
}
