//! The hooks knowledge transfer reads models through (recforge-distill: Talking Models, the
//! committee's answers, LEVI): `forward_with_hidden`, `head_from_hidden` and `forward_layers`
//! must agree with the plain forward pass, and models without a shared bottom say so.

use burn::prelude::*;
use recforge_models::ranking::{AutoIntConfig, DcnStructure, DcnV2Config, HiformerConfig, LrConfig, MlpRankerConfig};
use recforge_models::{EmbeddedBatch, ModelConfig, ModelInput, Ranker, RankingModel};

mod common;
use common::{batch, layout, store};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() < 1e-5, "{what}[{i}]: {a} vs {b}");
    }
}

fn model_and_input(config: &ModelConfig) -> (Ranker, ModelInput) {
    let device = Device::default();
    let model = config.init(&layout(), &device);
    let input = EmbeddedBatch::new(&store(config.embedding_dim(), 5), &batch(), &device, false).input;
    (model, input)
}

/// The shared bottom's logits equal the forward pass, and the head alone maps it back to them.
fn check_hidden_and_head(model: &Ranker, input: &ModelInput) -> Vec<f32> {
    let logits = values(model.forward(input));
    let (with_hidden, hidden) = model.forward_with_hidden(input).expect("a shared bottom");
    assert_close(&values(with_hidden), &logits, "forward_with_hidden logits");
    assert_eq!(hidden.dims()[0], 4, "one hidden row per example");
    let head = model.head_from_hidden(hidden).expect("a head");
    assert_close(&values(head), &logits, "head_from_hidden(hidden)");
    logits
}

#[test]
fn mlp_layers_are_every_hidden_layer_and_the_last_is_the_shared_bottom() {
    let config = ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 3, hidden: vec![8, 4], dropout: 0.0 });
    let (model, input) = model_and_input(&config);
    let logits = check_hidden_and_head(&model, &input);
    let (layer_logits, layers) = model.forward_layers(&input).expect("MLP layers");
    assert_close(&values(layer_logits), &logits, "forward_layers logits");
    assert_eq!(layers.iter().map(|l| l.dims()).collect::<Vec<_>>(), vec![[4, 8], [4, 4]]);
    let (_, hidden) = model.forward_with_hidden(&input).unwrap();
    assert_close(&values(layers[1].clone()), &values(hidden), "last layer vs shared bottom");
}

#[test]
fn dcn_v2_layers_are_the_cross_output_then_the_deep_layers() {
    for structure in [DcnStructure::Parallel, DcnStructure::Stacked] {
        let config = ModelConfig::DcnV2(DcnV2Config {
            embedding_dim: 3,
            cross_layers: 2,
            low_rank: None,
            structure,
            hidden: vec![6, 5],
            dropout: 0.0,
        });
        let (model, input) = model_and_input(&config);
        let logits = check_hidden_and_head(&model, &input);
        let (layer_logits, layers) = model.forward_layers(&input).expect("DCN-v2 layers");
        assert_close(&values(layer_logits), &logits, "forward_layers logits");
        // Cross output over the 2 fields × 3 + 2 numeric inputs, then the deep layers.
        assert_eq!(layers.iter().map(|l| l.dims()).collect::<Vec<_>>(), vec![[4, 8], [4, 6], [4, 5]], "{structure:?}");
    }
}

#[test]
fn hiformer_has_a_shared_bottom_and_head_but_no_layer_list() {
    let config = ModelConfig::Hiformer(HiformerConfig {
        embedding_dim: 4,
        layers: 2,
        d_head: 2,
        d_ff: 6,
        task_tokens: 2,
        hidden: vec![5],
        ..Default::default()
    });
    let (model, input) = model_and_input(&config);
    check_hidden_and_head(&model, &input);
    assert!(model.forward_layers(&input).is_none());
}

#[test]
fn models_without_a_shared_bottom_return_none() {
    for config in [
        ModelConfig::Lr(LrConfig {}),
        ModelConfig::AutoInt(AutoIntConfig { embedding_dim: 3, layers: 1, heads: 2, d_head: 2, hidden: vec![], dropout: 0.0 }),
    ] {
        let (model, input) = model_and_input(&config);
        assert!(model.forward_with_hidden(&input).is_none(), "{}", config.name());
        assert!(model.forward_layers(&input).is_none(), "{}", config.name());
        let hidden = Tensor::<2>::zeros([4, 3], &Device::default());
        assert!(model.head_from_hidden(hidden).is_none(), "{}", config.name());
    }
}
