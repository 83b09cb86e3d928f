//! The synthetic log is deterministic, has a sane label rate and a learnable signal, and
//! prepares with its own schema; `inspect` profiles it.

mod common;

use common::Fixture;
use recforge_data::{Format, InferredType, Schema, inspect, prepare, write_synthetic_ctr};

#[test]
fn synthetic_log_is_deterministic_per_seed() {
    let a = Fixture::new();
    let b = Fixture::new();
    write_synthetic_ctr(a.dir.path(), 2000, 3).unwrap();
    write_synthetic_ctr(b.dir.path(), 2000, 3).unwrap();
    let read = |fx: &Fixture| std::fs::read(fx.path("synthetic.csv")).unwrap();
    assert_eq!(read(&a), read(&b));
    let c = Fixture::new();
    write_synthetic_ctr(c.dir.path(), 2000, 4).unwrap();
    assert_ne!(read(&a), read(&c));
}

#[test]
fn synthetic_log_prepares_with_a_sane_label_rate_and_signal() {
    let fx = Fixture::new();
    let schema_path = write_synthetic_ctr(fx.dir.path(), 20_000, 11).unwrap();
    let schema = Schema::from_toml_file(&schema_path).unwrap();
    let (ds, report) = prepare(&schema, &fx.options()).unwrap();
    assert_eq!(report.rows_kept, 20_000);
    let rate = ds.meta.label_rate;
    assert!((0.15..0.6).contains(&rate), "label rate {rate}");
    let users = ds.meta.features[0].cardinality;
    let items = ds.meta.features[1].cardinality;
    assert!((300..=1001).contains(&users), "~rows/20 users, got {users}");
    assert!((100..=401).contains(&items), "~rows/50 items, got {items}");
    assert_eq!(ds.meta.features[2].cardinality, 21, "20 categories + OOV");
    assert_eq!(ds.meta.features[3].cardinality, 31, "30 tags + OOV");

    // The planted price effect alone separates clicks: AUC of price well above 0.5.
    let price = match &ds.columns[4] {
        recforge_data::Column::Numeric(v) => v.clone(),
        _ => unreachable!(),
    };
    let auc = auc(&price, &ds.labels);
    assert!(auc > 0.6, "price AUC {auc}");
}

/// Rank-based AUC (ties count half).
fn auc(scores: &[f32], labels: &[f32]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut positives) = (0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + j + 1) as f64 / 2.0;
        for &r in &order[i..j] {
            if labels[r] == 1.0 {
                rank_sum += mid;
                positives += 1.0;
            }
        }
        i = j;
    }
    let negatives = scores.len() as f64 - positives;
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

#[test]
fn inspect_profiles_columns_and_finds_the_label() {
    let fx = Fixture::new();
    write_synthetic_ctr(fx.dir.path(), 3000, 5).unwrap();
    let report = inspect(&fx.path("synthetic.csv"), Format::Auto, None, None).unwrap();
    assert_eq!(report.rows, 3000);
    let kind = |name: &str| {
        report
            .columns
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .inferred
    };
    assert_eq!(kind("example_id"), InferredType::Integer);
    assert_eq!(kind("price"), InferredType::Float);
    assert_eq!(kind("user_id"), InferredType::Categorical);
    assert_eq!(kind("tags"), InferredType::MultiValued);
    let tags = report.columns.iter().find(|c| c.name == "tags").unwrap();
    assert_eq!(tags.distinct, 30, "a multi-valued column counts distinct tokens, not combinations");
    let example_id = &report.columns[0];
    assert_eq!((example_id.distinct, example_id.missing), (3000, 0));
    assert_eq!(
        (example_id.min, example_id.max, example_id.mean),
        (Some(0.0), Some(2999.0), Some(1499.5))
    );
    assert_eq!(example_id.examples, ["0", "1", "2"]);
    let (label, rate) = report.label.clone().unwrap();
    assert_eq!(label, "click");
    assert!((0.1..0.7).contains(&rate));
    let text = report.to_string();
    assert!(text.contains("multi-valued"), "{text}");
    let limited = inspect(&fx.path("synthetic.csv"), Format::Csv, None, Some(10)).unwrap();
    assert_eq!(limited.rows, 10);
}

#[test]
fn inspect_reports_missing_cells_and_a_thresholded_label() {
    let fx = Fixture::new();
    let path = fx.write("r.csv", "user,rating,note\na,5,\nb,2,x\nc,4,\n");
    let schema = fx.schema(
        "[source]\npath = \"r.csv\"\n[label]\ncolumn = \"rating\"\nthreshold = 4\n[[features]]\nname = \"user\"\nkind = \"categorical\"\n",
    );
    let report = inspect(&path, Format::Auto, Some(&schema), None).unwrap();
    assert_eq!(report.columns[2].missing, 2);
    let (label, rate) = report.label.unwrap();
    assert_eq!(label, "rating");
    assert!((rate - 2.0 / 3.0).abs() < 1e-12);
}
