//! Test support: which parameters of a module received a gradient.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

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
