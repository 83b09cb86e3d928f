//! `prepare` end to end on generated fixtures: numeric parsing and normalisation, fills,
//! labels, tokens, joins, skipping bad rows, the cache, and encoding new files.

mod common;

use std::sync::Mutex;

use common::{Fixture, shown};
use recforge_data::{Column, Dataset, Schema, encode_file, prepare};

const PEOPLE: &str = "id,user,age,city,click\n\
                      0,u1,20,paris,1\n\
                      1,u2,30,rome,0\n\
                      2,u1,40,paris,1\n";

fn people_schema(features: &str) -> String {
    format!(
        r#"
        example_id = "id"
        [source]
        path = "people.csv"
        [label]
        column = "click"
        {features}
        "#
    )
}

const AGE: &str = "[[features]]\nname = \"age\"\nkind = \"numeric\"\n";

fn numeric(ds: &Dataset, name: &str) -> Vec<f32> {
    match &ds.columns[ds.feature_index(name).unwrap()] {
        Column::Numeric(v) => v.clone(),
        other => panic!("{name} is {other:?}"),
    }
}

fn bags(ds: &Dataset, name: &str) -> Vec<Vec<u32>> {
    match &ds.columns[ds.feature_index(name).unwrap()] {
        Column::Multi { offsets, values } => offsets
            .windows(2)
            .map(|w| values[w[0] as usize..w[1] as usize].to_vec())
            .collect(),
        other => panic!("{name} is {other:?}"),
    }
}

#[test]
fn zscore_uses_hand_computed_population_statistics() {
    let fx = Fixture::new();
    fx.write("people.csv", PEOPLE);
    let (ds, report) = prepare(&fx.schema(&people_schema(AGE)), &fx.options()).unwrap();
    assert_eq!(
        (report.rows_read, report.rows_kept, report.rows_skipped),
        (3, 3, 0)
    );
    let stats = ds.meta.features[0].stats.clone().unwrap();
    let std = (200.0f64 / 3.0).sqrt(); // deviations -10, 0, 10
    assert_eq!(
        (stats.mean, stats.min, stats.max, stats.count),
        (30.0, 20.0, 40.0, 3)
    );
    assert!((stats.std - std).abs() < 1e-12);
    let expected = [-10.0 / std, 0.0, 10.0 / std].map(|x| x as f32);
    assert_eq!(numeric(&ds, "age"), expected);
    assert_eq!(ds.labels, [1.0, 0.0, 1.0]);
    assert!((ds.meta.label_rate - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(ds.example_ids, [0, 1, 2]);
}

#[test]
fn minmax_log1p_and_none() {
    let fx = Fixture::new();
    fx.write("people.csv", PEOPLE);
    let features = r#"
        [[features]]
        name = "mm"
        column = "age"
        kind = "numeric"
        normalize = "minmax"
        [[features]]
        name = "raw"
        column = "age"
        kind = "numeric"
        normalize = "none"
        [[features]]
        name = "log"
        column = "age"
        kind = "numeric"
        normalize = "log1p"
    "#;
    let (ds, _) = prepare(&fx.schema(&people_schema(features)), &fx.options()).unwrap();
    assert_eq!(numeric(&ds, "mm"), [0.0, 0.5, 1.0]);
    assert_eq!(numeric(&ds, "raw"), [20.0, 30.0, 40.0]);
    let logs = [21f64.ln(), 31f64.ln(), 41f64.ln()];
    let mean = logs.iter().sum::<f64>() / 3.0;
    let std = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    let expected: Vec<f32> = logs.iter().map(|l| ((l - mean) / std) as f32).collect();
    for (got, want) in numeric(&ds, "log").iter().zip(expected) {
        assert!((got - want).abs() < 1e-6);
    }
}

#[test]
fn a_word_in_a_numeric_field_names_file_line_and_field() {
    let fx = Fixture::new();
    let path = fx.write(
        "people.csv",
        "id,user,age,city,click\n0,u1,20,paris,1\n1,u2,abc,rome,0\n",
    );
    let err = prepare(&fx.schema(&people_schema(AGE)), &fx.options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: field \"age\": expected a number, found \"abc\"",
            shown(&path)
        )
    );
}

#[test]
fn nan_and_infinity_are_rejected() {
    for bad in ["NaN", "inf", "-Infinity"] {
        let fx = Fixture::new();
        let path = fx.write(
            "people.csv",
            &format!("id,user,age,city,click\n0,u1,{bad},paris,1\n"),
        );
        let err = prepare(&fx.schema(&people_schema(AGE)), &fx.options()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:2: NaN/inf in numeric field \"age\"", shown(&path))
        );
    }
}

#[test]
fn empty_numeric_needs_a_fill() {
    let fx = Fixture::new();
    let path = fx.write(
        "people.csv",
        "id,user,age,city,click\n0,u1,,paris,1\n1,u2,30,rome,0\n",
    );
    let err = prepare(&fx.schema(&people_schema(AGE)), &fx.options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: field \"age\": missing value (the cell is empty); declare `fill` to use a default",
            shown(&path)
        )
    );
    let filled = people_schema(
        "[[features]]\nname = \"age\"\nkind = \"numeric\"\nfill = 10\nnormalize = \"none\"\n",
    );
    let (ds, _) = prepare(&fx.schema(&filled), &fx.options()).unwrap();
    assert_eq!(numeric(&ds, "age"), [10.0, 30.0]);
    let stats = ds.meta.features[0].stats.clone().unwrap();
    assert_eq!(
        (stats.count, stats.missing, stats.mean),
        (1, 1, 30.0),
        "fills stay out of the statistics"
    );
}

#[test]
fn categorical_ids_follow_counts_and_missing_is_oov() {
    let fx = Fixture::new();
    fx.write(
        "people.csv",
        "id,user,age,city,click\n0,u1,1,rome,1\n1,u2,2,,0\n2,u1,3,paris,1\n3,u3,4,paris,1\n",
    );
    let features = r#"
        [[features]]
        name = "user"
        kind = "categorical"
        min_count = 2
        [[features]]
        name = "city"
        kind = "categorical"
        [[features]]
        name = "city_or_none"
        column = "city"
        kind = "categorical"
        fill = "nowhere"
    "#;
    let (ds, _) = prepare(&fx.schema(&people_schema(features)), &fx.options()).unwrap();
    assert_eq!(
        ds.categorical("user").unwrap(),
        [1, 0, 1, 0],
        "u2 and u3 are rarer than min_count"
    );
    assert_eq!(ds.meta.features[0].cardinality, 2);
    assert_eq!(
        ds.categorical("city").unwrap(),
        [2, 0, 1, 1],
        "paris (2) before rome (1)"
    );
    let encoder = ds.encoder().unwrap();
    assert_eq!(encoder.vocab("city").unwrap().token(1), Some("paris"));
    assert_eq!(
        encoder.vocab("city_or_none").unwrap().id("nowhere"),
        ds.categorical("city_or_none").unwrap()[1]
    );
}

#[test]
fn hashed_features_stay_in_range() {
    let fx = Fixture::new();
    let mut csv = String::from("id,user,age,city,click\n");
    for i in 0..200 {
        csv.push_str(&format!("{i},user{i},1,c,0\n"));
    }
    fx.write("people.csv", &csv);
    let features = "[[features]]\nname = \"user\"\nkind = \"categorical\"\nhash_buckets = 16\n";
    let (ds, _) = prepare(&fx.schema(&people_schema(features)), &fx.options()).unwrap();
    assert_eq!(ds.meta.features[0].cardinality, 17);
    let ids = ds.categorical("user").unwrap();
    assert!(ids.iter().all(|&id| (1..=16).contains(&id)));
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert!(
        distinct.len() > 10,
        "200 users should spread over most of 16 buckets"
    );
}

#[test]
fn multi_values_keep_the_first_and_sequences_the_last_tokens() {
    let fx = Fixture::new();
    fx.write("h.csv", "tags,hist,click\na|b|c,x y z w,1\n|b||,,0\n");
    let schema = fx.schema(
        r#"
        [source]
        path = "h.csv"
        [label]
        column = "click"
        [[features]]
        name = "tags"
        kind = "multi_categorical"
        max_len = 2
        [[features]]
        name = "hist"
        kind = "sequence"
        separator = " "
        max_len = 2
        "#,
    );
    let (ds, _) = prepare(&schema, &fx.options()).unwrap();
    let enc = ds.encoder().unwrap();
    let tag = |t| enc.vocab("tags").unwrap().id(t);
    let hist = |t| enc.vocab("hist").unwrap().id(t);
    assert_eq!(
        bags(&ds, "tags"),
        [vec![tag("a"), tag("b")], vec![tag("b")]]
    );
    assert_eq!(bags(&ds, "hist"), [vec![hist("z"), hist("w")], vec![]]);
    assert_eq!(
        enc.vocab("tags").unwrap().token(1),
        Some("b"),
        "b is seen twice"
    );
    assert_eq!(
        enc.vocab("tags").unwrap().id("c"),
        0,
        "truncated tokens are not counted"
    );
}

#[test]
fn recbole_token_seq_splits_on_spaces_and_labels_use_the_threshold() {
    let fx = Fixture::new();
    fx.write(
        "toy.inter",
        "user_id:token\titem_id:token\tgenre:token_seq\trating:float\ttimestamp:float\n\
         1\t10\tAction Comedy\t5\t300\n\
         2\t10\tAction\t2\t100.7\n",
    );
    let schema = fx.schema(
        r#"
        timestamp = "timestamp"
        [source]
        path = "toy.inter"
        [label]
        column = "rating"
        threshold = 4
        [[features]]
        name = "genre"
        kind = "multi_categorical"
        "#,
    );
    let (ds, _) = prepare(&schema, &fx.options()).unwrap();
    assert_eq!(
        bags(&ds, "genre").iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(ds.labels, [1.0, 0.0]);
    assert_eq!(ds.timestamps.as_deref(), Some(&[300, 100][..]));
}

#[test]
fn labels_without_threshold_must_be_probabilities_and_no_label_means_positive() {
    let fx = Fixture::new();
    let path = fx.write("r.csv", "user,rating\nu,1\nv,5\n");
    let with_label = r#"
        [source]
        path = "r.csv"
        [label]
        column = "rating"
        [[features]]
        name = "user"
        kind = "categorical"
    "#;
    let err = prepare(&fx.schema(with_label), &fx.options()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}:3: field \"rating\": label 5 is not 0/1",
            shown(&path)
        )),
        "{err}"
    );
    let implicit =
        "[source]\npath = \"r.csv\"\n[[features]]\nname = \"user\"\nkind = \"categorical\"\n";
    let (ds, _) = prepare(&fx.schema(implicit), &fx.options()).unwrap();
    assert_eq!(ds.labels, [1.0, 1.0]);
    assert_eq!(
        ds.example_ids,
        [0, 1],
        "without an id column the id is the data row number"
    );
}

#[test]
fn text_labels_match_the_positive_values_after_trimming() {
    let fx = Fixture::new();
    // Header-less, ", "-separated cells as in UCI Adult: columns are named by position.
    fx.write("adult.csv", "39, State-gov, <=50K\n52, Private, >50K\n31, Private, >50K.\n");
    let schema = r#"
        [source]
        path = "adult.csv"
        header = false
        [label]
        column = "column_3"
        positive = [">50K", ">50K."]
        [[features]]
        name = "age"
        column = "column_1"
        kind = "numeric"
        [[features]]
        name = "workclass"
        column = "column_2"
        kind = "categorical"
    "#;
    let (ds, _) = prepare(&fx.schema(schema), &fx.options()).unwrap();
    assert_eq!(ds.labels, [0.0, 1.0, 1.0]);
    let both = schema.replace("positive =", "threshold = 1.0\n        positive =");
    let err = Schema::from_toml_str(&both, fx.dir.path()).unwrap_err();
    assert!(err.to_string().contains("either `threshold`"), "{err}");
}

#[test]
fn skip_bad_rows_counts_reports_and_keeps_ids_stable() {
    let fx = Fixture::new();
    let mut csv = String::from("id,user,age,city,click\n");
    for i in 0..30u32 {
        match i % 3 {
            0 => csv.push_str(&format!("{i},u{i},x{i},c,1\n")),
            1 => csv.push_str(&format!("{i},u{i}\n")),
            _ => csv.push_str(&format!("{i},u{i},{i},c,0\n")),
        }
    }
    let path = fx.write("people.csv", &csv);
    let schema = fx.schema(&people_schema(AGE));
    let err = prepare(&schema, &fx.options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: field \"age\": expected a number, found \"x0\"",
            shown(&path)
        )
    );

    let mut opts = fx.options();
    opts.skip_bad_rows = true;
    let (ds, report) = prepare(&schema, &opts).unwrap();
    assert_eq!(
        (report.rows_read, report.rows_kept, report.rows_skipped),
        (30, 10, 20)
    );
    assert_eq!(report.first_errors.len(), 10);
    assert_eq!(
        report.first_errors[1],
        format!("{}:3: expected 5 fields, found 2", shown(&path))
    );
    assert_eq!(ds.meta.source_rows_skipped, 20);
    assert_eq!(ds.len(), 10);
    assert_eq!(
        ds.example_ids,
        (0..10).map(|k| 3 * k + 2).collect::<Vec<u64>>()
    );
    let stats = ds.meta.features[0].stats.clone().unwrap();
    assert_eq!(stats.count, 10, "skipped rows do not feed the statistics");
}

#[test]
fn joins_fill_features_and_unknown_keys_are_oov() {
    let fx = Fixture::new();
    fx.write("log.csv", "user,item,click\nu1,i1,1\nu1,i2,0\nu2,i9,1\n");
    fx.write(
        "items.tsv",
        "item\tbrand\tprice\ni1\tacme\t10\ni2\tzeta\t20\ni3\tacme\t30\n",
    );
    let text = r#"
        item = "item"
        [source]
        path = "log.csv"
        [[joins]]
        path = "items.tsv"
        on = "item"
        [label]
        column = "click"
        [[features]]
        name = "item"
        kind = "categorical"
        side = "item"
        [[features]]
        name = "brand"
        kind = "categorical"
        side = "item"
        [[features]]
        name = "price"
        kind = "numeric"
        normalize = "none"
        fill = -1
        side = "item"
    "#;
    let (ds, _) = prepare(&fx.schema(text), &fx.options()).unwrap();
    let brands = ds.encoder().unwrap().vocab("brand").unwrap();
    assert_eq!(
        ds.categorical("brand").unwrap(),
        [brands.id("acme"), brands.id("zeta"), 0],
        "i9 has no row in items.tsv"
    );
    assert_eq!(numeric(&ds, "price"), [10.0, 20.0, -1.0]);

    let no_fill = text.replace("fill = -1\n", "");
    let err = prepare(&fx.schema(&no_fill), &fx.options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4: field \"price\": missing value (no row in {} has item \"i9\"); declare `fill` to use a default",
            shown(&fx.path("log.csv")),
            shown(&fx.path("items.tsv"))
        )
    );
}

#[test]
fn a_repeated_join_key_is_an_error() {
    let fx = Fixture::new();
    fx.write("log.csv", "item,click\ni1,1\n");
    let items = fx.write("items.csv", "item,brand\ni1,a\ni1,b\n");
    let text = r#"
        [source]
        path = "log.csv"
        [[joins]]
        path = "items.csv"
        on = "item"
        [[features]]
        name = "brand"
        kind = "categorical"
    "#;
    let err = prepare(&fx.schema(text), &fx.options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: key \"i1\" in column \"item\" repeats the row at line 2",
            shown(&items)
        )
    );
}

#[test]
fn save_and_load_round_trip() {
    let fx = Fixture::new();
    fx.write(
        "h.csv",
        "ts,user,tags,age,click\n5,a,x|y,3,1\n7,b,,4,0\n6,a,y,5,1\n",
    );
    let schema = fx.schema(
        r#"
        timestamp = "ts"
        user = "user"
        [source]
        path = "h.csv"
        [label]
        column = "click"
        [[features]]
        name = "user"
        kind = "categorical"
        [[features]]
        name = "tags"
        kind = "multi_categorical"
        [[features]]
        name = "age"
        kind = "numeric"
        "#,
    );
    let (ds, _) = prepare(&schema, &fx.options()).unwrap();
    let dir = fx.path("saved");
    ds.save(&dir).unwrap();
    let back = Dataset::load(&dir).unwrap();
    assert_eq!(back, ds);
    assert!(back.encoder().is_some());
    // Saving over an existing dataset replaces it.
    let sub = ds.subset(&[2, 0]);
    sub.save(&dir).unwrap();
    assert_eq!(Dataset::load(&dir).unwrap(), sub);
}

#[test]
fn second_prepare_hits_the_cache_and_a_changed_file_misses_it() {
    let fx = Fixture::new();
    fx.write("people.csv", PEOPLE);
    let schema = fx.schema(&people_schema(AGE));
    let (first, cold) = prepare(&schema, &fx.options()).unwrap();
    assert!(!cold.cache_hit);
    assert!(cold.cache_path.starts_with(fx.path("cache")));
    assert!(
        cold.cache_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("people-")
    );

    let (second, warm) = prepare(&schema, &fx.options()).unwrap();
    assert!(warm.cache_hit);
    assert_eq!(warm.cache_path, cold.cache_path);
    assert_eq!((warm.rows_read, warm.rows_kept), (3, 3));
    assert_eq!(second, first);

    let mut forced = fx.options();
    forced.force = true;
    assert!(!prepare(&schema, &forced).unwrap().1.cache_hit);

    fx.write("people.csv", &format!("{PEOPLE}3,u4,50,oslo,0\n"));
    let (changed, report) = prepare(&schema, &fx.options()).unwrap();
    assert!(!report.cache_hit);
    assert_ne!(report.cache_path, cold.cache_path);
    assert_eq!(changed.len(), 4);

    let other = fx.schema(&people_schema(
        &AGE.replace("numeric\"", "numeric\"\nnormalize = \"none\""),
    ));
    assert!(
        !prepare(&other, &fx.options()).unwrap().1.cache_hit,
        "a schema change misses too"
    );
}

#[test]
fn encode_file_reuses_the_training_vocabularies_and_statistics() {
    let fx = Fixture::new();
    fx.write("people.csv", PEOPLE);
    let features = format!("{AGE}[[features]]\nname = \"city\"\nkind = \"categorical\"\n");
    let schema = fx.schema(&people_schema(&features));
    let (train, report) = prepare(&schema, &fx.options()).unwrap();
    let eval = fx.write(
        "eval.csv",
        "id,user,age,city,click\n7,u9,30,paris,0\n8,u9,40,tokyo,1\n",
    );

    // Through the encoder of a dataset loaded back from the cache, as `recforge eval` does.
    let loaded = Dataset::load(&report.cache_path).unwrap();
    let encoder = loaded.encoder().unwrap();
    let ds = encode_file(&schema, encoder, &eval, &fx.options()).unwrap();
    assert_eq!(ds.example_ids, [7, 8]);
    assert_eq!(
        ds.categorical("city").unwrap(),
        [train.categorical("city").unwrap()[0], 0]
    );
    assert_eq!(
        numeric(&ds, "age")[0],
        numeric(&train, "age")[1],
        "age 30 maps as in training"
    );
    assert_eq!(ds.meta.features, train.meta.features);
}

#[test]
fn progress_is_reported() {
    let fx = Fixture::new();
    fx.write("people.csv", PEOPLE);
    let recorder = Recorder::default();
    let mut opts = fx.options();
    opts.progress = &recorder;
    prepare(&fx.schema(&people_schema(AGE)), &opts).unwrap();
    let calls = recorder.0.lock().unwrap();
    let size = PEOPLE.len() as u64;
    let first = calls.first().map(String::as_str).unwrap_or("");
    assert!(first.starts_with("begin preparing ") && first.ends_with(&format!("Some({})", 2 * size)), "{calls:?}");
    assert!(calls.contains(&format!("update {} 3 rows", 2 * size)), "{calls:?}");
    assert_eq!(calls.last().map(String::as_str), Some("end"), "{calls:?}");
}

/// Records every progress call as a line.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl recforge_data::Progress for Recorder {
    fn begin(&self, label: &str, total: Option<u64>, _unit: recforge_data::Unit) {
        self.0.lock().unwrap().push(format!("begin {label} {total:?}"));
    }
    fn update(&self, done: u64, note: &str) {
        self.0.lock().unwrap().push(format!("update {done} {note}"));
    }
    fn end(&self) {
        self.0.lock().unwrap().push("end".into());
    }
}

/// Asks to stop from the start (what Ctrl-C in Python does through `Progress::cancelled`).
struct StopNow;

impl recforge_data::Progress for StopNow {
    fn begin(&self, _: &str, _: Option<u64>, _: recforge_data::Unit) {}
    fn update(&self, _: u64, _: &str) {}
    fn end(&self) {}
    fn cancelled(&self) -> bool {
        true
    }
}

#[test]
fn a_cancelling_watcher_stops_preparing_at_the_next_progress_tick() {
    let fx = Fixture::new();
    let mut text = String::from("id,user,age,city,click\n");
    for i in 0..70_000 {
        text += &format!("{i},u{},{},c{},{}\n", i % 97, 20 + i % 50, i % 7, i % 2);
    }
    let path = fx.write("people.csv", &text);
    let schema = fx.schema(&people_schema(AGE));
    let options = recforge_data::PrepareOptions { progress: &StopNow, ..fx.options() };
    let err = prepare(&schema, &options).unwrap_err();
    // Progress ticks every 65,536 rows: the first tick of the first pass stops it.
    assert_eq!(err.to_string(), format!("{}: interrupted after 65536 rows", shown(&path)));
    let cached = |dir: std::path::PathBuf| dir.join("data.arrow").exists();
    let entries: Vec<_> = fx.path("cache").read_dir().map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(!entries.into_iter().any(cached), "nothing was cached");
}
