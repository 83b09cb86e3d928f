//! Schema parsing and validation: defaults, unknown fields, duplicates, fractions, path
//! resolution, and the missing-column message when headers are read.

mod common;

use std::path::Path;

use common::{Fixture, shown};
use recforge_data::{
    DataError, FeatureKind, Format, Normalize, PrepareOptions, Schema, Side, SplitMethod, prepare,
};

const MINIMAL: &str = r#"
[source]
path = "logs/clicks.csv"
[[features]]
name = "user_id"
kind = "categorical"
"#;

#[test]
fn defaults_fill_everything_not_written() {
    let schema = Schema::from_toml_str(MINIMAL, Path::new("/base")).unwrap();
    assert_eq!(
        schema.name, "clicks",
        "name defaults to the source file stem"
    );
    assert_eq!(schema.source.path, Path::new("/base/logs/clicks.csv"));
    assert_eq!(schema.source.format, Format::Auto);
    assert!(schema.source.header);
    assert_eq!(schema.split.method, SplitMethod::Random);
    assert_eq!(
        (schema.split.valid, schema.split.test, schema.split.seed),
        (0.1, 0.1, 42)
    );
    let f = &schema.features[0];
    assert_eq!(
        (f.kind, f.min_count, f.normalize),
        (FeatureKind::Categorical, 1, Normalize::Zscore)
    );
    assert_eq!(f.source_column(), "user_id");
}

#[test]
fn a_full_schema_parses() {
    let text = r#"
        name = "ml"
        example_id = "id"
        timestamp = "ts"
        user = "u"
        item = "i"
        [source]
        path = "/abs/log.tsv"
        format = "tsv"
        delimiter = ";"
        header = false
        [[joins]]
        path = "items.csv"
        on = "i"
        [label]
        column = "rating"
        threshold = 4
        [[features]]
        name = "u"
        kind = "categorical"
        side = "user"
        hash_buckets = 1000
        [[features]]
        name = "i"
        kind = "categorical"
        side = "item"
        [[features]]
        name = "history"
        column = "hist"
        kind = "sequence"
        separator = ","
        max_len = 5
        [[features]]
        name = "price"
        kind = "numeric"
        normalize = "log1p"
        fill = 0
        [split]
        method = "leave_one_out"
        [negatives]
        per_positive = 4
    "#;
    let schema = Schema::from_toml_str(text, Path::new("/base")).unwrap();
    assert_eq!(schema.source.path, Path::new("/abs/log.tsv"));
    assert_eq!(schema.source.delimiter, Some(';'));
    assert_eq!(schema.joins[0].path, Path::new("/base/items.csv"));
    assert_eq!(schema.label.as_ref().unwrap().threshold, Some(4.0));
    assert_eq!(schema.features[0].side, Some(Side::User));
    assert_eq!(schema.features[2].source_column(), "hist");
    assert_eq!(
        schema.features[3].fill.as_deref(),
        Some("0"),
        "numbers are accepted as fill"
    );
    assert_eq!(schema.split.method, SplitMethod::LeaveOneOut);
    assert_eq!(schema.negatives.as_ref().unwrap().seed, 42);
}

#[test]
fn unknown_field_is_named_with_its_line() {
    let fx = Fixture::new();
    let path = fx.write("schema.toml", &format!("{MINIMAL}\n[split]\nfoo = 1\n"));
    let err = Schema::from_toml_file(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:9: unknown field \"foo\"", shown(&path))),
        "{text}"
    );
}

#[test]
fn duplicate_feature_is_rejected() {
    let text = format!("{MINIMAL}\n[[features]]\nname = \"user_id\"\nkind = \"numeric\"\n");
    let err = Schema::from_toml_str(&text, Path::new(".")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<schema>: feature \"user_id\" is declared twice"
    );
}

#[test]
fn bad_values_are_rejected_with_reasons() {
    let cases = [
        (
            "[split]\nvalid = 0.6\ntest = 0.5\n",
            "leaves no training rows",
        ),
        ("[split]\ntest = 1.0\n", "split.test = 1 must lie in [0, 1)"),
        (
            "user = \"nobody\"\n",
            "user = \"nobody\" is not a declared feature",
        ),
    ];
    for (extra, expected) in cases {
        let text = format!("{extra}{MINIMAL}");
        let err = Schema::from_toml_str(&text, Path::new(".")).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} should contain {expected}"
        );
    }
    let numeric_fill =
        format!("{MINIMAL}\n[[features]]\nname = \"age\"\nkind = \"numeric\"\nfill = \"old\"\n");
    let err = Schema::from_toml_str(&numeric_fill, Path::new(".")).unwrap_err();
    assert!(
        err.to_string()
            .contains("fill = \"old\" is not a finite number"),
        "{err}"
    );
    let sep_on_single = format!(
        "{MINIMAL}\n[[features]]\nname = \"x\"\nkind = \"categorical\"\nseparator = \",\"\n"
    );
    assert!(Schema::from_toml_str(&sep_on_single, Path::new(".")).is_err());
}

#[test]
fn missing_column_lists_the_available_ones() {
    let fx = Fixture::new();
    let data = fx.write("data/x.csv", "user_id,item_id,click\n1,2,0\n");
    let schema = fx.schema(
        r#"
        [source]
        path = "data/x.csv"
        [label]
        column = "rating"
        [[features]]
        name = "user_id"
        kind = "categorical"
        "#,
    );
    let err = prepare(&schema, &PrepareOptions::new(fx.path("cache"))).unwrap_err();
    assert!(matches!(err, DataError::MissingColumn { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: missing column \"rating\" (columns: user_id, item_id, click)",
            shown(&data)
        )
    );
}

#[test]
fn schema_file_paths_resolve_against_its_folder() {
    let fx = Fixture::new();
    let path = fx.write("conf/s.toml", MINIMAL);
    let schema = Schema::from_toml_file(&path).unwrap();
    assert_eq!(schema.source.path, fx.path("conf/logs/clicks.csv"));
}

#[test]
fn data_paths_that_leave_the_data_folder_are_refused() {
    let root = recforge_data::schema::data_root();
    for escape in [
        "$DATA/../secrets.csv",
        "$DATA/ml-1m/../../etc/passwd",
        "$DATA//etc/passwd",
    ] {
        let text = MINIMAL.replace("logs/clicks.csv", escape);
        let err = Schema::from_toml_str(&text, Path::new("/base")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "<schema>: path \"{escape}\" leaves the data folder {}: a \"$DATA/\" path must \
                 stay inside it; to read a file elsewhere write its absolute path, or a path \
                 relative to the schema file",
                root.display()
            )
        );
        assert!(matches!(err, DataError::Schema { .. }));
    }
    let inside = MINIMAL.replace("logs/clicks.csv", "$DATA/ml-1m/./old/../ml-1m.inter");
    let schema = Schema::from_toml_str(&inside, Path::new("/base")).unwrap();
    assert_eq!(schema.source.path, root.join("ml-1m/ml-1m.inter"));
    // Outside `$DATA/`, `..` is the user's own business.
    let relative = MINIMAL.replace("logs/clicks.csv", "../shared/clicks.csv");
    let schema = Schema::from_toml_str(&relative, Path::new("/base/conf")).unwrap();
    assert_eq!(
        schema.source.path,
        Path::new("/base/conf/../shared/clicks.csv")
    );
}
