//! Talking Models (arXiv 2310.03188): interactive knowledge distillation. Teacher and student
//! each learn an encoder (own hidden state → message in a shared space) and a decoder (any
//! message → own hidden state); the teacher transfers by encoding its hidden state, and the
//! student sends messages that the frozen teacher interprets and answers, so what is
//! transferred fits the student's capacity and data.
//!
//! Losses (PAPERS.md §8, [R]), all on top of plain output KD so the comparison isolates them
//! (the output KD term is the student's `[students.kd]` term of [`crate::kd`]: its weights,
//! temperature and form):
//! - KD `‖h_s − Dec_s(Enc_t(h_t))‖²`;
//! - reconstruction `‖Dec_t(Enc_t(h_t)) − h_t‖² + ‖Dec_s(Enc_s(h_s)) − h_s‖²`;
//! - interaction: `h̃_t = Dec_t(Enc_s(h_s))`; the teacher's frozen upper layers answer
//!   (`(T_up(h̃_t) − t)²`: the student's message must carry what the teacher needs for its own
//!   prediction), and `Dec_s(Enc_t(h̃_t))` is a target for the student (`‖h_s − sg(·)‖²`).
//! The teacher backbone is frozen; only its encoder/decoder train. [`TransferMode::Feature`] is
//! the hidden-state (FitNets-style) comparison: `‖h_s − P(h_t)‖²` with a learned projection.
//! Everything here lives in the objective and is dropped at serving.

use std::collections::HashMap;

use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Gradients;
use burn::tensor::activation::relu;
use recforge_data::{Batch, Dataset};
use recforge_models::{ModelInput, Ranker};
use recforge_train::{Objective, ObjectiveError};
use serde::{Deserialize, Serialize};

use crate::frozen::{FrozenTeacher, answer_tensors};
use crate::held_module::step_held;
use crate::kd::KdConfig;

/// How this objective names itself in errors.
const OBJECTIVE: &str = "Talking Models";

/// How the teacher's knowledge reaches the student beyond the output soft label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// Output KD only.
    Output,
    /// Output KD + hidden-state KD through a learned projection.
    Feature,
    /// Output KD + the Talking Models losses.
    Talking,
}

impl TransferMode {
    pub fn name(self) -> &'static str {
        match self {
            TransferMode::Output => "output_kd",
            TransferMode::Feature => "feature_kd",
            TransferMode::Talking => "talking",
        }
    }
}

/// `[talking]` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TalkingOptions {
    /// Name of the committee teacher to talk to (default: the first).
    pub teacher: Option<String>,
    /// Width of the shared message space.
    pub message_dim: usize,
    /// Removed: the output KD term is weighted by the student's `[students.kd] kd_weight`.
    /// Still read so an old config gets a clear error.
    #[serde(rename = "kd_weight", skip_serializing)]
    pub removed_kd_weight: Option<f64>,
    /// Weight of the hidden-state terms (KD, interaction target, feature KD).
    pub feature_weight: f64,
    pub reconstruction_weight: f64,
    pub interaction_weight: f64,
    pub lr: f64,
}

impl Default for TalkingOptions {
    fn default() -> Self {
        TalkingOptions {
            teacher: None,
            message_dim: 32,
            removed_kd_weight: None,
            feature_weight: 0.1,
            reconstruction_weight: 0.1,
            interaction_weight: 0.1,
            lr: 0.002,
        }
    }
}

impl TalkingOptions {
    pub fn validate(&self) -> Result<(), String> {
        match self.removed_kd_weight {
            Some(weight) => Err(crate::committee::removed_kd_weight("talking", weight)),
            None => Ok(()),
        }
    }
}

/// An encoder (hidden → message) and a decoder (message → hidden) of one party.
#[derive(Module, Debug)]
pub struct Codec {
    enc_in: Linear,
    enc_out: Linear,
    dec_in: Linear,
    dec_out: Linear,
}

impl Codec {
    fn new(d_hidden: usize, d_message: usize, device: &Device) -> Self {
        let width = d_message.max(d_hidden.min(4 * d_message));
        Codec {
            enc_in: LinearConfig::new(d_hidden, width).init(device),
            enc_out: LinearConfig::new(width, d_message).init(device),
            dec_in: LinearConfig::new(d_message, width).init(device),
            dec_out: LinearConfig::new(width, d_hidden).init(device),
        }
    }

    /// `[n, d_hidden]` → `[n, d_message]`.
    pub fn encode(&self, h: Tensor<2>) -> Tensor<2> {
        self.enc_out.forward(relu(self.enc_in.forward(h)))
    }

    /// `[n, d_message]` → `[n, d_hidden]`.
    pub fn decode(&self, m: Tensor<2>) -> Tensor<2> {
        self.dec_out.forward(relu(self.dec_in.forward(m)))
    }
}

/// The trainable parts: both parties' codecs and the feature-KD projection.
#[derive(Module, Debug)]
pub struct TalkingModule {
    pub student: Codec,
    pub teacher: Codec,
    projection: Linear,
}

impl TalkingModule {
    pub fn new(d_student: usize, d_teacher: usize, d_message: usize, device: &Device) -> Self {
        TalkingModule {
            student: Codec::new(d_student, d_message, device),
            teacher: Codec::new(d_teacher, d_message, device),
            projection: LinearConfig::new(d_teacher, d_student).init(device),
        }
    }
}

fn mse(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    (a - b).powi_scalar(2).mean()
}

/// The loss terms of one batch, by name (for tests and logs).
pub struct TalkingTerms {
    pub kd: Tensor<1>,
    pub reconstruction: Tensor<1>,
    pub interaction: Tensor<1>,
}

/// Talking Models' hidden-state terms for student states `h_s` `[n, d_s]`, teacher states
/// `h_t` `[n, d_t]` and teacher logits `t` `[n]`.
pub fn talking_terms(module: &TalkingModule, teacher: &dyn FrozenTeacher, h_s: Tensor<2>, h_t: Tensor<2>, t: Tensor<1>) -> TalkingTerms {
    let m_t = module.teacher.encode(h_t.clone());
    let kd = mse(h_s.clone(), module.student.decode(m_t.clone()));
    let reconstruction = mse(module.teacher.decode(m_t), h_t) + mse(module.student.decode(module.student.encode(h_s.clone())), h_s.clone());
    // The student speaks; the teacher interprets with its decoder, answers through its frozen
    // upper layers, and its re-encoded reading comes back as a target for the student.
    let interpreted = module.teacher.decode(module.student.encode(h_s.clone()));
    let answer = teacher.upper(interpreted.clone());
    let reply = module.student.decode(module.teacher.encode(interpreted)).detach();
    let interaction = (answer - t).powi_scalar(2).mean() + mse(h_s, reply);
    TalkingTerms { kd, reconstruction, interaction }
}

/// The student objective of one [`TransferMode`] against one frozen teacher run online.
pub struct TalkingObjective<'a> {
    mode: TransferMode,
    teacher: &'a dyn FrozenTeacher,
    data: &'a Dataset,
    row_of: &'a HashMap<u64, usize>,
    options: TalkingOptions,
    kd: KdConfig,
    module: Option<TalkingModule>,
    optimizer: ModuleOptimizer,
    /// Examples the teacher answered for this objective.
    pub teacher_passes: u64,
}

impl<'a> TalkingObjective<'a> {
    /// `kd`: the student's KD table (weights, temperature and form of the output KD term).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mode: TransferMode,
        teacher: &'a dyn FrozenTeacher,
        data: &'a Dataset,
        row_of: &'a HashMap<u64, usize>,
        d_student: usize,
        options: TalkingOptions,
        kd: KdConfig,
        device: &Device,
    ) -> Self {
        let module = TalkingModule::new(d_student, teacher.hidden_dim(), options.message_dim, device);
        TalkingObjective { mode, teacher, data, row_of, options, kd, module: Some(module), optimizer: AdamConfig::new().init(), teacher_passes: 0 }
    }

    /// Parameters of the training-only module (not served).
    pub fn module_parameters(&self) -> usize {
        self.module.as_ref().map_or(0, |m| m.num_params())
    }
}

impl Objective for TalkingObjective<'_> {
    fn loss(&mut self, model: &Ranker, input: &ModelInput, batch: &Batch, device: &Device) -> Result<Tensor<1>, ObjectiveError> {
        let n = batch.len;
        let labels = Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [n]), device);
        let Some((logits, h_s)) = model.forward_with_hidden(input) else {
            return Err(ObjectiveError::Misconfigured { objective: OBJECTIVE, reason: "the student model exposes no shared hidden layer; use a model with a shared bottom (mlp, dcn_v2, hiformer)".into() });
        };
        let rows: Option<Vec<usize>> = batch.example_ids.iter().map(|id| self.row_of.get(id).copied()).collect();
        let Some(rows) = rows else {
            let missing = batch.example_ids.iter().filter(|id| !self.row_of.contains_key(id)).count();
            return Err(ObjectiveError::MissingTeacherLabels { objective: OBJECTIVE, missing });
        };
        let Some(module) = self.module.take() else {
            return Err(ObjectiveError::Misconfigured { objective: OBJECTIVE, reason: "the talking module was not built (it needs the student's and the teacher's hidden widths)".into() });
        };
        let answer = self.teacher.answer(self.data, &rows);
        self.teacher_passes += n as u64;
        let (h_t, t) = answer_tensors(&answer, n, device);
        let o = &self.options;
        let kd = self.kd.kd_loss(logits.clone(), t.clone());
        let mut loss = self.kd.student_loss(logits, labels, kd);
        match self.mode {
            TransferMode::Output => {}
            TransferMode::Feature => loss = loss + mse(h_s, module.projection.forward(h_t)) * o.feature_weight,
            TransferMode::Talking => {
                let terms = talking_terms(&module, self.teacher, h_s, h_t, t);
                loss = loss
                    + terms.kd * o.feature_weight
                    + terms.reconstruction * o.reconstruction_weight
                    + terms.interaction * o.interaction_weight;
            }
        }
        self.module = Some(module);
        Ok(loss)
    }

    fn update(&mut self, grads: &mut Gradients, _lr: f64) {
        step_held(&mut self.module, &mut self.optimizer, self.options.lr, grads);
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::test_support::{CountingTeacher, has_gradient};

    /// Per codec, whether (encoder, decoder) weights and biases got a gradient.
    fn trained(codec: &Codec, grads: &Gradients) -> (bool, bool) {
        let seen = has_gradient(codec, grads);
        assert_eq!(seen.len(), 8, "two linear layers each side");
        let side = |s: &[bool]| {
            assert!(s.iter().all(|&x| x == s[0]), "a side is trained as a whole: {s:?}");
            s[0]
        };
        (side(&seen[..4]), side(&seen[4..]))
    }

    /// One batch of the terms on the autodiff device; `h_s` requires a gradient.
    fn terms(module: &TalkingModule, device: &Device) -> (TalkingTerms, Tensor<2>) {
        let h_s = Tensor::<2>::random([5, 4], Distribution::Normal(0.0, 1.0), device).require_grad();
        let h_t = Tensor::<2>::random([5, 3], Distribution::Normal(0.0, 1.0), device);
        let t = Tensor::<1>::random([5], Distribution::Normal(0.0, 1.0), device);
        // The teacher's upper layers sum its 3-wide hidden state (no weights of their own).
        (talking_terms(module, &CountingTeacher::new(3), h_s.clone(), h_t, t), h_s)
    }

    #[test]
    fn kd_term_trains_the_teacher_encoder_and_student_decoder_only() {
        let device = Device::default().autodiff();
        let module = TalkingModule::new(4, 3, 2, &device);
        let (terms, h_s) = terms(&module, &device);
        let grads = terms.kd.backward();
        assert_eq!(trained(&module.teacher, &grads), (true, false));
        assert_eq!(trained(&module.student, &grads), (false, true));
        assert!(h_s.grad(&grads).is_some(), "the student's hidden state is pulled towards the message");
    }

    #[test]
    fn interaction_trains_the_student_encoder_and_teacher_decoder_and_stops_at_the_reply() {
        // The student's message is read by the teacher's decoder and answered by its frozen
        // upper layers; the re-encoded reply is a target (stop-gradient), so the teacher's
        // encoder and the student's decoder, which only produce the reply, get no gradient.
        let device = Device::default().autodiff();
        let module = TalkingModule::new(4, 3, 2, &device);
        let (terms, h_s) = terms(&module, &device);
        let grads = terms.interaction.backward();
        assert_eq!(trained(&module.student, &grads), (true, false));
        assert_eq!(trained(&module.teacher, &grads), (false, true));
        assert!(h_s.grad(&grads).is_some());
    }

    #[test]
    fn reconstruction_is_positive_and_trains_both_codecs() {
        let device = Device::default().autodiff();
        let module = TalkingModule::new(4, 3, 2, &device);
        let (terms, _) = terms(&module, &device);
        let value: f32 = terms.reconstruction.clone().into_scalar();
        assert!(value > 0.0, "a 2-wide message cannot carry 3- and 4-wide states exactly: {value}");
        let grads = terms.reconstruction.backward();
        assert_eq!(trained(&module.student, &grads), (true, true));
        assert_eq!(trained(&module.teacher, &grads), (true, true));
    }

    #[test]
    fn output_kd_is_the_students_kd_term_with_its_temperature_and_form() {
        use crate::kd::SoftLabelForm;
        use crate::test_support::{StudentBatch, kd_by_hand};

        let device = Device::default().autodiff();
        let sb = StudentBatch::new(64, &device);
        let teacher = CountingTeacher::new(3);
        let kd = |form, temperature, task_weight, kd_weight| KdConfig { form, temperature, task_weight, kd_weight };
        let loss_with = |kd: KdConfig| {
            let mut objective = TalkingObjective::new(TransferMode::Output, &teacher, &sb.data, &sb.row_of, 6, TalkingOptions::default(), kd, &device);
            f64::from(objective.loss(&sb.student.model, &sb.embedded().input, &sb.batch, &device).unwrap().into_scalar::<f32>())
        };
        // Output mode is exactly task_weight·BCE(s, y) + kd_weight·L_KD(s, t) of kd.rs.
        let (s, t) = (sb.logits(), sb.teacher_logits(&teacher));
        let task = loss_with(kd(SoftLabelForm::Bce, 1.0, 1.0, 0.0));
        for (form, temp, kd_weight) in [(SoftLabelForm::Bce, 1.0, 1.0), (SoftLabelForm::Bce, 3.0, 0.5), (SoftLabelForm::Mse, 2.0, 1.0)] {
            let got = loss_with(kd(form, temp, 1.0, kd_weight));
            let want = task + kd_weight * kd_by_hand(&s, &t, form, temp);
            assert!((got - want).abs() < 1e-4, "{form:?} T={temp}: {got} vs {want}");
        }
        assert!((loss_with(kd(SoftLabelForm::Bce, 3.0, 1.0, 1.0)) - loss_with(kd(SoftLabelForm::Bce, 1.0, 1.0, 1.0))).abs() > 1e-3);
    }

    #[test]
    fn the_old_talking_kd_weight_is_a_clear_error() {
        let options: TalkingOptions = toml::from_str("kd_weight = 1.0").unwrap();
        assert!(options.validate().unwrap_err().contains("[talking] kd_weight"));
    }
}
