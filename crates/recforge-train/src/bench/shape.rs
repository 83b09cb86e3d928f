//! The data a side-by-side benchmark trains on.
//!
//! The reference shape is the CTR model the project's design measured every framework on:
//! 26 categorical fields of 100,000 ids each, 13 numeric features, batch 2048. Its ids are
//! drawn uniformly (the hardest case for sparse updates: almost every id in a batch is a
//! distinct row) and its labels follow a planted logistic signal so training has something
//! to learn. Real data (ML-1M) comes from the prepared cache instead.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_data::{Column, Dataset, DatasetMeta, FeatureKind, FeatureMeta};

/// Categorical fields of the reference shape.
pub const REFERENCE_SPARSE_FIELDS: usize = 26;
/// Ids per categorical field of the reference shape.
pub const REFERENCE_CARDINALITY: usize = 100_000;
/// Numeric features of the reference shape.
pub const REFERENCE_DENSE_FIELDS: usize = 13;

/// A synthetic dataset of the reference shape with `rows` examples.
pub fn reference_dataset(rows: usize, seed: u64) -> Dataset {
    synthetic_dataset(rows, REFERENCE_SPARSE_FIELDS, REFERENCE_CARDINALITY, REFERENCE_DENSE_FIELDS, seed)
}

/// `rows` examples of `sparse_fields` categorical fields with ids uniform over `cardinality`
/// and `dense_fields` roughly standard-normal numeric features; labels planted on the first
/// two fields' id parity and the first two numeric features (when there are that many).
pub fn synthetic_dataset(rows: usize, sparse_fields: usize, cardinality: usize, dense_fields: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut features = Vec::new();
    let mut columns = Vec::new();
    let cardinality = cardinality.max(1);
    for f in 0..sparse_fields {
        features.push(feature(format!("c{}", f + 1), FeatureKind::Categorical, cardinality));
        columns.push(Column::Categorical((0..rows).map(|_| rng.random_range(0..cardinality as u32)).collect()));
    }
    for f in 0..dense_fields {
        features.push(feature(format!("n{}", f + 1), FeatureKind::Numeric, 0));
        // A standard-normal-ish value (sum of uniforms), like z-scored counts.
        columns.push(Column::Numeric((0..rows).map(|_| (0..4).map(|_| rng.random_range(-0.866f32..0.866)).sum()).collect()));
    }
    let labels = planted_labels(&columns, sparse_fields, rows, &mut rng);
    let label_rate = labels.iter().map(|&y| f64::from(y)).sum::<f64>() / rows.max(1) as f64;
    Dataset {
        meta: DatasetMeta {
            name: format!("synthetic-{sparse_fields}x{cardinality}+{dense_fields}"),
            rows,
            label_rate,
            features,
            has_timestamp: false,
            user_feature: None,
            item_feature: None,
            schema_hash: String::new(),
            source_rows_read: rows as u64,
            source_rows_skipped: 0,
        },
        columns,
        labels,
        example_ids: (0..rows as u64).collect(),
        timestamps: None,
        encoder: None,
    }
}

fn feature(name: String, kind: FeatureKind, cardinality: usize) -> FeatureMeta {
    FeatureMeta { name, kind, cardinality, side: None, max_len: None, stats: None }
}

/// Clicks from `sigmoid(±1 by the parity of field 1 and 2 ids + two numeric weights)`.
fn planted_labels(columns: &[Column], sparse_fields: usize, rows: usize, rng: &mut StdRng) -> Vec<f32> {
    let id = |c: usize, r: usize| match columns.get(c) {
        Some(Column::Categorical(ids)) => ids[r],
        _ => 0,
    };
    let value = |c: usize, r: usize| match columns.get(c) {
        Some(Column::Numeric(v)) => v[r],
        _ => 0.0,
    };
    (0..rows)
        .map(|r| {
            let parity = if (id(0, r) ^ id(1, r)) & 1 == 1 { 1.0 } else { -1.0 };
            let logit = parity + 0.8 * value(sparse_fields, r) - 0.5 * value(sparse_fields + 1, r);
            let p = 1.0 / (1.0 + (-logit).exp());
            if rng.random_range(0.0f32..1.0) < p { 1.0 } else { 0.0 }
        })
        .collect()
}

/// The reference shape's deep tower (MLP 429-400-400-1), given to the kinds that have one.
const REFERENCE_DEEP_TOWER: [usize; 2] = [400, 400];
const REFERENCE_DEEP_TOWER_KINDS: [&str; 2] = ["mlp", "dcn_v2"];

/// `kind`'s default model config, with the reference deep tower for mlp and dcn_v2.
pub fn reference_model(kind: &str) -> Result<recforge_models::ModelConfig, super::BenchError> {
    let mut table = serde_json::json!({ "kind": kind });
    if REFERENCE_DEEP_TOWER_KINDS.contains(&kind) {
        table["hidden"] = serde_json::json!(REFERENCE_DEEP_TOWER);
    }
    serde_json::from_value(table)
        .map_err(|e| super::BenchError::Setup(format!("unknown or unbuildable model kind \"{kind}\": {e}")))
}

/// `rows` rows of the training split of `schema`'s task, shuffled with `seed`.
pub fn train_rows(schema: &std::path::Path, rows: usize, seed: u64, progress: &dyn recforge_data::Progress) -> Result<Dataset, super::BenchError> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let task = recforge_data::Task::load(schema, &recforge_data::TaskOptions::default(), progress)?;
    let mut train = task.split.train.clone();
    train.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    if train.len() < rows {
        return Err(super::BenchError::Setup(format!(
            "the train split of {} has {} rows; the benchmark needs {rows}",
            schema.display(),
            train.len()
        )));
    }
    Ok(task.dataset.subset(&train[..rows]))
}
