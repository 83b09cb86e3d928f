//! Finite-difference gradient checks: the gradients autodiff returns to the EmbeddingStore and
//! to the model inputs must match central differences of the loss, for every ranking model, at
//! several weight seeds. Weights come from a local RNG (no process-wide seed, no lock between
//! parallel tests); coordinates whose difference quotient changes with the step size sit on a
//! kink and are skipped (at most 10% of them).

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use recforge_models::ranking::{
    AutoIntConfig, DcnStructure, DcnV2Config, HiformerConfig, LrConfig, MlpRankerConfig, TransformerConfig,
};
use recforge_models::{EmbeddedBatch, EmbeddingStore, ModelConfig, ModelInput, RankingModel};

mod common;
use common::{Tally, batch, layout, local_weights, smooth_difference, store};

/// Small enough for LayerNorm over 4-wide tokens (strongly curved), large enough for f32.
const EPS: f32 = 3e-3;

/// Sum (not mean) of per-example BCE, in f64-friendly form for finite differences.
fn loss_sum(logits: Tensor<1>, labels: &[f32], device: &Device) -> Tensor<1> {
    let y = Tensor::<1>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device);
    let ones = Tensor::<1>::ones([labels.len()], device);
    -(y.clone() * log_sigmoid(logits.clone()) + (ones - y) * log_sigmoid(-logits)).sum()
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

/// Weight seeds each model is checked at.
const SEEDS: [u64; 3] = [1, 2, 3];

fn check_model(config: ModelConfig) {
    for seed in SEEDS {
        check_model_at(&config, seed);
    }
}

fn check_model_at(config: &ModelConfig, seed: u64) {
    let device = Device::default().autodiff();
    let plain = Device::default();
    let model = local_weights(config.init(&layout(), &device), seed);
    let name = format!("{} (weights seed {seed})", config.name());
    let dim = config.embedding_dim();
    let batch = batch();
    let mut base = store(dim, 11 + seed);
    // Give LR's zero-initialised tables non-zero values too.
    for table in 0..2 {
        for (i, w) in base.table_mut(table).iter_mut().enumerate() {
            *w += 0.05 * ((i * 7 % 5) as f32 - 2.0);
        }
    }

    // Autodiff gradient of the summed loss, read back through an SGD(lr = 1) step.
    let embedded = EmbeddedBatch::new(&base, &batch, &device, true);
    let grads = loss_sum(model.forward(&embedded.input), &batch.labels, &device).backward();
    let mut stepped = base.clone();
    embedded.apply_gradients(&mut stepped, &grads);

    let plain_model = model.valid();
    let loss_at = |s: &EmbeddingStore| {
        let e = EmbeddedBatch::new(s, &batch, &plain, false);
        scalar(loss_sum(plain_model.forward(&e.input), &batch.labels, &plain))
    };
    let mut tally = Tally::default();
    for table in 0..2 {
        for i in 0..base.table(table).len() {
            let analytic = base.table(table)[i] - stepped.table(table)[i];
            let numeric = smooth_difference(EPS, |delta| {
                let mut moved = base.clone();
                moved.table_mut(table)[i] += delta;
                loss_at(&moved)
            });
            tally.compare(&format!("{name}: table {table} weight {i}"), analytic as f64, numeric);
        }
    }
    assert_eq!(tally.checked + tally.skipped, 4 * dim + 6 * dim);
    // Rows the batch never touched get exactly zero gradient (tags row 0 is unused).
    assert_eq!(&base.table(1)[..dim], &stepped.table(1)[..dim]);

    // Gradient with respect to the numeric inputs, through the whole dense model.
    let fields = EmbeddedBatch::new(&base, &batch, &plain, false).input.fields;
    let dense_values = batch.dense.clone();
    let dense = Tensor::<2>::from_data(TensorData::new(dense_values.clone(), [4, 2]), &device).require_grad();
    let input = ModelInput { fields: fields.clone().autodiff(), dense: Some(dense.clone()) };
    let grads = loss_sum(model.forward(&input), &batch.labels, &device).backward();
    let analytic: Vec<f32> = dense.grad(&grads).expect("dense input gradient").into_data().try_to_vec().unwrap();
    for i in 0..dense_values.len() {
        let numeric = smooth_difference(EPS, |delta| {
            let mut values = dense_values.clone();
            values[i] += delta;
            let dense = Tensor::<2>::from_data(TensorData::new(values, [4, 2]), &plain);
            let input = ModelInput { fields: fields.clone(), dense: Some(dense) };
            scalar(loss_sum(plain_model.forward(&input), &batch.labels, &plain))
        });
        tally.compare(&format!("{name}: dense input {i}"), analytic[i] as f64, numeric);
    }
    tally.assert_mostly_checked(&name);
}

#[test]
fn logistic_regression_gradients_match_finite_differences() {
    check_model(ModelConfig::Lr(LrConfig {}));
}

#[test]
fn mlp_gradients_match_finite_differences() {
    check_model(ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 3, hidden: vec![8, 4], dropout: 0.0 }));
}

#[test]
fn dcn_v2_gradients_match_finite_differences() {
    for (structure, low_rank) in [(DcnStructure::Parallel, None), (DcnStructure::Stacked, Some(2))] {
        check_model(ModelConfig::DcnV2(DcnV2Config {
            embedding_dim: 3,
            cross_layers: 2,
            low_rank,
            structure,
            hidden: vec![6],
            dropout: 0.0,
        }));
    }
}

#[test]
fn autoint_gradients_match_finite_differences() {
    for hidden in [vec![], vec![5]] {
        check_model(ModelConfig::AutoInt(AutoIntConfig { embedding_dim: 3, layers: 2, heads: 2, d_head: 2, hidden, dropout: 0.0 }));
    }
}

fn small_transformer() -> TransformerConfig {
    TransformerConfig { embedding_dim: 4, layers: 2, heads: 2, d_head: 2, d_ff: 6, hidden: vec![5], dropout: 0.0 }
}

#[test]
fn transformer_gradients_match_finite_differences() {
    check_model(ModelConfig::Transformer(small_transformer()));
}

#[test]
fn hetero_attention_gradients_match_finite_differences() {
    check_model(ModelConfig::HeteroAttention(small_transformer()));
}

#[test]
fn hiformer_gradients_match_finite_differences() {
    let base = HiformerConfig { embedding_dim: 4, layers: 2, d_head: 2, d_ff: 6, task_tokens: 2, hidden: vec![5], ..Default::default() };
    check_model(ModelConfig::Hiformer(base.clone()));
    // The serving form (factorised Q/K/V, pruned last layer) is differentiable too (fine-tuning).
    check_model(ModelConfig::Hiformer(HiformerConfig { low_rank: Some(3), prune_last_layer: true, ..base }));
}

#[test]
fn bag_fields_are_mean_pooled() {
    let device = Device::default();
    let s = store(2, 5);
    let embedded = EmbeddedBatch::new(&s, &batch(), &device, false);
    let fields: Vec<f32> = embedded.input.fields.into_data().try_to_vec().unwrap();
    // Example 3 (index 3) pools tags {3, 4, 3}: mean of rows 3, 4, 3; field 1, dims 0..2.
    let tags = s.table(1);
    for d in 0..2 {
        let expected = (2.0 * tags[3 * 2 + d] + tags[4 * 2 + d]) / 3.0;
        let got = fields[3 * 4 + 2 + d];
        assert!((got - expected).abs() < 1e-6, "dim {d}: {got} vs {expected}");
    }
    // Example 1 has an empty bag: zeros.
    assert_eq!(&fields[4 + 2..4 + 4], &[0.0, 0.0]);
}
