//! Knowledge-distillation losses with a temperature (Hinton et al., arXiv 1503.02531; the
//! ranking form follows arXiv 2408.14678 §aux distillation).
//!
//! The student logit `s` learns from the teacher logit `t` either as a soft binary label,
//! `BCE(sigmoid(s/T), sigmoid(t/T))·T²` (the `T²` keeps gradient scale independent of `T`), or
//! by regression on logits, `(s − t)²` (the temperature cancels there, so it is not used). The
//! total student loss is `task_weight·BCE(main, y) + kd_weight·L_KD(head, t)`.
//!
//! This is the one KD term of the crate: the label-store students ([`crate::aux_head`]), the
//! DiverseDistill committee (a weighted mixture of teachers, [`kd_loss_mixture`]) and Talking
//! Models all read the student's `[students.kd]` table through [`KdConfig`].

use burn::prelude::*;
use recforge_train::bce_with_logits;
use serde::{Deserialize, Serialize};

/// How the teacher's logit becomes a training target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SoftLabelForm {
    /// Binary cross-entropy against the teacher probability `sigmoid(t/T)`.
    #[default]
    Bce,
    /// Mean squared error between student and teacher logits.
    Mse,
}

/// Loss weights, temperature and soft-label form of one student (`[students.kd]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KdConfig {
    pub form: SoftLabelForm,
    /// Softens both logits before the BCE form (1 = no softening).
    pub temperature: f64,
    /// Weight of the hard-label BCE on the served head.
    pub task_weight: f64,
    /// Weight λ of the distillation term.
    pub kd_weight: f64,
}

impl Default for KdConfig {
    fn default() -> Self {
        KdConfig { form: SoftLabelForm::Bce, temperature: 1.0, task_weight: 1.0, kd_weight: 1.0 }
    }
}

/// Why a KD config cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KdConfigError {
    #[error("kd temperature must be a positive finite number, got {0}")]
    Temperature(f64),
    #[error("kd weights must be finite and non-negative, got task_weight {task} and kd_weight {kd}")]
    Weights { task: f64, kd: f64 },
}

impl KdConfig {
    pub fn validate(&self) -> Result<(), KdConfigError> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(KdConfigError::Temperature(self.temperature));
        }
        let ok = |w: f64| w.is_finite() && w >= 0.0;
        if !ok(self.task_weight) || !ok(self.kd_weight) {
            return Err(KdConfigError::Weights { task: self.task_weight, kd: self.kd_weight });
        }
        Ok(())
    }

    /// The distillation term, mean over the batch: student logits `[batch]` against teacher
    /// logits `[batch]` (the teacher side is a constant).
    pub fn kd_loss(&self, student: Tensor<1>, teacher: Tensor<1>) -> Tensor<1> {
        kd_loss(student, teacher, self.form, self.temperature)
    }

    /// The distillation term against a weighted mixture of teachers (see [`kd_loss_mixture`]).
    pub fn kd_loss_mixture(&self, student: Tensor<1>, teachers: Tensor<2>, weights: Tensor<2>) -> Tensor<1> {
        kd_loss_mixture(student, teachers, weights, self.form, self.temperature)
    }

    /// The whole student loss `task_weight·BCE(logits, y) + kd_weight·kd`, with `kd` one of the
    /// terms above.
    pub fn student_loss(&self, logits: Tensor<1>, labels: Tensor<1>, kd: Tensor<1>) -> Tensor<1> {
        bce_with_logits(logits, labels) * self.task_weight + kd * self.kd_weight
    }
}

/// The distillation loss of [`SoftLabelForm`] at temperature `temperature`, mean over the batch.
pub fn kd_loss(student: Tensor<1>, teacher: Tensor<1>, form: SoftLabelForm, temperature: f64) -> Tensor<1> {
    let teacher = teacher.detach();
    match form {
        SoftLabelForm::Bce => {
            let target = burn::tensor::activation::sigmoid(teacher / temperature);
            bce_with_logits(student / temperature, target) * (temperature * temperature)
        }
        SoftLabelForm::Mse => (student - teacher).powi_scalar(2).mean(),
    }
}

/// The distillation term against `K` teachers mixed per example: teacher logits `[batch, K]`
/// and weights `[batch, K]` (each row sums to one; both sides are constants). `bce`: the target
/// is the mixed probability `Σ_k w_k·sigmoid(t_k/T)`, then `BCE(sigmoid(s/T), target)·T²`;
/// `mse`: `(s − Σ_k w_k·t_k)²`. With one teacher of weight 1 this is [`kd_loss`].
pub fn kd_loss_mixture(student: Tensor<1>, teachers: Tensor<2>, weights: Tensor<2>, form: SoftLabelForm, temperature: f64) -> Tensor<1> {
    let n = student.dims()[0];
    let (teachers, weights) = (teachers.detach(), weights.detach());
    match form {
        SoftLabelForm::Bce => {
            let target = (weights * burn::tensor::activation::sigmoid(teachers / temperature)).sum_dim(1).reshape([n]);
            bce_with_logits(student / temperature, target) * (temperature * temperature)
        }
        SoftLabelForm::Mse => (student - (weights * teachers).sum_dim(1).reshape([n])).powi_scalar(2).mean(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(values: &[f32], device: &Device) -> Tensor<1> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
    }

    fn scalar(x: Tensor<1>) -> f64 {
        x.into_scalar::<f32>() as f64
    }

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// The loss written out by hand in f64.
    fn by_hand(s: &[f64], t: &[f64], form: SoftLabelForm, temp: f64) -> f64 {
        let n = s.len() as f64;
        match form {
            SoftLabelForm::Bce => {
                s.iter()
                    .zip(t)
                    .map(|(&s, &t)| {
                        let (p, q) = (sigmoid(s / temp), sigmoid(t / temp));
                        -(q * p.ln() + (1.0 - q) * (1.0 - p).ln())
                    })
                    .sum::<f64>()
                    / n
                    * temp
                    * temp
            }
            SoftLabelForm::Mse => s.iter().zip(t).map(|(s, t)| (s - t) * (s - t)).sum::<f64>() / n,
        }
    }

    #[test]
    fn bce_form_matches_hand_computed_values() {
        let device = Device::default();
        // s = t = 0 at T = 1: target 1/2, loss ln 2.
        let loss = scalar(kd_loss(t(&[0.0], &device), t(&[0.0], &device), SoftLabelForm::Bce, 1.0));
        assert!((loss - std::f64::consts::LN_2).abs() < 1e-6, "{loss}");
        for temp in [1.0, 2.0, 4.0] {
            let (s, tt) = ([1.5, -0.5, 3.0], [2.0, 0.25, -1.0]);
            let got = scalar(kd_loss(t(&s.map(|x| x as f32), &device), t(&tt.map(|x| x as f32), &device), SoftLabelForm::Bce, temp));
            let want = by_hand(&s, &tt, SoftLabelForm::Bce, temp);
            assert!((got - want).abs() < 1e-5, "T={temp}: {got} vs {want}");
        }
    }

    #[test]
    fn mse_form_matches_hand_computed_values_and_ignores_temperature() {
        let device = Device::default();
        // ((1 − 3)² + (−1 − (−1))²) / 2 = 2.
        for temp in [1.0, 3.0] {
            let loss = scalar(kd_loss(t(&[1.0, -1.0], &device), t(&[3.0, -1.0], &device), SoftLabelForm::Mse, temp));
            assert!((loss - 2.0).abs() < 1e-6, "{loss}");
        }
    }

    #[test]
    fn bce_form_is_minimal_where_student_equals_teacher() {
        let device = Device::default();
        let at = |s: f32| scalar(kd_loss(t(&[s], &device), t(&[0.7], &device), SoftLabelForm::Bce, 2.0));
        assert!(at(0.7) < at(0.6) && at(0.7) < at(0.8));
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::default().autodiff();
        let s = [0.3f64, -1.2, 2.0];
        let teacher = [1.0f64, 0.5, -0.7];
        for (form, temp) in [(SoftLabelForm::Bce, 1.0), (SoftLabelForm::Bce, 3.0), (SoftLabelForm::Mse, 1.0)] {
            let student = t(&s.map(|x| x as f32), &device).require_grad();
            let loss = kd_loss(student.clone(), t(&teacher.map(|x| x as f32), &device), form, temp);
            let grads = loss.backward();
            let grad: Vec<f32> = student.grad(&grads).expect("student gets a gradient").into_data().try_to_vec::<f32>().unwrap();
            let eps = 1e-5;
            for i in 0..s.len() {
                let (mut up, mut down) = (s, s);
                up[i] += eps;
                down[i] -= eps;
                let numeric = (by_hand(&up, &teacher, form, temp) - by_hand(&down, &teacher, form, temp)) / (2.0 * eps);
                assert!((grad[i] as f64 - numeric).abs() < 1e-4, "{form:?} T={temp} i={i}: {} vs {numeric}", grad[i]);
            }
        }
    }

    #[test]
    fn teacher_side_receives_no_gradient() {
        let device = Device::default().autodiff();
        let teacher = t(&[1.0, -1.0], &device).require_grad();
        let student = t(&[0.0, 0.5], &device).require_grad();
        let grads = kd_loss(student, teacher.clone(), SoftLabelForm::Bce, 2.0).backward();
        assert!(teacher.grad(&grads).is_none());
    }

    #[test]
    fn a_mixture_matches_hand_computed_values_and_one_teacher_is_kd_loss() {
        let device = Device::default();
        let t2 = |v: &[f32], n: usize, k: usize| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [n, k]), &device);
        let (s, teachers, w) = ([0.5f64, -1.0], [1.0f64, -2.0, 0.0, 3.0], [0.25f64, 0.75, 1.0, 0.0]);
        for temp in [1.0, 2.5] {
            let got = scalar(kd_loss_mixture(
                t(&s.map(|x| x as f32), &device),
                t2(&teachers.map(|x| x as f32), 2, 2),
                t2(&w.map(|x| x as f32), 2, 2),
                SoftLabelForm::Bce,
                temp,
            ));
            let want = (0..2)
                .map(|i| {
                    let q = w[2 * i] * sigmoid(teachers[2 * i] / temp) + w[2 * i + 1] * sigmoid(teachers[2 * i + 1] / temp);
                    let p = sigmoid(s[i] / temp);
                    -(q * p.ln() + (1.0 - q) * (1.0 - p).ln())
                })
                .sum::<f64>()
                / 2.0
                * temp
                * temp;
            assert!((got - want).abs() < 1e-5, "T={temp}: {got} vs {want}");
        }
        // MSE against the weighted logits: ((0.5 − (0.25 − 1.5))² + (−1 − 0)²) / 2.
        let mse = scalar(kd_loss_mixture(t(&[0.5, -1.0], &device), t2(&[1.0, -2.0, 0.0, 3.0], 2, 2), t2(&[0.25, 0.75, 1.0, 0.0], 2, 2), SoftLabelForm::Mse, 3.0));
        assert!((mse - (1.75f64.powi(2) + 1.0) / 2.0).abs() < 1e-5, "{mse}");
        for form in [SoftLabelForm::Bce, SoftLabelForm::Mse] {
            let one = scalar(kd_loss_mixture(t(&[0.3, -0.7], &device), t2(&[1.2, 0.4], 2, 1), t2(&[1.0, 1.0], 2, 1), form, 2.0));
            let single = scalar(kd_loss(t(&[0.3, -0.7], &device), t(&[1.2, 0.4], &device), form, 2.0));
            assert!((one - single).abs() < 1e-6, "{form:?}: {one} vs {single}");
        }
    }

    #[test]
    fn student_loss_weights_the_task_and_the_kd_term() {
        let device = Device::default();
        let kd = KdConfig { task_weight: 0.5, kd_weight: 2.0, ..KdConfig::default() };
        // BCE(0, 1) = ln 2; 0.5·ln 2 + 2·3.
        let loss = scalar(kd.student_loss(t(&[0.0], &device), t(&[1.0], &device), t(&[3.0], &device)));
        assert!((loss - (0.5 * std::f64::consts::LN_2 + 6.0)).abs() < 1e-5, "{loss}");
    }

    #[test]
    fn bad_configs_are_rejected() {
        assert!(KdConfig { temperature: 0.0, ..KdConfig::default() }.validate().is_err());
        assert!(KdConfig { kd_weight: -1.0, ..KdConfig::default() }.validate().is_err());
        assert!(KdConfig::default().validate().is_ok());
    }
}
