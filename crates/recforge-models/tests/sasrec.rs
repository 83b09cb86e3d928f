//! SASRec's attention is causal and ignores padding: future items never change earlier
//! outputs, and left padding never changes a sequence's outputs.

use burn::prelude::*;
use recforge_models::sequential::{SasRecConfig, SequenceBatch};

fn rows(t: Tensor<3>) -> Vec<Vec<f32>> {
    let [b, l, d] = t.dims();
    let v = t.into_data().try_to_vec::<f32>().unwrap();
    (0..b * l).map(|i| v[i * d..(i + 1) * d].to_vec()).collect()
}

fn assert_close(a: &[f32], b: &[f32]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
    }
}

#[test]
fn future_items_do_not_change_earlier_outputs() {
    let device = Device::default();
    device.seed(3);
    let model = SasRecConfig::new(20).with_dim(8).with_max_len(6).with_heads(2).init(&device);
    let a: &[u32] = &[1, 2, 3, 4, 5];
    let b: &[u32] = &[1, 2, 3, 17, 9];
    let out = rows(model.forward(&SequenceBatch::new(&[a, b], 6, &device)));
    for t in 0..3 {
        assert_close(&out[t], &out[5 + t]);
    }
    // …and the differing positions do differ.
    assert!(out[3].iter().zip(&out[8]).any(|(x, y)| (x - y).abs() > 1e-4));
}

#[test]
fn left_padding_does_not_change_outputs() {
    let device = Device::default();
    device.seed(4);
    let model = SasRecConfig::new(20).with_dim(8).with_max_len(6).init(&device);
    let short: &[u32] = &[7, 3];
    let long: &[u32] = &[1, 2, 3, 4, 5];
    let alone = rows(model.forward(&SequenceBatch::new(&[short], 6, &device)));
    let padded = rows(model.forward(&SequenceBatch::new(&[long, short], 6, &device)));
    // In the batch `short` occupies positions 3 and 4 of row 1 (after three padding slots).
    assert_close(&alone[0], &padded[5 + 3]);
    assert_close(&alone[1], &padded[5 + 4]);
    // Scores use the last position and the shared item embedding: [batch, num_items].
    let scores = model.score_all(&SequenceBatch::new(&[long, short], 6, &device));
    assert_eq!(scores.dims(), [2, 20]);
}

#[test]
fn long_histories_keep_the_most_recent_items() {
    let device = Device::default();
    let batch = SequenceBatch::new(&[&[1, 2, 3, 4, 5, 6, 7][..], &[9][..]], 4, &device);
    assert_eq!(batch.ids.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), vec![4, 5, 6, 7, 0, 0, 0, 9]);
    let mask = batch.attention_mask.into_data().try_to_vec::<bool>().unwrap();
    // Row 0, query 1 sees keys 0 and 1 only.
    assert_eq!(&mask[4..8], &[false, false, true, true]);
    // Row 1, query 3 (the real item) sees only itself.
    assert_eq!(&mask[16 + 12..16 + 16], &[true, true, true, false]);
}
