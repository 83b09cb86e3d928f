//! Test support: which parameters of a module received a gradient, and a frozen teacher that
//! answers constants and counts the rows it is asked about.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use recforge_data::Dataset;

use crate::frozen::{FrozenTeacher, TeacherAnswer};

struct GradProbe<'g> {
    grads: &'g Gradients,
    seen: Vec<(Vec<usize>, bool)>,
}

impl ModuleVisitor for GradProbe<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        self.seen.push((value.dims().to_vec(), value.grad(self.grads).is_some()));
    }
}

/// Per float parameter of `module`, in visiting order: its shape and whether `grads` holds a
/// gradient for it.
pub fn gradients_by_shape<M: Module>(module: &M, grads: &Gradients) -> Vec<(Vec<usize>, bool)> {
    let mut p = GradProbe { grads, seen: Vec::new() };
    module.visit(&mut p);
    p.seen
}

/// Per float parameter of `module`, in visiting order: whether `grads` holds a gradient for it.
pub fn has_gradient<M: Module>(module: &M, grads: &Gradients) -> Vec<bool> {
    gradients_by_shape(module, grads).into_iter().map(|(_, g)| g).collect()
}

/// A frozen teacher with `dim`-wide constant answers that depend on the row; its upper layers
/// sum the hidden state (no weights of their own). Counts the rows it answers.
pub struct CountingTeacher {
    pub dim: usize,
    pub answered: std::sync::atomic::AtomicU64,
}

impl CountingTeacher {
    pub fn new(dim: usize) -> Self {
        CountingTeacher { dim, answered: Default::default() }
    }
}

impl FrozenTeacher for CountingTeacher {
    fn name(&self) -> &str {
        "counting"
    }
    fn hidden_dim(&self) -> usize {
        self.dim
    }
    fn parameters(&self) -> usize {
        0
    }
    fn answer(&self, _data: &Dataset, rows: &[usize]) -> TeacherAnswer {
        self.answered.fetch_add(rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
        TeacherAnswer {
            hidden: rows.iter().flat_map(|&r| (0..self.dim).map(move |j| ((r + j) % 5) as f32 / 5.0)).collect(),
            logits: rows.iter().map(|&r| (r % 3) as f32 - 1.0).collect(),
        }
    }
    fn examples_answered(&self) -> u64 {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn upper(&self, hidden: Tensor<2>) -> Tensor<1> {
        let n = hidden.dims()[0];
        hidden.sum_dim(1).reshape([n])
    }
}

/// A small MLP student (shared bottom 6 wide) on the synthetic dataset and one batch of its
/// first `n` rows, for objective tests.
pub struct StudentBatch {
    pub data: Dataset,
    pub student: recforge_train::TrainedModel,
    pub batch: recforge_data::Batch,
    pub rows: Vec<usize>,
    pub row_of: std::collections::HashMap<u64, usize>,
    device: Device,
}

impl StudentBatch {
    pub fn new(n: usize, device: &Device) -> Self {
        let data = recforge_train::bench::synthetic_dataset(n, 3, 10, 0, 3);
        let config = recforge_models::ModelConfig::Mlp(recforge_models::ranking::MlpRankerConfig { embedding_dim: 4, hidden: vec![6], dropout: 0.0 });
        let student = recforge_train::TrainedModel::init(&config, &recforge_train::TrainConfig::default(), &data, device).expect("a small MLP");
        let rows: Vec<usize> = (0..n).collect();
        let row_of = rows.iter().map(|&r| (data.example_ids[r], r)).collect();
        let batch = data.batch(&rows);
        StudentBatch { data, student, batch, rows, row_of, device: device.clone() }
    }

    pub fn embedded(&self) -> recforge_models::EmbeddedBatch {
        recforge_models::EmbeddedBatch::new(&self.student.store, &self.batch, &self.device, true)
    }

    /// The student's logits on the batch.
    pub fn logits(&self) -> Vec<f32> {
        let (logits, _) = self.student.model.forward_with_hidden(&self.embedded().input).expect("an MLP has a shared bottom");
        logits.into_data().try_to_vec::<f32>().expect("f32 logits")
    }

    /// `teacher`'s logits on the batch.
    pub fn teacher_logits(&self, teacher: &dyn FrozenTeacher) -> Vec<f32> {
        teacher.answer(&self.data, &self.rows).logits
    }
}

/// kd.rs's term written out in f64: `T²·mean BCE(sigmoid(s/T), sigmoid(t/T))` or `mean (s − t)²`.
pub fn kd_by_hand(s: &[f32], t: &[f32], form: crate::kd::SoftLabelForm, temp: f64) -> f64 {
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let n = s.len() as f64;
    let per = s.iter().zip(t).map(|(&s, &t)| {
        let (s, t) = (f64::from(s), f64::from(t));
        match form {
            crate::kd::SoftLabelForm::Bce => {
                let (p, q) = (sigmoid(s / temp), sigmoid(t / temp));
                -(q * p.ln() + (1.0 - q) * (1.0 - p).ln()) * temp * temp
            }
            crate::kd::SoftLabelForm::Mse => (s - t) * (s - t),
        }
    });
    per.sum::<f64>() / n
}
