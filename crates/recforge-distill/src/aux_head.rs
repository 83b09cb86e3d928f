//! Auxiliary-head distillation (arXiv 2408.14678): the student's shared bottom feeds a main
//! head trained on hard labels only and an auxiliary head trained on the teacher's soft label;
//! only the main head is served, so teacher bias does not leak into serving.
//!
//! Modes per student: `none` (hard labels), `direct` (soft label on the served head),
//! `aux` (soft label on a separate head over [`recforge_models::Ranker::forward_with_hidden`]).
//! The auxiliary head lives in the [`DistillObjective`], never in the trained model, so the
//! served artifact is exactly the plain student.

use std::collections::HashMap;

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Gradients;
use recforge_data::Batch;
use recforge_models::layers::{Mlp, MlpConfig};
use recforge_models::{ModelInput, Ranker, RankingModel};
use recforge_train::{Objective, ObjectiveError, bce_with_logits};
use serde::{Deserialize, Serialize};

use crate::held_module::step_held;
use crate::kd::KdConfig;

/// How this objective names itself in errors.
const OBJECTIVE: &str = "auxiliary-head distillation";

/// Where the teacher's soft label enters the student.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KdMode {
    /// Hard labels only (the baseline).
    None,
    /// Soft label on the served head, beside the hard label.
    Direct,
    /// Soft label on an auxiliary head over the shared bottom; the served head sees hard labels.
    #[default]
    Aux,
}

impl KdMode {
    pub fn name(self) -> &'static str {
        match self {
            KdMode::None => "none",
            KdMode::Direct => "direct",
            KdMode::Aux => "aux",
        }
    }
}

/// The auxiliary head: an MLP over the shared bottom `[batch, d_hidden]` → logit `[batch]`.
#[derive(Module, Debug)]
pub struct AuxHead {
    mlp: Mlp,
}

/// Sizes of an [`AuxHead`].
#[derive(Config, Debug)]
pub struct AuxHeadConfig {
    /// Width of the shared bottom the head reads.
    pub d_hidden: usize,
    /// Hidden widths of the head (empty: one linear layer).
    #[config(default = "Vec::new()")]
    pub hidden: Vec<usize>,
}

impl AuxHeadConfig {
    pub fn init(&self, device: &Device) -> AuxHead {
        AuxHead { mlp: MlpConfig::new(self.d_hidden, self.hidden.clone(), 1).init(device) }
    }
}

impl AuxHead {
    /// `[batch, d_hidden]` → logits `[batch]`.
    pub fn forward(&self, hidden: Tensor<2>) -> Tensor<1> {
        let size = hidden.dims()[0];
        self.mlp.forward(hidden).reshape([size])
    }
}

/// Why a student cannot be distilled.
#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    #[error(
        "model kind {kind:?} has no shared bottom for an auxiliary head; use mode = \"direct\" or a \
         model with one (mlp, dcn_v2, hiformer)"
    )]
    NoSharedBottom { kind: String },
    #[error("no teacher label for example id {id} (teacher version {version}); label the training rows first")]
    MissingLabel { id: u64, version: u64 },
}

/// The student objective of one [`KdMode`]: `task_weight·BCE(main, y)` plus
/// `kd_weight·L_KD(head, t)` where the head is the main one (`direct`) or the auxiliary one
/// (`aux`). Teacher logits are looked up by example id.
pub struct DistillObjective<'a> {
    mode: KdMode,
    kd: KdConfig,
    teacher: &'a HashMap<u64, f32>,
    version: u64,
    aux: Option<AuxHead>,
    optimizer: ModuleOptimizer,
    /// The first example id of a batch that had no teacher label (training stops on it).
    missing: Option<u64>,
}

impl<'a> DistillObjective<'a> {
    /// An objective for `mode`; `aux` needs `d_hidden` (the width of the student's shared
    /// bottom, see [`shared_bottom_width`]). `device` must have autodiff for training.
    pub fn new(
        mode: KdMode,
        kd: KdConfig,
        teacher: &'a HashMap<u64, f32>,
        version: u64,
        aux_head: Option<AuxHeadConfig>,
        device: &Device,
    ) -> Self {
        let aux = match mode {
            KdMode::Aux => aux_head.map(|c| c.init(device)),
            _ => None,
        };
        DistillObjective { mode, kd, teacher, version, aux, optimizer: AdamConfig::new().init(), missing: None }
    }

    /// The auxiliary head, when the mode has one.
    pub fn aux_head(&self) -> Option<&AuxHead> {
        self.aux.as_ref()
    }

    /// Fails if any batch lacked a teacher label.
    pub fn check(&self) -> Result<(), DistillError> {
        match self.missing {
            Some(id) => Err(DistillError::MissingLabel { id, version: self.version }),
            None => Ok(()),
        }
    }

    fn teacher_logits(&mut self, batch: &Batch, device: &Device) -> Result<Tensor<1>, ObjectiveError> {
        let mut missing = 0;
        let logits: Vec<f32> = batch
            .example_ids
            .iter()
            .map(|id| match self.teacher.get(id) {
                Some(&t) => t,
                None => {
                    self.missing.get_or_insert(*id);
                    missing += 1;
                    0.0
                }
            })
            .collect();
        if missing > 0 {
            return Err(ObjectiveError::MissingTeacherLabels { objective: OBJECTIVE, missing });
        }
        Ok(Tensor::from_data(TensorData::new(logits, [batch.len]), device))
    }
}

impl Objective for DistillObjective<'_> {
    fn loss(&mut self, model: &Ranker, input: &ModelInput, batch: &Batch, device: &Device) -> Result<Tensor<1>, ObjectiveError> {
        let labels = Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [batch.len]), device);
        match (self.mode, &self.aux) {
            (KdMode::None, _) => Ok(bce_with_logits(model.forward(input), labels)),
            (KdMode::Direct, _) => {
                let logits = model.forward(input);
                let teacher = self.teacher_logits(batch, device)?;
                Ok(bce_with_logits(logits.clone(), labels) * self.kd.task_weight + self.kd.kd_loss(logits, teacher) * self.kd.kd_weight)
            }
            (KdMode::Aux, Some(_)) => {
                let Some((logits, hidden)) = model.forward_with_hidden(input) else {
                    return Err(ObjectiveError::Misconfigured { objective: OBJECTIVE, reason: "the student model exposes no shared hidden layer; use a model with a shared bottom (mlp, dcn_v2, hiformer)".into() });
                };
                let teacher = self.teacher_logits(batch, device)?;
                let Some(aux) = &self.aux else { unreachable!("matched Some above") };
                let aux_logits = aux.forward(hidden);
                Ok(bce_with_logits(logits, labels) * self.kd.task_weight + self.kd.kd_loss(aux_logits, teacher) * self.kd.kd_weight)
            }
            (KdMode::Aux, None) => Err(ObjectiveError::Misconfigured { objective: OBJECTIVE, reason: "the student model exposes no shared hidden layer; use a model with a shared bottom (mlp, dcn_v2, hiformer)".into() }),
        }
    }

    fn update(&mut self, grads: &mut Gradients, lr: f64) {
        step_held(&mut self.aux, &mut self.optimizer, lr, grads);
    }
}

/// Width of `model`'s shared bottom, by running it on `input` (one example is enough).
pub fn shared_bottom_width(model: &Ranker, input: &ModelInput, kind: &str) -> Result<usize, DistillError> {
    model
        .forward_with_hidden(input)
        .map(|(_, hidden)| hidden.dims()[1])
        .ok_or_else(|| DistillError::NoSharedBottom { kind: kind.into() })
}

#[cfg(test)]
mod tests {
    use recforge_models::ranking::{DcnV2Config, MlpRankerConfig};

    use super::*;
    use crate::test_support::gradients_by_shape as probe;

    const FIELDS: usize = 3;
    const DIM: usize = 4;
    const HIDDEN: usize = 8;

    fn fixture(device: &Device) -> (Ranker, ModelInput, Batch, HashMap<u64, f32>) {
        let config = MlpRankerConfig { embedding_dim: DIM, hidden: vec![HIDDEN], dropout: 0.0 };
        let model = Ranker::Mlp(config.init(FIELDS, 0, device));
        let n = 5;
        let values: Vec<f32> = (0..n * FIELDS * DIM).map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0).collect();
        let input = ModelInput { fields: Tensor::from_data(TensorData::new(values, [n, FIELDS, DIM]), device), dense: None };
        let batch = Batch {
            len: n,
            sparse: Vec::new(),
            dense: Vec::new(),
            num_dense: 0,
            labels: vec![1.0, 0.0, 1.0, 1.0, 0.0],
            example_ids: (0..n as u64).collect(),
        };
        let teacher = (0..n as u64).map(|id| (id, id as f32 - 2.0)).collect();
        (model, input, batch, teacher)
    }

    /// The MLP's output layer is the only parameter shaped `[HIDDEN, 1]` (its bias `[1]`).
    fn main_head_has_grad(seen: &[(Vec<usize>, bool)]) -> bool {
        seen.iter().filter(|(shape, _)| shape == &vec![HIDDEN, 1] || shape == &vec![1]).any(|(_, g)| *g)
    }

    #[test]
    fn aux_head_gets_no_task_gradient_and_main_head_no_kd_gradient() {
        let device = Device::default().autodiff();
        let (model, input, batch, teacher) = fixture(&device);
        let width = shared_bottom_width(&model, &input, "mlp").unwrap();
        assert_eq!(width, HIDDEN);
        let head = AuxHeadConfig::new(width);

        // Task loss only: the aux head is not touched, the main head is.
        let kd = KdConfig { kd_weight: 0.0, ..KdConfig::default() };
        let mut objective = DistillObjective::new(KdMode::Aux, kd, &teacher, 1, Some(head.clone()), &device);
        let (logits, _) = model.forward_with_hidden(&input).unwrap();
        let labels = Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [batch.len]), &device);
        let grads = bce_with_logits(logits, labels).backward();
        assert!(probe(objective.aux_head().unwrap(), &grads).iter().all(|(_, g)| !g));
        assert!(main_head_has_grad(&probe(&model, &grads)));

        // KD loss only (task weight 0): the aux head and the shared bottom learn, the main head does not.
        let kd = KdConfig { task_weight: 0.0, ..KdConfig::default() };
        objective = DistillObjective::new(KdMode::Aux, kd, &teacher, 1, Some(head), &device);
        let (_, hidden) = model.forward_with_hidden(&input).unwrap();
        let teacher_logits = objective.teacher_logits(&batch, &device).unwrap();
        let aux_logits = objective.aux_head().unwrap().forward(hidden);
        let grads = KdConfig::default().kd_loss(aux_logits, teacher_logits).backward();
        assert!(probe(objective.aux_head().unwrap(), &grads).iter().all(|(_, g)| *g));
        let seen = probe(&model, &grads);
        assert!(!main_head_has_grad(&seen), "{seen:?}");
        assert!(seen.iter().any(|(shape, g)| shape == &vec![FIELDS * DIM, HIDDEN] && *g), "shared bottom learns: {seen:?}");
    }

    #[test]
    fn direct_mode_puts_the_soft_label_on_the_served_head() {
        let device = Device::default().autodiff();
        let (model, input, batch, teacher) = fixture(&device);
        let kd = KdConfig { task_weight: 0.0, ..KdConfig::default() };
        let mut objective = DistillObjective::new(KdMode::Direct, kd, &teacher, 1, None, &device);
        let grads = objective.loss(&model, &input, &batch, &device).unwrap().backward();
        assert!(main_head_has_grad(&probe(&model, &grads)));
        assert!(objective.aux_head().is_none());
        objective.check().unwrap();
    }

    #[test]
    fn objective_loss_combines_task_and_kd_terms() {
        let device = Device::default();
        let (model, input, batch, teacher) = fixture(&device);
        let labels = Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [batch.len]), &device);
        let logits = model.forward(&input);
        let task: f32 = bce_with_logits(logits.clone(), labels).into_scalar();
        let t = Tensor::<1>::from_data(TensorData::new(vec![-2.0f32, -1.0, 0.0, 1.0, 2.0], [5]), &device);
        let soft: f32 = KdConfig::default().kd_loss(logits, t).into_scalar();
        let kd = KdConfig { task_weight: 0.5, kd_weight: 2.0, ..KdConfig::default() };
        let mut direct = DistillObjective::new(KdMode::Direct, kd.clone(), &teacher, 1, None, &device);
        let got: f32 = direct.loss(&model, &input, &batch, &device).unwrap().into_scalar();
        assert!((got - (0.5 * task + 2.0 * soft)).abs() < 1e-5, "{got}");
        let mut none = DistillObjective::new(KdMode::None, kd, &teacher, 1, None, &device);
        let got: f32 = none.loss(&model, &input, &batch, &device).unwrap().into_scalar();
        assert!((got - task).abs() < 1e-6);
    }

    #[test]
    fn missing_teacher_labels_are_reported() {
        let device = Device::default();
        let (model, input, batch, _) = fixture(&device);
        let empty = HashMap::new();
        let mut objective = DistillObjective::new(KdMode::Direct, KdConfig::default(), &empty, 7, None, &device);
        let error = objective.loss(&model, &input, &batch, &device).unwrap_err();
        assert!(matches!(error, recforge_train::ObjectiveError::MissingTeacherLabels { missing, .. } if missing == batch.len), "{error}");
        let err = objective.check().unwrap_err().to_string();
        assert!(err.contains("example id 0") && err.contains("version 7"), "{err}");
    }

    #[test]
    fn dcn_v2_parallel_exposes_cross_and_deep_bottom() {
        let device = Device::default();
        let (_, input, _, _) = fixture(&device);
        let dcn = DcnV2Config { embedding_dim: DIM, cross_layers: 1, hidden: vec![HIDDEN], ..DcnV2Config::default() };
        let model = Ranker::DcnV2(dcn.init(FIELDS, 0, &device));
        assert_eq!(shared_bottom_width(&model, &input, "dcn_v2").unwrap(), FIELDS * DIM + HIDDEN);
        let (logits, _) = model.forward_with_hidden(&input).unwrap();
        let plain: Vec<f32> = model.forward(&input).into_data().try_to_vec::<f32>().unwrap();
        let with: Vec<f32> = logits.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(plain, with);
    }
}
