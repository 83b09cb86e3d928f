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
