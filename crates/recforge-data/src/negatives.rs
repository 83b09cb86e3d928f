//! Negative sampling for implicit feedback: for each positive row, rows with a uniformly
//! drawn item the user never interacted with, labelled 0. User and context features are
//! copied from the positive row; item-side features from the item's first occurrence.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::dataset::{Dataset, label_rate};
use crate::error::{DataError, Result};
use crate::schema::Side;
use crate::split::Split;
use crate::vocab::OOV_ID;

/// Rejection-sampling attempts before falling back to the user's explicit complement list.
const MAX_REJECTIONS: usize = 32;

/// Returns `ds` followed by `per_positive` sampled negatives per positive row (label > 0.5).
/// Candidates are the distinct non-OOV items of `ds`; a user who interacted with every
/// candidate gets no negatives. Example ids continue after the largest id; timestamps are
/// copied from the positive row. Features without a `side` are treated as context.
pub fn sample_negatives(ds: &Dataset, per_positive: usize, seed: u64) -> Result<Dataset> {
    sample_with_sources(ds, per_positive, seed).map(|(dataset, _)| dataset)
}

/// Samples negatives as [`sample_negatives`] does and extends `split` so that every negative
/// joins the split of the positive it was drawn for: test positives get their negatives in
/// the test split, and nothing sampled for evaluation leaks into training.
pub fn sample_negatives_into_split(
    ds: &Dataset,
    split: &Split,
    per_positive: usize,
    seed: u64,
) -> Result<(Dataset, Split)> {
    let (dataset, sources) = sample_with_sources(ds, per_positive, seed)?;
    let mut part = vec![0u8; ds.len()];
    for (id, rows) in [(1u8, &split.train), (2, &split.valid), (3, &split.test)] {
        for &row in rows {
            part[row] = id;
        }
    }
    let mut extended = split.clone();
    for (row, &source) in sources.iter().enumerate().skip(ds.len()) {
        match part[source] {
            1 => extended.train.push(row),
            2 => extended.valid.push(row),
            3 => extended.test.push(row),
            _ => {}
        }
    }
    Ok((dataset, extended))
}

/// The dataset with negatives appended, and for every row the original row it copies its
/// user and context features from (itself for original rows).
fn sample_with_sources(ds: &Dataset, per_positive: usize, seed: u64) -> Result<(Dataset, Vec<usize>)> {
    let need = |role: &str| {
        DataError::Invalid(format!(
            "{}: negative sampling needs `{role}` in the schema to name a categorical feature",
            ds.meta.name
        ))
    };
    let users = ds.user_column().ok_or_else(|| need("user"))?;
    let items = ds.item_column().ok_or_else(|| need("item"))?;
    let item_feature = ds
        .meta
        .item_feature
        .as_deref()
        .and_then(|name| ds.feature_index(name))
        .ok_or_else(|| need("item"))?;

    let mut first_row: HashMap<u32, usize> = HashMap::new();
    let mut candidates: Vec<u32> = Vec::new();
    let mut seen: HashMap<u32, HashSet<u32>> = HashMap::new();
    for (row, (&user, &item)) in users.iter().zip(items).enumerate() {
        seen.entry(user).or_default().insert(item);
        if item != OOV_ID && !first_row.contains_key(&item) {
            first_row.insert(item, row);
            candidates.push(item);
        }
    }
    if candidates.is_empty() {
        return Err(DataError::Invalid(format!(
            "{}: no known items to sample negatives from",
            ds.meta.name
        )));
    }

    let mut rng = StdRng::seed_from_u64(seed);
    let mut complements: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut context_rows: Vec<usize> = (0..ds.len()).collect();
    let mut item_rows: Vec<usize> = (0..ds.len()).collect();
    for row in 0..ds.len() {
        if ds.labels[row] <= 0.5 {
            continue;
        }
        let user_items = &seen[&users[row]];
        for _ in 0..per_positive {
            let Some(item) = draw(
                &mut rng,
                &candidates,
                user_items,
                &mut complements,
                users[row],
            ) else {
                break;
            };
            context_rows.push(row);
            item_rows.push(first_row[&item]);
        }
    }

    let columns = ds
        .columns
        .iter()
        .zip(&ds.meta.features)
        .enumerate()
        .map(|(j, (column, feature))| {
            let from_item = j == item_feature || feature.side == Some(Side::Item);
            column.gather(if from_item { &item_rows } else { &context_rows })
        })
        .collect();
    let added = context_rows.len() - ds.len();
    let mut labels = ds.labels.clone();
    labels.resize(ds.len() + added, 0.0);
    let next_id = ds.example_ids.iter().max().map_or(0, |&m| m + 1);
    let mut example_ids = ds.example_ids.clone();
    example_ids.extend((0..added as u64).map(|k| next_id + k));
    let mut meta = ds.meta.clone();
    meta.rows = labels.len();
    meta.label_rate = label_rate(&labels);
    let dataset = Dataset {
        meta,
        columns,
        labels,
        example_ids,
        timestamps: ds
            .timestamps
            .as_ref()
            .map(|ts| context_rows.iter().map(|&r| ts[r]).collect()),
        encoder: ds.encoder.clone(),
    };
    Ok((dataset, context_rows))
}

/// One candidate the user has not interacted with, or `None` when there is none.
fn draw(
    rng: &mut StdRng,
    candidates: &[u32],
    user_items: &HashSet<u32>,
    complements: &mut HashMap<u32, Vec<u32>>,
    user: u32,
) -> Option<u32> {
    for _ in 0..MAX_REJECTIONS {
        let item = candidates[rng.random_range(0..candidates.len())];
        if !user_items.contains(&item) {
            return Some(item);
        }
    }
    let rest = complements.entry(user).or_insert_with(|| {
        candidates
            .iter()
            .copied()
            .filter(|i| !user_items.contains(i))
            .collect()
    });
    if rest.is_empty() {
        return None;
    }
    Some(rest[rng.random_range(0..rest.len())])
}
