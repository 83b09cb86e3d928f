//! Negative sampling: never an item the user interacted with, the right counts, item-side
//! features taken from the sampled item, user and context features from the positive.

mod common;

use std::collections::{HashMap, HashSet};

use common::Fixture;
use recforge_data::{Column, Dataset, prepare, random_split, sample_negatives, sample_negatives_into_split};

fn dataset(fx: &Fixture, with_user: bool) -> Dataset {
    let mut csv = String::from("ts,user,item,brand,hour,click\n");
    // 6 users, 12 items; user u interacts with items u..u+4; item i has brand b(i % 3).
    let mut row = 0;
    for u in 0..6 {
        for i in u..u + 4 {
            let click = u8::from((u + i) % 2 == 0);
            csv.push_str(&format!(
                "{row},u{u},i{i},b{},h{},{click}\n",
                i % 3,
                row % 5
            ));
            row += 1;
        }
    }
    fx.write("log.csv", &csv);
    let user_line = if with_user { "user = \"user\"\n" } else { "" };
    let schema = fx.schema(&format!(
        r#"
        {user_line}item = "item"
        timestamp = "ts"
        [source]
        path = "log.csv"
        [label]
        column = "click"
        [[features]]
        name = "user"
        kind = "categorical"
        side = "user"
        [[features]]
        name = "item"
        kind = "categorical"
        side = "item"
        [[features]]
        name = "brand"
        kind = "categorical"
        side = "item"
        [[features]]
        name = "hour"
        kind = "categorical"
        side = "context"
        "#
    ));
    prepare(&schema, &fx.options()).unwrap().0
}

fn ids<'a>(ds: &'a Dataset, name: &str) -> &'a [u32] {
    ds.categorical(name).unwrap()
}

#[test]
fn negatives_avoid_seen_items_and_copy_the_right_sides() {
    let fx = Fixture::new();
    let ds = dataset(&fx, true);
    let positives = ds.labels.iter().filter(|&&l| l == 1.0).count();
    let out = sample_negatives(&ds, 3, 7).unwrap();
    let n = ds.len();
    assert_eq!(out.len(), n + 3 * positives);
    assert_eq!(out.meta.rows, out.len());
    assert!(out.labels[n..].iter().all(|&l| l == 0.0));
    assert_eq!(
        &out.labels[..n],
        &ds.labels[..],
        "logged rows are kept as they were"
    );

    let mut seen: HashMap<u32, HashSet<u32>> = HashMap::new();
    for (&u, &i) in ids(&ds, "user").iter().zip(ids(&ds, "item")) {
        seen.entry(u).or_default().insert(i);
    }
    let brand_of: HashMap<u32, u32> = ids(&ds, "item")
        .iter()
        .copied()
        .zip(ids(&ds, "brand").iter().copied())
        .collect();
    let positive_rows: Vec<usize> = (0..n).filter(|&r| ds.labels[r] == 1.0).collect();
    for (k, r) in (n..out.len()).enumerate() {
        let source = positive_rows[k / 3];
        let (user, item) = (ids(&out, "user")[r], ids(&out, "item")[r]);
        assert!(
            !seen[&user].contains(&item),
            "row {r}: user {user} has seen item {item}"
        );
        assert_eq!(user, ids(&ds, "user")[source]);
        assert_eq!(
            ids(&out, "hour")[r],
            ids(&ds, "hour")[source],
            "context copied from the positive"
        );
        assert_eq!(
            ids(&out, "brand")[r],
            brand_of[&item],
            "item side from the sampled item"
        );
        assert_eq!(
            out.timestamps.as_ref().unwrap()[r],
            ds.timestamps.as_ref().unwrap()[source]
        );
    }
    let max_id = *ds.example_ids.iter().max().unwrap();
    assert_eq!(
        out.example_ids[n..],
        (max_id + 1..max_id + 1 + (out.len() - n) as u64).collect::<Vec<_>>()
    );
    assert_eq!(
        sample_negatives(&ds, 3, 7).unwrap(),
        out,
        "same seed, same negatives"
    );
    assert!(matches!(out.columns[0], Column::Categorical(_)));
}

#[test]
fn negatives_need_a_user_feature() {
    let fx = Fixture::new();
    let ds = dataset(&fx, false);
    let err = sample_negatives(&ds, 1, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "log: negative sampling needs `user` in the schema to name a categorical feature"
    );
}

#[test]
fn negatives_join_the_split_of_their_positive() {
    let fx = Fixture::new();
    let ds = dataset(&fx, true);
    let split = random_split(ds.len(), 0.25, 0.25, 3);
    let (out, extended) = sample_negatives_into_split(&ds, &split, 2, 5).unwrap();
    let n = ds.len();
    // Every row, original or sampled, is in exactly one part.
    let mut all: Vec<usize> = extended.train.iter().chain(&extended.valid).chain(&extended.test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..out.len()).collect::<Vec<_>>());
    // Original rows keep their part.
    assert_eq!(&extended.train[..split.train.len()], &split.train[..]);
    assert_eq!(&extended.test[..split.test.len()], &split.test[..]);
    // A sampled row's timestamp and user come from its positive, which sits in the same part.
    let users = ids(&out, "user");
    for (part, original) in [(&extended.train, &split.train), (&extended.valid, &split.valid), (&extended.test, &split.test)] {
        for &row in part.iter().filter(|&&r| r >= n) {
            let ts = out.timestamps.as_ref().unwrap()[row];
            let source = original
                .iter()
                .find(|&&r| ds.timestamps.as_ref().unwrap()[r] == ts && ids(&ds, "user")[r] == users[row]);
            assert!(source.is_some(), "negative row {row} has no positive in its own part");
        }
    }
}
