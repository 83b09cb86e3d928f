//! Layout, batches and subsets: the shapes models consume.

mod common;

use common::Fixture;
use recforge_data::{Dataset, SparseFeature, SparseField, prepare};

fn dataset(fx: &Fixture) -> Dataset {
    fx.write(
        "b.csv",
        "user,tags,age,price,click\na,x|y,1,10,1\nb,,2,20,0\na,y,3,30,1\nc,x|y|z,4,40,0\n",
    );
    let schema = fx.schema(
        r#"
        [source]
        path = "b.csv"
        [label]
        column = "click"
        [[features]]
        name = "age"
        kind = "numeric"
        normalize = "none"
        [[features]]
        name = "user"
        kind = "categorical"
        [[features]]
        name = "tags"
        kind = "multi_categorical"
        max_len = 3
        [[features]]
        name = "price"
        kind = "numeric"
        normalize = "none"
        "#,
    );
    prepare(&schema, &fx.options()).unwrap().0
}

#[test]
fn layout_lists_sparse_then_dense_in_schema_order() {
    let fx = Fixture::new();
    let ds = dataset(&fx);
    let layout = ds.layout();
    assert_eq!(
        layout.sparse,
        [
            SparseFeature {
                name: "user".into(),
                cardinality: 4,
                bag: false,
                max_len: None
            },
            SparseFeature {
                name: "tags".into(),
                cardinality: 4,
                bag: true,
                max_len: Some(3)
            },
        ]
    );
    assert_eq!(layout.dense, ["age", "price"]);
}

#[test]
fn batch_gathers_rows_in_the_order_given() {
    let fx = Fixture::new();
    let ds = dataset(&fx);
    let vocab = |f: &str, t: &str| ds.encoder().unwrap().vocab(f).unwrap().id(t);
    let batch = ds.batch(&[3, 1, 3]);
    assert_eq!(batch.len, 3);
    assert_eq!(batch.num_dense, 2);
    assert_eq!(
        batch.dense,
        [4.0, 40.0, 2.0, 20.0, 4.0, 40.0],
        "row-major [len, num_dense]"
    );
    assert_eq!(batch.labels, [0.0, 0.0, 0.0]);
    assert_eq!(batch.example_ids, [3, 1, 3]);
    assert_eq!(
        batch.sparse[0],
        SparseField::Single(vec![
            vocab("user", "c"),
            vocab("user", "b"),
            vocab("user", "c")
        ])
    );
    let xyz = [vocab("tags", "x"), vocab("tags", "y"), vocab("tags", "z")];
    let mut values = xyz.to_vec();
    values.extend(xyz);
    assert_eq!(
        batch.sparse[1],
        SparseField::Bag {
            offsets: vec![0, 3, 3, 6],
            values
        }
    );
    assert_eq!(ds.batch(&[]).len, 0);
}

#[test]
fn subset_is_a_dataset_of_the_chosen_rows() {
    let fx = Fixture::new();
    let ds = dataset(&fx);
    let sub = ds.subset(&[2, 0]);
    assert_eq!(sub.len(), 2);
    assert_eq!(sub.meta.rows, 2);
    assert_eq!(sub.labels, [1.0, 1.0]);
    assert_eq!(sub.meta.label_rate, 1.0);
    assert_eq!(sub.batch(&[0, 1]), ds.batch(&[2, 0]));
    assert!(sub.check_consistency().is_ok());
}
