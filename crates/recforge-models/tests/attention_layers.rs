//! Attention layers: shapes, masking, the composite projection's block-diagonal special case,
//! last-layer pruning and the low-rank serving export at full rank.

use burn::prelude::*;
use burn::tensor::{Bool, Distribution};
use recforge_data::{Batch, FeatureLayout, SparseFeature, SparseField};
use recforge_models::layers::{
    FeatureAttentionConfig, MultiHeadAttentionConfig, ProjectionKind, QkvProjection, attend,
};
use recforge_models::ranking::{HiformerConfig, to_serving};
use recforge_models::{EmbeddedBatch, EmbeddingStore, ModelConfig, Ranker, RankingModel, SparseOptimizer, TableSpec};

const B: usize = 3;
const L: usize = 5;
const D: usize = 8;

fn device() -> Device {
    let device = Device::default();
    device.seed(7);
    device
}

fn random(shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn values(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec().expect("f32 tensor")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Keys 1 and 3 of every example are masked.
fn mask(device: &Device) -> Tensor<2, Bool> {
    let flags: Vec<bool> = (0..B * L).map(|i| matches!(i % L, 1 | 3)).collect();
    Tensor::from_data(TensorData::new(flags, [B, L]), device)
}

/// `x` with the masked tokens (1 and 3) replaced by other values.
fn perturb_masked(x: &Tensor<3>, device: &Device) -> Tensor<3> {
    let noise = random([B, L, D], device).mul_scalar(5.0);
    let keep: Vec<f32> = (0..B * L * D).map(|i| if matches!((i / D) % L, 1 | 3) { 1.0 } else { 0.0 }).collect();
    let keep = Tensor::<3>::from_data(TensorData::new(keep, [B, L, D]), device);
    x.clone() + noise * keep
}

/// Rows of `[B, L, D]` values for the unmasked tokens only.
fn unmasked_rows(v: &[f32]) -> Vec<f32> {
    v.chunks(D).enumerate().filter(|(i, _)| !matches!(i % L, 1 | 3)).flat_map(|(_, r)| r.to_vec()).collect()
}

#[test]
fn attend_shapes_and_masked_keys_get_no_weight() {
    let device = device();
    let (q, k, v) = (random([B, 2, 12], &device), random([B, L, 12], &device), random([B, L, 6], &device));
    let out = attend(q.clone(), k.clone(), v.clone(), 3, Some(&mask(&device)));
    assert_eq!(out.dims(), [B, 2, 6]);
    // Changing the masked keys' keys and values changes nothing.
    let other = values(attend(
        q.clone(),
        perturb_masked_width(&k, 12, &device),
        perturb_masked_width(&v, 6, &device),
        3,
        Some(&mask(&device)),
    ));
    assert!(max_diff(&values(out.clone()), &other) < 1e-5);
    // Without the mask it does.
    let unmasked = values(attend(q, k, v, 3, None));
    assert!(max_diff(&values(out), &unmasked) > 1e-3);
}

fn perturb_masked_width(x: &Tensor<3>, width: usize, device: &Device) -> Tensor<3> {
    let keep: Vec<f32> =
        (0..B * L * width).map(|i| if matches!((i / width) % L, 1 | 3) { 3.0 } else { 0.0 }).collect();
    x.clone() + Tensor::<3>::from_data(TensorData::new(keep, [B, L, width]), device)
}

#[test]
fn one_unmasked_key_returns_its_value() {
    let device = device();
    let flags: Vec<bool> = (0..B * L).map(|i| i % L != 2).collect();
    let mask = Tensor::<2, Bool>::from_data(TensorData::new(flags, [B, L]), &device);
    let v = random([B, L, 4], &device);
    let out = values(attend(random([B, L, 4], &device), random([B, L, 4], &device), v.clone(), 2, Some(&mask)));
    let v = values(v);
    for b in 0..B {
        for q in 0..L {
            for c in 0..4 {
                assert!((out[(b * L + q) * 4 + c] - v[(b * L + 2) * 4 + c]).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn multi_head_attention_shapes_and_masking() {
    let device = device();
    let layer = MultiHeadAttentionConfig::new(D, 2, 4).init(&device);
    let x = random([B, L, D], &device);
    assert_eq!(layer.forward(x.clone(), None).dims(), [B, L, D]);
    let no_output = MultiHeadAttentionConfig::new(D, 2, 5).with_output_projection(false).init(&device);
    assert_eq!(no_output.forward(x.clone(), None).dims(), [B, L, 10]);
    // With shared projections, masked tokens influence no unmasked token's output.
    let mask = mask(&device);
    let a = values(layer.forward(x.clone(), Some(&mask)));
    let b = values(layer.forward(perturb_masked(&x, &device), Some(&mask)));
    assert!(max_diff(&unmasked_rows(&a), &unmasked_rows(&b)) < 1e-5);
}

#[test]
fn feature_attention_blocks_shapes_and_masking() {
    let device = device();
    for kind in [ProjectionKind::Shared, ProjectionKind::FeatureSpecific, ProjectionKind::Composite] {
        let block = FeatureAttentionConfig::new(L, D, 2, 3, 16, kind).init(&device);
        let x = random([B, L, D], &device);
        assert_eq!(block.forward(x.clone(), None).dims(), [B, L, D], "{kind:?}");
        assert_eq!(block.forward_queries(x.clone(), None, 1..3).dims(), [B, 2, D], "{kind:?}");
        let mask = mask(&device);
        let a = values(block.forward(x.clone(), Some(&mask)));
        let b = values(block.forward(perturb_masked(&x, &device), Some(&mask)));
        let differs = max_diff(&unmasked_rows(&a), &unmasked_rows(&b));
        if kind == ProjectionKind::Composite {
            // Composite queries read every token, masked or not: masking hides keys, not inputs.
            assert!(differs > 1e-4, "composite queries mix all tokens");
        } else {
            assert!(differs < 1e-5, "{kind:?}: masked tokens leaked into unmasked outputs ({differs})");
        }
    }
}

#[test]
fn pruned_queries_equal_the_same_rows_of_the_full_layer() {
    let device = device();
    for kind in [ProjectionKind::Shared, ProjectionKind::FeatureSpecific, ProjectionKind::Composite] {
        let block = FeatureAttentionConfig::new(L, D, 2, 4, 16, kind).init(&device);
        let x = random([B, L, D], &device);
        let full = block.forward(x.clone(), None).narrow(1, 2, 2);
        let pruned = block.forward_queries(x, None, 2..4);
        assert!(max_diff(&values(full), &values(pruned)) < 1e-5, "{kind:?}");
    }
}

#[test]
fn composite_projection_with_zero_off_blocks_is_heterogeneous_attention() {
    let device = device();
    let hetero = FeatureAttentionConfig::new(L, D, 2, 4, 16, ProjectionKind::FeatureSpecific).init(&device);
    let x = random([B, L, D], &device);
    let expected = values(hetero.forward(x.clone(), None));
    let composite = hetero.into_composite();
    assert!(matches!(composite.query, QkvProjection::Composite(_)));
    let got = values(composite.forward(x, None));
    assert!(max_diff(&expected, &got) < 1e-5);
}

#[test]
fn full_rank_factorisation_reproduces_the_block() {
    let device = device();
    let block = FeatureAttentionConfig::new(L, D, 2, 4, 16, ProjectionKind::Composite).init(&device);
    let x = random([B, L, D], &device);
    let expected = values(block.forward(x.clone(), None));
    // Composite Q/K/V are [L·D, L·8] = [40, 40]: rank 40 is full.
    let factored = block.low_rank(40);
    assert_eq!(factored.composite_rank(), Some(40));
    assert!(max_diff(&expected, &values(factored.forward(x.clone(), None))) < 1e-4);
    // A low rank changes the outputs (the factorisation is not a no-op).
    let low = factored.low_rank(2);
    assert!(max_diff(&expected, &values(low.forward(x, None))) > 1e-4);
}

/// A Hiformer over 3 single-id fields and 2 numeric features, with its store and one batch.
fn hiformer_setup(device: &Device) -> (HiformerConfig, Ranker, EmbeddingStore, Batch) {
    let layout = FeatureLayout {
        sparse: (0..3).map(|i| SparseFeature { name: format!("f{i}"), cardinality: 5, bag: false, max_len: None }).collect(),
        dense: vec!["x".into(), "y".into()],
    };
    let config = HiformerConfig { embedding_dim: 4, d_head: 2, d_ff: 8, task_tokens: 2, hidden: vec![8], ..Default::default() };
    let model = ModelConfig::Hiformer(config.clone()).init(&layout, device);
    let store = EmbeddingStore::new(
        (0..3).map(|i| TableSpec::exact(format!("f{i}"), 5, 4)).collect(),
        SparseOptimizer::Sgd { lr: 0.1 },
        0.5,
        1,
    );
    let batch = Batch {
        len: 4,
        sparse: (0..3).map(|f| SparseField::Single((0..4).map(|i| ((i + f) % 5) as u32).collect())).collect(),
        dense: vec![0.1, -1.0, 2.0, 0.3, -0.5, 0.0, 1.2, -0.7],
        num_dense: 2,
        labels: vec![1.0, 0.0, 0.0, 1.0],
        example_ids: vec![0, 1, 2, 3],
    };
    (config, model, store, batch)
}

fn logits(model: &Ranker, store: &EmbeddingStore, batch: &Batch, device: &Device) -> Vec<f32> {
    let embedded = EmbeddedBatch::new(store, batch, device, false);
    model.forward(&embedded.input).into_data().try_to_vec().expect("f32")
}

#[test]
fn hiformer_serving_export_at_full_rank_reproduces_the_logits() {
    let device = device();
    let (config, model, store, batch) = hiformer_setup(&device);
    let expected = logits(&model, &store, &batch, &device);
    let Ranker::Hiformer(hiformer) = model else { panic!("hiformer") };
    // 2 task + 3 field + 2 numeric tokens of width 4: Q/K/V are [28, 28].
    let (served, exported) = to_serving(hiformer, &config, Some(28), true).expect("export");
    assert_eq!(exported.low_rank, Some(28));
    assert!(exported.prune_last_layer);
    let got = logits(&Ranker::Hiformer(served), &store, &batch, &device);
    assert!(max_diff(&expected, &got) < 1e-4, "{expected:?} vs {got:?}");
}

#[test]
fn hiformer_pruning_alone_is_exact_and_exported_weights_reload() {
    let device = device();
    let (config, model, store, batch) = hiformer_setup(&device);
    let expected = logits(&model, &store, &batch, &device);
    let Ranker::Hiformer(hiformer) = model else { panic!("hiformer") };
    let (pruned, _) = to_serving(hiformer, &config, None, true).expect("export");
    let pruned = Ranker::Hiformer(pruned);
    assert!(max_diff(&expected, &logits(&pruned, &store, &batch, &device)) < 1e-5);

    // A rank-3 export saved and loaded into the model its config builds gives the same logits.
    let Ranker::Hiformer(hiformer) = pruned else { panic!("hiformer") };
    let (low, exported) = to_serving(hiformer, &config, Some(3), true).expect("export");
    let low = Ranker::Hiformer(low);
    let want = logits(&low, &store, &batch, &device);
    let layout = FeatureLayout {
        sparse: (0..3).map(|i| SparseFeature { name: format!("f{i}"), cardinality: 5, bag: false, max_len: None }).collect(),
        dense: vec!["x".into(), "y".into()],
    };
    let fresh = ModelConfig::Hiformer(exported).init(&layout, &device);
    let reloaded = fresh.load_record(low.into_record());
    assert!(max_diff(&want, &logits(&reloaded, &store, &batch, &device)) < 1e-6);
    assert!(to_serving(match reloaded { Ranker::Hiformer(h) => h, _ => unreachable!() }, &config, Some(0), false).is_err());
}
