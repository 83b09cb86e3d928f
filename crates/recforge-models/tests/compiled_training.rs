//! Compiled training (`CompiledTrainer`) computes what burn's autodiff computes, for LR (with
//! and without numeric features), MLP (with and without hidden layers), DCN-v2 (parallel and
//! stacked, full-rank and low-rank crosses) and Hiformer (two layers with a head MLP, and one
//! layer without numeric tokens or hidden head layers; one with more tokens than a SIMD block of
//! queries and a head wider than a vector) and AutoInt (two layers; AutoInt+ without numeric
//! tokens; no interacting layer), on the shared test batch (a bag field with an
//! empty bag and a repeated id) and on a batch large enough to be split across threads:
//! - the loss, every dense parameter's gradient and the embedded input's gradient agree with
//!   burn's backward pass;
//! - the gradients agree with central finite differences of the compiled loss;
//! - one step (dense Adam and AdamW, row-wise updates of the tables) leaves the same weights
//!   and tables as burn's optimizer and `EmbeddedBatch::apply_gradients`;
//! - models with dropout and Hiformer's serving forms are left to burn.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_data::{Batch, FeatureLayout};
use recforge_models::ranking::{
    AutoIntConfig, CompiledTrainer, DcnStructure, DcnV2Config, DenseRule, HiformerConfig, LrConfig, MlpRankerConfig,
};
use recforge_models::{EmbeddedBatch, EmbeddingStore, ModelConfig, Ranker, RankingModel};

mod common;
use common::{Tally, batch, layout, local_weights, random_batch, smooth_difference, store};

/// Every configuration compiled training covers, with the layout it is checked on.
fn configs() -> Vec<(ModelConfig, FeatureLayout)> {
    let mut sparse_only = layout();
    sparse_only.dense.clear();
    let mut configs = vec![
        (ModelConfig::Lr(LrConfig {}), layout()),
        (ModelConfig::Lr(LrConfig {}), sparse_only.clone()),
        (ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 3, hidden: vec![8, 4], dropout: 0.0 }), layout()),
        (ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 4, hidden: vec![], dropout: 0.0 }), layout()),
    ];
    for structure in [DcnStructure::Parallel, DcnStructure::Stacked] {
        for low_rank in [None, Some(2)] {
            let config = DcnV2Config { embedding_dim: 3, cross_layers: 2, low_rank, structure, hidden: vec![6, 5], dropout: 0.0 };
            configs.push((ModelConfig::DcnV2(config), layout()));
        }
    }
    let hiformer = hiformer();
    configs.push((ModelConfig::Hiformer(hiformer.clone()), layout()));
    let one_layer = HiformerConfig { layers: 1, hidden: vec![], task_tokens: 1, ..hiformer.clone() };
    configs.push((ModelConfig::Hiformer(one_layer), sparse_only.clone()));
    // More tokens than one SIMD block of queries (16) and a head wider than one vector: the
    // attention kernels' second block and second column chunk.
    let wide = HiformerConfig { layers: 1, heads: 1, d_head: 17, task_tokens: 17, hidden: vec![], ..hiformer.clone() };
    configs.push((ModelConfig::Hiformer(wide), layout()));
    // AutoInt: two layers (the second reads the first's heads), AutoInt+ with its MLP and
    // without numeric tokens, and no interacting layer at all.
    configs.push((ModelConfig::AutoInt(autoint()), layout()));
    configs.push((ModelConfig::AutoInt(AutoIntConfig { hidden: vec![5], layers: 1, ..autoint() }), sparse_only.clone()));
    configs.push((ModelConfig::AutoInt(AutoIntConfig { layers: 0, ..autoint() }), layout()));
    configs
}

fn autoint() -> AutoIntConfig {
    AutoIntConfig { embedding_dim: 4, layers: 2, heads: 2, d_head: 3, hidden: vec![], dropout: 0.0 }
}

fn hiformer() -> HiformerConfig {
    HiformerConfig { embedding_dim: 4, layers: 2, heads: 2, d_head: 3, d_ff: 5, task_tokens: 2, hidden: vec![6], ..Default::default() }
}

/// Random 0/1 labels, and no numeric columns when `layout` has none.
fn fitted(mut b: Batch, layout: &FeatureLayout, seed: u64) -> Batch {
    let mut rng = StdRng::seed_from_u64(seed);
    b.labels = (0..b.len).map(|_| f32::from(rng.random_bool(0.4))).collect();
    if layout.dense.is_empty() {
        b.dense.clear();
        b.num_dense = 0;
    }
    b
}

/// The batches every check runs on: the shared four examples, and 700 random ones (several
/// blocks on each thread).
fn batches(layout: &FeatureLayout, seed: u64) -> Vec<Batch> {
    vec![fitted(batch(), layout, seed), fitted(random_batch(700, seed), layout, seed + 1)]
}

fn autodiff_model(config: &ModelConfig, layout: &FeatureLayout, seed: u64) -> Ranker {
    local_weights(config.init(layout, &Device::default().autodiff()), seed)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// burn's mean BCE (the trainer's `bce_with_logits`).
fn bce(logits: Tensor<1>, labels: &[f32], device: &Device) -> Tensor<1> {
    let labels = Tensor::<1>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device);
    (relu(logits.clone()) - logits.clone() * labels + logits.abs().neg().exp().log1p()).mean()
}

/// Every float parameter's gradient, by parameter id.
struct ParamGrads<'a> {
    grads: &'a burn::tensor::Gradients,
    out: HashMap<ParamId, Vec<f32>>,
}

impl ModuleVisitor for ParamGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = param.val().grad(self.grads) {
            self.out.insert(param.id, values(grad));
        }
    }
}

/// burn's loss, parameter gradients and the embedded fields' gradient `[batch, fields × dim]`.
fn burn_gradients(model: &Ranker, store: &EmbeddingStore, batch: &Batch) -> (f64, HashMap<ParamId, Vec<f32>>, Vec<f32>) {
    let device = Device::default().autodiff();
    let embedded = EmbeddedBatch::new(store, batch, &device, true);
    let loss = bce(model.forward(&embedded.input), &batch.labels, &device);
    let grads = loss.backward();
    let mut visitor = ParamGrads { grads: &grads, out: HashMap::new() };
    model.visit(&mut visitor);
    let fields = embedded.input.fields.grad(&grads).map(values).unwrap_or_default();
    (loss.into_scalar::<f32>() as f64, visitor.out, fields)
}

fn close(got: f32, want: f32) -> bool {
    (got - want).abs() <= 1e-5 + 1e-4 * want.abs()
}

#[test]
fn gradients_equal_burns() {
    for (i, (config, layout)) in configs().into_iter().enumerate() {
        let seed = 10 + i as u64;
        let model = autodiff_model(&config, &layout, seed);
        let store = store(config.embedding_dim(), seed);
        let trainer = CompiledTrainer::new(&model, DenseRule::Adam { weight_decay: 0.0 })
            .unwrap_or_else(|| panic!("{} trains compiled", config.name()));
        for b in batches(&layout, seed) {
            let what = format!("{} on {} examples", config.name(), b.len);
            let got = trainer.gradients(&store, &b);
            let (loss, params, fields) = burn_gradients(&model, &store, &b);
            assert!((got.loss - loss).abs() < 1e-5, "{what}: loss {} vs burn {loss}", got.loss);
            assert!(!params.is_empty());
            for (id, want) in &params {
                let (offset, len) = trainer.slot(*id).unwrap_or_else(|| panic!("{what}: a burn parameter is not trained"));
                assert_eq!(len, want.len());
                for (j, (g, w)) in got.dense[offset..offset + len].iter().zip(want).enumerate() {
                    assert!(close(*g, *w), "{what}: parameter at {offset}, element {j}: compiled {g} vs burn {w}");
                }
            }
            let covered: usize = params.values().map(Vec::len).sum();
            assert_eq!(covered, trainer.parameters().len(), "{what}: every compiled parameter is a burn parameter");
            let width = got.inputs.len() / b.len;
            let field_width = fields.len() / b.len;
            for (e, (row, want)) in got.inputs.chunks_exact(width).zip(fields.chunks_exact(field_width)).enumerate() {
                for (j, (g, w)) in row[..field_width].iter().zip(want).enumerate() {
                    assert!(close(*g, *w), "{what}: example {e}, input {j}: compiled {g} vs burn {w}");
                }
            }
            assert!(got.dense.iter().any(|g| g.abs() > 1e-4), "{what}: the gradient is not all zero");
        }
    }
}

/// `model` with one element of parameter `id` moved by `delta`.
struct Nudge {
    id: ParamId,
    index: usize,
    delta: f32,
}

impl ModuleMapper for Nudge {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.id != self.id {
            return param;
        }
        param.map(|tensor| {
            let shape = tensor.shape();
            let mut v = values(tensor.clone());
            v[self.index] += self.delta;
            Tensor::<D>::from_data(TensorData::new(v, shape), &tensor.device()).set_require_grad(tensor.is_require_grad())
        })
    }
}

#[test]
fn gradients_equal_finite_differences() {
    for (i, (config, layout)) in configs().into_iter().enumerate() {
        let seed = 30 + i as u64;
        // f64 differences of an f32 loss: a plain (non-autodiff) model, larger weights.
        let model = local_weights(config.init(&layout, &Device::default()), seed);
        let store = store(config.embedding_dim(), seed);
        let b = fitted(batch(), &layout, seed);
        let rule = DenseRule::Adam { weight_decay: 0.0 };
        let trainer = CompiledTrainer::new(&model, rule).unwrap();
        let grads = trainer.gradients(&store, &b);
        let mut ids = HashMap::new();
        model.visit(&mut Ids(&mut ids));
        let mut tally = Tally::default();
        for (id, len) in ids {
            let (offset, _) = trainer.slot(id).unwrap();
            // A few elements of every parameter tensor.
            for index in (0..len).step_by(len.div_ceil(4).max(1)) {
                let loss_at = |delta: f32| {
                    let nudged = model.clone().map(&mut Nudge { id, index, delta });
                    CompiledTrainer::new(&nudged, rule).unwrap().gradients(&store, &b).loss
                };
                let what = format!("{} parameter at {offset}, element {index}", config.name());
                tally.compare(&what, grads.dense[offset + index] as f64, smooth_difference(1e-2, loss_at));
            }
        }
        tally.assert_mostly_checked(config.name());
    }
}

/// Every float parameter's id and length.
struct Ids<'a>(&'a mut HashMap<ParamId, usize>);

impl ModuleVisitor for Ids<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.insert(param.id, param.val().shape().num_elements());
    }
}

/// Every float parameter's values, by id.
struct Weights(HashMap<ParamId, Vec<f32>>);

impl ModuleVisitor for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.insert(param.id, values(param.val()));
    }
}

fn weights(model: &Ranker) -> HashMap<ParamId, Vec<f32>> {
    let mut visitor = Weights(HashMap::new());
    model.visit(&mut visitor);
    visitor.0
}

#[test]
fn three_steps_leave_the_weights_and_tables_burn_leaves() {
    let lr = 0.01;
    for rule in [DenseRule::Adam { weight_decay: 0.0 }, DenseRule::AdamW { weight_decay: 0.05 }] {
        for (i, (config, layout)) in configs().into_iter().enumerate() {
            let seed = 50 + i as u64;
            let what = format!("{} under {rule:?}", config.name());
            let start = autodiff_model(&config, &layout, seed);
            let mut trainer = CompiledTrainer::new(&start, rule).unwrap();
            let (mut compiled_store, mut burn_store) = (store(config.embedding_dim(), seed), store(config.embedding_dim(), seed));
            let mut model = start.clone();
            let mut optimizer: ModuleOptimizer = match rule {
                DenseRule::Adam { .. } => AdamConfig::new().init(),
                DenseRule::AdamW { weight_decay } => AdamWConfig::new().with_weight_decay(weight_decay).init(),
            };
            let device = Device::default().autodiff();
            for step in 0..3 {
                let b = fitted(random_batch(300, seed + step), &layout, seed + step);
                trainer.step(&mut compiled_store, &b, lr);
                let embedded = EmbeddedBatch::new(&burn_store, &b, &device, true);
                let loss = bce(model.forward(&embedded.input), &b.labels, &device);
                let grads = loss.backward();
                embedded.apply_gradients(&mut burn_store, &grads);
                let grads = GradientsParams::from_grads(grads, &model);
                model = optimizer.step(lr, model, grads);
            }
            let trained = weights(&trainer.write_back(start.clone()));
            let before = weights(&start);
            let moved = trained.iter().any(|(id, got)| got.iter().zip(&before[id]).any(|(a, b)| a != b));
            assert!(moved, "{what}: the weights moved");
            for (id, want) in weights(&model) {
                let got = &trained[&id];
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() <= 1e-5, "{what}: element {j}: compiled {g} vs burn {w}");
                }
            }
            for table in 0..compiled_store.specs().len() {
                for (j, (g, w)) in compiled_store.table(table).iter().zip(burn_store.table(table)).enumerate() {
                    assert!((g - w).abs() <= 1e-5, "{what}: table {table}, weight {j}: compiled {g} vs burn {w}");
                }
            }
        }
    }
}

#[test]
fn dropout_and_hiformer_serving_forms_stay_on_burn() {
    let device = Device::default().autodiff();
    let rule = DenseRule::Adam { weight_decay: 0.0 };
    let dropout = ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 3, hidden: vec![4], dropout: 0.1 });
    assert!(CompiledTrainer::new(&dropout.init(&layout(), &device), rule).is_none());
    let autoint_dropout = ModelConfig::AutoInt(AutoIntConfig { hidden: vec![4], dropout: 0.1, ..autoint() });
    assert!(CompiledTrainer::new(&autoint_dropout.init(&layout(), &device), rule).is_none());
    for serving in [HiformerConfig { low_rank: Some(2), ..hiformer() }, HiformerConfig { prune_last_layer: true, ..hiformer() }] {
        assert!(CompiledTrainer::new(&ModelConfig::Hiformer(serving).init(&layout(), &device), rule).is_none());
    }
    let hiformer_dropout = ModelConfig::Hiformer(HiformerConfig { dropout: 0.1, ..hiformer() });
    assert!(CompiledTrainer::new(&hiformer_dropout.init(&layout(), &device), rule).is_none());
}
