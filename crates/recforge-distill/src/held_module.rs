//! Training-only modules an objective holds beside the student (the auxiliary head, the QA
//! module, Talking Models' codecs, LEVI's adapters): taken out of their slot while the loss
//! borrows them, then stepped on their own gradients with their own optimizer.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Gradients;

/// One optimizer step of the module in `slot` (none when the slot is empty).
pub fn step_held<M: Module>(slot: &mut Option<M>, optimizer: &mut ModuleOptimizer, lr: f64, grads: &mut Gradients) {
    if let Some(module) = slot.take() {
        let module_grads = GradientsParams::from_module(grads, &module);
        *slot = Some(optimizer.step(lr, module, module_grads));
    }
}
