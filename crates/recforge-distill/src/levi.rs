//! LEVI (arXiv 2402.04644): a frozen pre-trained model ensembled layer-wise with a small task
//! model trained from scratch; adapters read the concatenation of the pre-trained model's
//! selected intermediate layers and the small model's output, so fine-tuning keeps the
//! pre-trained features (better out of distribution) while the small model fits the task.
//!
//! Implemented form ([R], PAPERS.md §6): for the top `layers` intermediate layers `l` of the
//! frozen model, `z_l = A_l([h_l^pre; h_g; g(x)])` (`h_g`: the small model's shared bottom,
//! `g(x)`: its logit), `ŷ = f_pre(x) + mean_l z_l`, `L = BCE(ŷ, y) + small_weight·BCE(g(x), y)`.
//! The frozen model's own logit is kept as the base so that zero-initialised adapters
//! reproduce its prediction exactly (the ensemble starts where pre-training ended). Only `g`
//! and the adapters train. `head_only` (no `g`, one linear adapter over the last layer) is the
//! head-only fine-tuning baseline.

use std::collections::HashMap;

use burn::nn::Initializer;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Gradients;
use burn::tensor::activation::{relu, sigmoid};
use recforge_data::{Batch, Dataset, FeatureLayout};
use recforge_models::{EmbeddedBatch, ModelInput, Ranker, RankingModel};
use recforge_train::{Objective, ObjectiveError, TrainedModel, bce_with_logits};
use serde::{Deserialize, Serialize};

use crate::held_module::step_held;

/// How this objective names itself in errors.
const OBJECTIVE: &str = "LEVI";

/// `[levi]` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeviOptions {
    /// The newest this share of the task window is held out: its first half validates, its
    /// second half is the in-distribution test (the schema's later test rows are out of distribution).
    pub id_holdout: f64,
    /// How many of the frozen model's top intermediate layers the adapters read.
    pub layers: usize,
    /// Hidden width of each adapter (0: linear).
    pub adapter_hidden: usize,
    /// Weight of the small model's own hard-label loss.
    pub small_weight: f64,
    /// Learning rate of the adapters (Adam).
    pub lr: f64,
    /// Genre shift instead of time shift: rows whose item has any of these values of
    /// `genre_feature` never reach the task model; out of distribution = those rows from the
    /// held-out period (the same time span as the ID test). Empty: the later test rows are OOD.
    pub held_out_genres: Vec<String>,
    /// The multi-categorical feature `held_out_genres` name values of.
    pub genre_feature: String,
    /// Transfer instead of shift: a data schema (relative to the config file) over another
    /// dataset with the same features, read with the pre-trained model's encoder (e.g.
    /// ML-100K aligned to ML-1M). The task, ID and OOD rows then come from its training rows and
    /// later test rows; the pre-trained model stays the one trained on `[data]`.
    pub target_schema: Option<std::path::PathBuf>,
}

impl Default for LeviOptions {
    fn default() -> Self {
        LeviOptions {
            id_holdout: 0.2,
            layers: 2,
            adapter_hidden: 32,
            small_weight: 1.0,
            lr: 0.002,
            held_out_genres: Vec::new(),
            genre_feature: "genre".into(),
            target_schema: None,
        }
    }
}

/// LEVI's evaluation rows: the task split (train / ID valid / ID test) and the OOD test.
#[derive(Debug, Clone, PartialEq)]
pub struct LeviSplit {
    pub task: recforge_data::Split,
    pub ood: Vec<usize>,
}

/// Splits the time-ordered task window `rows`: its newest `holdout` share is held out, the first
/// half of that validating and the second half testing in distribution. Without `shifted`, the
/// OOD test is `later` (rows after the window). With it, rows where `shifted(row)` holds are
/// removed from the task and the shifted rows of the held-out span are the OOD test.
pub fn levi_split(rows: &[usize], later: &[usize], holdout: f64, shifted: Option<&dyn Fn(usize) -> bool>) -> LeviSplit {
    let held = ((rows.len() as f64) * holdout).round() as usize;
    let cut = rows.len() - held.min(rows.len());
    let mid = cut + held / 2;
    let keep = |part: &[usize]| -> Vec<usize> {
        match shifted {
            Some(f) => part.iter().copied().filter(|&r| !f(r)).collect(),
            None => part.to_vec(),
        }
    };
    let task = recforge_data::Split { train: keep(&rows[..cut]), valid: keep(&rows[cut..mid]), test: keep(&rows[mid..]) };
    let ood = match shifted {
        Some(f) => rows[cut..].iter().copied().filter(|&r| f(r)).collect(),
        None => later.to_vec(),
    };
    LeviSplit { task, ood }
}

/// Why a genre shift cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum GenreShiftError {
    #[error("[levi] genre_feature = {0:?}: the dataset has no multi-categorical feature of that name")]
    NoFeature(String),
    #[error("[levi] held_out_genres: {value:?} is not a value of feature {feature:?} (its values: {known})")]
    UnknownValue { feature: String, value: String, known: String },
}

/// Per row: whether its `feature` holds any of `values` (checked against the fitted vocabulary).
pub fn rows_with_values(data: &Dataset, feature: &str, values: &[String]) -> Result<Vec<bool>, GenreShiftError> {
    let no_feature = || GenreShiftError::NoFeature(feature.into());
    let index = data.feature_index(feature).ok_or_else(no_feature)?;
    let recforge_data::Column::Multi { offsets, values: ids } = &data.columns[index] else {
        return Err(no_feature());
    };
    let vocab = data.encoder().and_then(|e| e.vocab(feature)).ok_or_else(no_feature)?;
    let wanted: Vec<u32> = values
        .iter()
        .map(|v| match vocab.id(v) {
            0 => Err(GenreShiftError::UnknownValue {
                feature: feature.into(),
                value: v.clone(),
                known: (1..vocab.len() as u32).filter_map(|i| vocab.token(i)).collect::<Vec<_>>().join(", "),
            }),
            id => Ok(id),
        })
        .collect::<Result<_, _>>()?;
    Ok(offsets.windows(2).map(|w| ids[w[0] as usize..w[1] as usize].iter().any(|id| wanted.contains(id))).collect())
}

/// One adapter: `[n, d_in]` → `[n]`, its output layer zero-initialised.
#[derive(Module, Debug)]
pub struct Adapter {
    hidden: Option<Linear>,
    output: Linear,
}

impl Adapter {
    fn new(d_in: usize, width: usize, device: &Device) -> Self {
        let hidden = (width > 0).then(|| LinearConfig::new(d_in, width).init(device));
        let output = LinearConfig::new(if width > 0 { width } else { d_in }, 1).with_initializer(Initializer::Zeros).init(device);
        Adapter { hidden, output }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let n = x.dims()[0];
        let x = match &self.hidden {
            Some(h) => relu(h.forward(x)),
            None => x,
        };
        self.output.forward(x).reshape([n])
    }
}

/// The adapters over the selected layers.
#[derive(Module, Debug)]
pub struct LeviAdapters {
    adapters: Vec<Adapter>,
}

impl LeviAdapters {
    /// One adapter per selected layer width, reading `[h_l; small]` (`d_small` = 0 for head-only).
    pub fn new(layer_dims: &[usize], d_small: usize, width: usize, device: &Device) -> Self {
        LeviAdapters { adapters: layer_dims.iter().map(|&d| Adapter::new(d + d_small, width, device)).collect() }
    }

    /// `ŷ = base + mean_l A_l([h_l; small])`: `base` `[n]`, `layers` `[n, d_l]`, `small` `[n, d_small]` or `None`.
    pub fn forward(&self, base: Tensor<1>, layers: &[Tensor<2>], small: Option<Tensor<2>>) -> Tensor<1> {
        let count = self.adapters.len().max(1) as f64;
        let mut out = base;
        for (adapter, h) in self.adapters.iter().zip(layers) {
            let x = match &small {
                Some(s) => Tensor::cat(vec![h.clone(), s.clone()], 1),
                None => h.clone(),
            };
            out = out + adapter.forward(x) / count;
        }
        out
    }
}

/// The frozen pre-trained model: weights with gradients off and its embedding tables.
pub struct FrozenModel {
    pub trained: TrainedModel,
    layout: FeatureLayout,
    /// How many top layers to read.
    layers: usize,
    /// The weights on the (autodiff) training device, gradients off, built on first use;
    /// a plain device uses `trained.model` directly.
    on_device: std::sync::OnceLock<Ranker>,
}

/// Why LEVI cannot use a model.
#[derive(Debug, thiserror::Error)]
#[error("LEVI needs a pre-trained mlp or dcn_v2 (intermediate layers) and a small model with a shared bottom; got {0:?}")]
pub struct LeviModelError(pub String);

impl FrozenModel {
    pub fn new(trained: TrainedModel, data: &Dataset, layers: usize) -> Result<Self, LeviModelError> {
        let probe = data.batch(&[0]);
        let embedded = EmbeddedBatch::new(&trained.store, &probe, &Device::default(), false);
        trained.model.forward_layers(&embedded.input).ok_or_else(|| LeviModelError(trained.config.name().into()))?;
        Ok(FrozenModel { layout: data.layout(), trained, layers: layers.max(1), on_device: std::sync::OnceLock::new() })
    }

    /// Widths of the selected (top `layers`) intermediate layers.
    pub fn layer_dims(&self, data: &Dataset) -> Vec<usize> {
        let (_, layers) = self.run(data, &data.batch(&[0]), &Device::default());
        layers.iter().map(|l| l.dims()[1]).collect()
    }

    /// Logits `[n]` and the selected layers, on `device`, with no gradient into the model.
    pub fn run(&self, _data: &Dataset, batch: &Batch, device: &Device) -> (Tensor<1>, Vec<Tensor<2>>) {
        let model: &Ranker = if device.is_autodiff() {
            self.on_device.get_or_init(|| {
                self.trained.config.init(&self.layout, device).load_record(self.trained.model.clone().into_record()).no_grad()
            })
        } else {
            &self.trained.model
        };
        let embedded = EmbeddedBatch::new(&self.trained.store, batch, device, false);
        let (logits, layers) = model.forward_layers(&embedded.input).unwrap_or_else(|| (model.forward(&embedded.input), Vec::new()));
        let skip = layers.len().saturating_sub(self.layers);
        (logits, layers.into_iter().skip(skip).collect())
    }

    /// The frozen model's parameters (as on the training device), for gradient checks.
    pub fn on_device(&self) -> Option<&Ranker> {
        self.on_device.get()
    }
}

/// The LEVI objective: the trained model is the small model `g`; adapters live here.
pub struct LeviObjective<'a> {
    frozen: &'a FrozenModel,
    data: &'a Dataset,
    adapters: Option<LeviAdapters>,
    head_only: bool,
    options: LeviOptions,
    optimizer: ModuleOptimizer,
}

impl<'a> LeviObjective<'a> {
    /// `d_small`: the small model's shared-bottom width (+1 for its logit is added here).
    pub fn new(frozen: &'a FrozenModel, data: &'a Dataset, d_small: usize, head_only: bool, options: LeviOptions, device: &Device) -> Self {
        let dims = frozen.layer_dims(data);
        let adapters = if head_only {
            LeviAdapters::new(&dims[dims.len().saturating_sub(1)..], 0, 0, device)
        } else {
            LeviAdapters::new(&dims, d_small + 1, options.adapter_hidden, device)
        };
        LeviObjective { frozen, data, adapters: Some(adapters), head_only, options, optimizer: AdamConfig::new().init() }
    }

    pub fn adapters(&self) -> Option<&LeviAdapters> {
        self.adapters.as_ref()
    }

    /// The ensemble's logits `[n]` for `batch` (model on `device`).
    pub fn ensemble(&self, adapters: &LeviAdapters, small: &Ranker, input: &ModelInput, batch: &Batch, device: &Device) -> (Tensor<1>, Tensor<1>) {
        let (base, layers) = self.frozen.run(self.data, batch, device);
        let (g_logit, g_hidden) = small.forward_with_hidden(input).unwrap_or_else(|| {
            let l = small.forward(input);
            let n = l.dims()[0];
            (l, Tensor::zeros([n, 0], device))
        });
        let n = g_logit.dims()[0];
        if self.head_only {
            let last = layers.last().cloned().into_iter().collect::<Vec<_>>();
            // g takes part with weight zero, so it stays at its initial state.
            (adapters.forward(base, &last, None) + g_logit.clone() * 0.0, g_logit)
        } else {
            let small_out = Tensor::cat(vec![g_hidden, g_logit.clone().reshape([n, 1])], 1);
            (adapters.forward(base, &layers, Some(small_out)), g_logit)
        }
    }

    /// Probabilities of the trained ensemble on `rows` (evaluation, no autodiff).
    pub fn predict(&self, small: &TrainedModel, rows: &[usize], batch_size: usize) -> Vec<f32> {
        let device = Device::default();
        let Some(adapters) = self.adapters.as_ref() else { return Vec::new() };
        let adapters = adapters.clone().valid();
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(batch_size.max(1)) {
            let batch = self.data.batch(chunk);
            let embedded = EmbeddedBatch::new(&small.store, &batch, &device, false);
            let (logits, _) = self.ensemble(&adapters, &small.model, &embedded.input, &batch, &device);
            out.extend(sigmoid(logits).into_data().try_to_vec::<f32>().unwrap_or_default());
        }
        out
    }
}

impl Objective for LeviObjective<'_> {
    fn loss(&mut self, model: &Ranker, input: &ModelInput, batch: &Batch, device: &Device) -> Result<Tensor<1>, ObjectiveError> {
        let labels = Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [batch.len]), device);
        let Some(adapters) = self.adapters.take() else {
            return Err(ObjectiveError::Misconfigured { objective: OBJECTIVE, reason: "the LEVI adapters were not built (they need the small model's and the large model's layer widths)".into() });
        };
        let (ensemble, g_logit) = self.ensemble(&adapters, model, input, batch, device);
        let small_weight = if self.head_only { 0.0 } else { self.options.small_weight };
        let loss = bce_with_logits(ensemble, labels.clone()) + bce_with_logits(g_logit, labels) * small_weight;
        self.adapters = Some(adapters);
        Ok(loss)
    }

    fn update(&mut self, grads: &mut Gradients, _lr: f64) {
        step_held(&mut self.adapters, &mut self.optimizer, self.options.lr, grads);
    }
}

/// Example id → row, for objectives that look rows up from a batch.
pub fn row_index(data: &Dataset, rows: &[usize]) -> HashMap<u64, usize> {
    rows.iter().map(|&r| (data.example_ids[r], r)).collect()
}

#[cfg(test)]
mod tests {
    use recforge_models::ranking::MlpRankerConfig;
    use recforge_models::ModelConfig;
    use recforge_train::TrainConfig;

    use super::*;
    use crate::test_support::has_gradient as probe;

    #[test]
    fn time_shift_split_holds_out_the_newest_share_and_tests_on_later_rows() {
        let rows: Vec<usize> = (0..10).collect();
        let split = levi_split(&rows, &[10, 11], 0.4, None);
        assert_eq!(split.task.train, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(split.task.valid, vec![6, 7]);
        assert_eq!(split.task.test, vec![8, 9]);
        assert_eq!(split.ood, vec![10, 11]);
    }

    #[test]
    fn genre_shift_split_keeps_shifted_rows_out_of_the_task_and_tests_on_the_held_out_span() {
        let rows: Vec<usize> = (0..10).collect();
        let odd = |r: usize| r % 2 == 1;
        let split = levi_split(&rows, &[10, 11], 0.4, Some(&odd));
        assert_eq!(split.task.train, vec![0, 2, 4]);
        assert_eq!(split.task.valid, vec![6]);
        assert_eq!(split.task.test, vec![8]);
        assert_eq!(split.ood, vec![7, 9], "shifted rows of the held-out span only, not the later rows");
    }

    fn setup() -> (Dataset, TrainedModel, ModelConfig, TrainConfig) {
        let data = recforge_train::bench::synthetic_dataset(64, 3, 20, 0, 7);
        let big = ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 4, hidden: vec![8, 6], dropout: 0.0 });
        let train = TrainConfig::default();
        let pre = TrainedModel::init(&big, &train, &data, &Device::default()).unwrap();
        let small = ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 2, hidden: vec![3], dropout: 0.0 });
        (data, pre, small, train)
    }

    #[test]
    fn zero_initialised_adapters_reproduce_the_frozen_prediction() {
        let (data, pre, small_config, train) = setup();
        let frozen = FrozenModel::new(pre.clone(), &data, 2).unwrap();
        assert_eq!(frozen.layer_dims(&data), vec![8, 6]);
        let small = TrainedModel::init(&small_config, &train, &data, &Device::default()).unwrap();
        let rows: Vec<usize> = (0..20).collect();
        let want = recforge_train::predict(&pre.model, &pre.store, &data, &rows, 7, &Device::default());
        for head_only in [false, true] {
            let objective = LeviObjective::new(&frozen, &data, 3, head_only, LeviOptions::default(), &Device::default());
            let got = objective.predict(&small, &rows, 7);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-6, "head_only {head_only}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn frozen_parts_get_no_gradient_and_trainable_parts_all_do() {
        let (data, pre, small_config, train) = setup();
        let device = Device::default().autodiff();
        let frozen = FrozenModel::new(pre, &data, 2).unwrap();
        let small = TrainedModel::init(&small_config, &train, &data, &device).unwrap();
        let mut objective = LeviObjective::new(&frozen, &data, 3, false, LeviOptions::default(), &device);
        let batch = data.batch(&(0..16).collect::<Vec<_>>());
        let embedded = EmbeddedBatch::new(&small.store, &batch, &device, true);
        let grads = objective.loss(&small.model, &embedded.input, &batch, &device).unwrap().backward();
        let adapters = probe(objective.adapters().unwrap(), &grads);
        assert!(!adapters.is_empty() && adapters.iter().all(|&g| g), "adapters: {adapters:?}");
        let g = probe(&small.model, &grads);
        assert!(g.iter().all(|&x| x), "small model: {g:?}");
        let frozen_seen = probe(frozen.on_device().unwrap(), &grads);
        assert!(!frozen_seen.is_empty() && frozen_seen.iter().all(|&x| !x), "frozen model: {frozen_seen:?}");
    }
}
