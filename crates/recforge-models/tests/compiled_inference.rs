//! Compiled inference (`CompiledRanker`) scores exactly what the burn forward pass scores:
//! LR (with and without numeric features), MLP (with and without hidden layers) and DCN-v2
//! (parallel and stacked, full-rank and low-rank crosses), on the shared test batch (a bag
//! field with an empty bag and a repeated id) and on a batch large enough to be split into
//! blocks across threads — and Hiformer (full rank, low rank, last layer pruned, one layer
//! without hidden head layers, with and without numeric tokens) and AutoInt (with and without
//! the parallel MLP, numeric tokens and interacting layers).

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use recforge_data::{Batch, FeatureLayout};
use recforge_models::ranking::{
    AutoIntConfig, CompiledRanker, DcnStructure, DcnV2Config, HiformerConfig, LrConfig, MlpRankerConfig,
};
use recforge_models::{EmbeddedBatch, EmbeddingStore, ModelConfig, Ranker, RankingModel};

mod common;
use common::{batch, layout, local_weights, random_batch, store};

fn burn_scores(model: &Ranker, store: &EmbeddingStore, batch: &Batch) -> Vec<f32> {
    let input = EmbeddedBatch::new(store, batch, &Device::default(), false).input;
    sigmoid(model.forward(&input)).into_data().try_to_vec().unwrap()
}

fn check(config: &ModelConfig, layout: &FeatureLayout, seed: u64) {
    let model = local_weights(config.init(layout, &Device::default()), seed);
    let compiled = CompiledRanker::compile(&model).unwrap_or_else(|| panic!("{} compiles", config.name()));
    let store = store(config.embedding_dim(), seed);
    let mut batches = vec![batch(), random_batch(1000, seed)];
    if layout.dense.is_empty() {
        batches.iter_mut().for_each(|b| {
            b.dense.clear();
            b.num_dense = 0;
        });
    }
    for b in &batches {
        let (got, want) = (compiled.predict(&store, b), burn_scores(&model, &store, b));
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-5, "{} example {i} of {}: compiled {g} vs burn {w}", config.name(), b.len);
        }
        // Not a constant: the weights reach the scores.
        assert!(got.iter().any(|&p| (p - got[0]).abs() > 1e-4), "{}: scores vary", config.name());
    }
}

#[test]
fn lr_scores_equal_burn_with_and_without_numeric_features() {
    check(&ModelConfig::Lr(LrConfig {}), &layout(), 1);
    let mut sparse_only = layout();
    sparse_only.dense.clear();
    check(&ModelConfig::Lr(LrConfig {}), &sparse_only, 2);
}

#[test]
fn mlp_scores_equal_burn() {
    check(&ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 3, hidden: vec![8, 4], dropout: 0.0 }), &layout(), 3);
    check(&ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 4, hidden: vec![], dropout: 0.0 }), &layout(), 4);
}

#[test]
fn dcn_v2_scores_equal_burn_parallel_and_stacked_full_and_low_rank() {
    for structure in [DcnStructure::Parallel, DcnStructure::Stacked] {
        for low_rank in [None, Some(2)] {
            let config = DcnV2Config { embedding_dim: 3, cross_layers: 2, low_rank, structure, hidden: vec![6, 5], dropout: 0.0 };
            check(&ModelConfig::DcnV2(config), &layout(), 5);
        }
    }
}

#[test]
fn hiformer_scores_equal_burn_full_low_rank_and_pruned() {
    let base = HiformerConfig {
        embedding_dim: 4,
        layers: 2,
        heads: 2,
        d_head: 3,
        d_ff: 5,
        task_tokens: 2,
        hidden: vec![6],
        ..Default::default()
    };
    check(&ModelConfig::Hiformer(base.clone()), &layout(), 6);
    check(&ModelConfig::Hiformer(HiformerConfig { low_rank: Some(3), ..base.clone() }), &layout(), 7);
    check(&ModelConfig::Hiformer(HiformerConfig { prune_last_layer: true, ..base.clone() }), &layout(), 8);
    check(&ModelConfig::Hiformer(HiformerConfig { layers: 1, hidden: vec![], task_tokens: 1, ..base.clone() }), &layout(), 9);
    // More queries than one SIMD block (16) and heads of 4 and 9 columns: the attention
    // kernel's second block, its four-keys and four-columns steps and their remainders.
    for (d_head, seed) in [(4, 16), (9, 17)] {
        check(&ModelConfig::Hiformer(HiformerConfig { task_tokens: 17, d_head, ..base.clone() }), &layout(), seed);
    }
    let mut sparse_only = layout();
    sparse_only.dense.clear();
    check(&ModelConfig::Hiformer(base), &sparse_only, 10);
}

#[test]
fn autoint_scores_what_burn_scores() {
    let base = AutoIntConfig { embedding_dim: 4, layers: 2, heads: 2, d_head: 5, hidden: vec![], dropout: 0.0 };
    check(&ModelConfig::AutoInt(base.clone()), &layout(), 11);
    // AutoInt+ (the parallel MLP), one layer, no numeric tokens, and no layer at all.
    check(&ModelConfig::AutoInt(AutoIntConfig { hidden: vec![5], layers: 1, ..base.clone() }), &layout(), 12);
    let mut sparse_only = layout();
    sparse_only.dense.clear();
    check(&ModelConfig::AutoInt(base.clone()), &sparse_only, 13);
    check(&ModelConfig::AutoInt(AutoIntConfig { layers: 0, ..base.clone() }), &layout(), 14);
    check(&ModelConfig::AutoInt(AutoIntConfig { layers: 0, ..base }), &sparse_only, 15);
}
