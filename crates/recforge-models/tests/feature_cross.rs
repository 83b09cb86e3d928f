//! Every interaction model learns an XOR-like feature cross that logistic regression cannot:
//! `click = [a < 4] xor [b < 4]` over two 8-valued fields (plus a noise field). Each field
//! alone carries no signal and LR's logit is additive in the fields, so LR stays near AUC 0.5.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_data::{Batch, FeatureLayout, SparseFeature, SparseField};
use recforge_models::ranking::{
    AutoIntConfig, DcnStructure, DcnV2Config, HiformerConfig, LrConfig, MlpRankerConfig, TransformerConfig,
};
use recforge_models::{EmbeddedBatch, EmbeddingStore, ModelConfig, RankingModel, SparseOptimizer, TableSpec};

const CARDINALITY: usize = 8;
const FIELDS: usize = 3;
const BATCH: usize = 256;
const STEPS: usize = 250;
const DENSE_LR: f64 = 0.01;

fn layout() -> FeatureLayout {
    FeatureLayout {
        sparse: (0..FIELDS)
            .map(|i| SparseFeature { name: format!("f{i}"), cardinality: CARDINALITY, bag: false, max_len: None })
            .collect(),
        dense: vec!["noise".into()],
    }
}

fn sample(rng: &mut StdRng, len: usize) -> Batch {
    let ids: Vec<Vec<u32>> =
        (0..FIELDS).map(|_| (0..len).map(|_| rng.random_range(0..CARDINALITY as u32)).collect()).collect();
    let labels = (0..len).map(|i| ((ids[0][i] < 4) ^ (ids[1][i] < 4)) as u8 as f32).collect();
    Batch {
        len,
        dense: (0..len).map(|_| rng.random_range(-1.0..1.0)).collect(),
        num_dense: 1,
        sparse: ids.into_iter().map(SparseField::Single).collect(),
        labels,
        example_ids: (0..len as u64).collect(),
    }
}

fn bce(logits: Tensor<1>, labels: &[f32], device: &Device) -> Tensor<1> {
    let y = Tensor::<1>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device);
    let ones = Tensor::<1>::ones([labels.len()], device);
    -(y.clone() * log_sigmoid(logits.clone()) + (ones - y) * log_sigmoid(-logits)).mean()
}

/// AUC by pair counting (ties count half).
fn auc(scores: &[f32], labels: &[f32]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        if labels[i] != 1.0 {
            continue;
        }
        for (j, &sj) in scores.iter().enumerate() {
            if labels[j] == 0.0 {
                pairs += 1.0;
                wins += if si > sj { 1.0 } else if si == sj { 0.5 } else { 0.0 };
            }
        }
    }
    wins / pairs
}

/// Train `config` on fresh XOR batches and return its AUC on held-out examples.
fn trained_auc(config: ModelConfig) -> f64 {
    let device = Device::default().autodiff();
    device.seed(1);
    let mut rng = StdRng::seed_from_u64(5);
    let specs = (0..FIELDS).map(|i| TableSpec::exact(format!("f{i}"), CARDINALITY, config.embedding_dim())).collect();
    let mut store = EmbeddingStore::new(specs, SparseOptimizer::default(), config.embedding_init_scale(), 3);
    let mut model = config.init(&layout(), &device);
    let mut optimizer = AdamConfig::new().init();
    for _ in 0..STEPS {
        let batch = sample(&mut rng, BATCH);
        let embedded = EmbeddedBatch::new(&store, &batch, &device, true);
        let grads = bce(model.forward(&embedded.input), &batch.labels, &device).backward();
        embedded.apply_gradients(&mut store, &grads);
        let grads = GradientsParams::from_grads(grads, &model);
        model = optimizer.step(DENSE_LR, model, grads);
    }
    let plain = Device::default();
    let test = sample(&mut rng, 1000);
    let embedded = EmbeddedBatch::new(&store, &test, &plain, false);
    let scores: Vec<f32> = model.valid().forward(&embedded.input).into_data().try_to_vec().expect("f32");
    auc(&scores, &test.labels)
}

fn assert_learns(config: ModelConfig) {
    let name = config.name();
    let auc = trained_auc(config);
    assert!(auc > 0.9, "{name} reached AUC {auc:.3} on the XOR cross");
}

#[test]
fn logistic_regression_cannot_learn_the_cross() {
    let auc = trained_auc(ModelConfig::Lr(LrConfig {}));
    assert!(auc < 0.6, "LR is additive in the fields, yet reached AUC {auc:.3}");
}

#[test]
fn mlp_learns_the_cross() {
    assert_learns(ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 8, hidden: vec![32], dropout: 0.0 }));
}

#[test]
fn dcn_v2_learns_the_cross() {
    for structure in [DcnStructure::Parallel, DcnStructure::Stacked] {
        assert_learns(ModelConfig::DcnV2(DcnV2Config {
            embedding_dim: 8,
            cross_layers: 2,
            low_rank: Some(4),
            structure,
            hidden: vec![32],
            dropout: 0.0,
        }));
    }
}

#[test]
fn autoint_learns_the_cross() {
    assert_learns(ModelConfig::AutoInt(AutoIntConfig { embedding_dim: 8, layers: 2, heads: 2, d_head: 4, hidden: vec![], dropout: 0.0 }));
}

fn small_transformer() -> TransformerConfig {
    TransformerConfig { embedding_dim: 8, layers: 1, heads: 2, d_head: 4, d_ff: 16, hidden: vec![32], dropout: 0.0 }
}

#[test]
fn transformer_learns_the_cross() {
    assert_learns(ModelConfig::Transformer(small_transformer()));
}

#[test]
fn hetero_attention_learns_the_cross() {
    assert_learns(ModelConfig::HeteroAttention(small_transformer()));
}

#[test]
fn hiformer_learns_the_cross() {
    assert_learns(ModelConfig::Hiformer(HiformerConfig {
        embedding_dim: 8,
        layers: 1,
        d_head: 4,
        d_ff: 16,
        task_tokens: 1,
        hidden: vec![32],
        ..Default::default()
    }));
}
