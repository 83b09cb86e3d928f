//! AdamW with decoupled weight decay, a linear warm-up + cosine learning-rate schedule and
//! global-norm gradient clipping, over candle `Var`s. Written here rather than taken from
//! candle-nn because its moments must be checkpointed for exact resumption.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};

use crate::error::{LlmRecError, Result};

/// AdamW hyper-parameters (the learning rate comes from the schedule at each step).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// Optimizer state: step count and first/second moments per variable.
pub struct AdamW {
    pub config: AdamWConfig,
    pub step: u64,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

fn candle(e: candle_core::Error) -> LlmRecError {
    LlmRecError::Invalid(format!("optimizer: {e}"))
}

impl AdamW {
    pub fn new(vars: &[Var], config: AdamWConfig) -> Result<Self> {
        let zeros = |v: &Var| v.as_tensor().zeros_like().map_err(candle);
        let m = vars.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        let v = vars.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        Ok(Self { config, step: 0, m, v })
    }

    /// One update of every variable with its gradient (same order as at construction).
    pub fn step(&mut self, vars: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        for (i, (var, g)) in vars.iter().zip(grads).enumerate() {
            let (m, v) = adam_update(var, g, &self.m[i], &self.v[i], c, lr, bc1, bc2).map_err(candle)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// Writes the moments as safetensors (`m.<name>`, `v.<name>`).
    pub fn save(&self, names: &[String], path: &Path) -> Result<()> {
        let mut tensors = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            tensors.insert(format!("m.{name}"), self.m[i].clone());
            tensors.insert(format!("v.{name}"), self.v[i].clone());
        }
        candle_core::safetensors::save(&tensors, path).map_err(|e| LlmRecError::Invalid(format!("{}: {e}", path.display())))
    }

    /// Reads moments written by [`save`](Self::save) for variables `names` at step `step`.
    pub fn load(names: &[String], path: &Path, config: AdamWConfig, step: u64) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| LlmRecError::Invalid(format!("{}: {e}", path.display())))?;
        let get = |key: String| {
            tensors.get(&key).cloned().ok_or_else(|| LlmRecError::Invalid(format!("{}: no tensor `{key}`", path.display())))
        };
        let m = names.iter().map(|n| get(format!("m.{n}"))).collect::<Result<Vec<_>>>()?;
        let v = names.iter().map(|n| get(format!("v.{n}"))).collect::<Result<Vec<_>>>()?;
        Ok(Self { config, step, m, v })
    }
}

/// One AdamW update of `var`; returns the new moments.
#[allow(clippy::too_many_arguments)]
fn adam_update(var: &Var, g: &Tensor, m: &Tensor, v: &Tensor, c: AdamWConfig, lr: f64, bc1: f64, bc2: f64) -> candle_core::Result<(Tensor, Tensor)> {
    let m = ((m * c.beta1)? + (g * (1.0 - c.beta1))?)?;
    let v = ((v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
    let m_hat = (&m / bc1)?;
    let v_hat = (&v / bc2)?;
    let theta = (var.as_tensor().detach() * (1.0 - lr * c.weight_decay))?;
    let theta = (theta - (m_hat / (v_hat.sqrt()? + c.eps)?)?.affine(lr, 0.0)?)?;
    var.set(&theta)?;
    Ok((m, v))
}

/// Learning rate at optimizer step `step` (0-based) of `total`: linear warm-up over `warmup`
/// steps to `peak`, then cosine decay to `peak × min_ratio` at the last step.
pub fn lr_at(step: usize, total: usize, warmup: usize, peak: f64, min_ratio: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    peak * (min_ratio + (1.0 - min_ratio) * cosine)
}

/// Scales `grads` so that their global L2 norm is at most `max_norm`; returns the norm before.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let mut total = 0.0f64;
    for g in grads.iter() {
        total += g.sqr().and_then(|s| s.sum_all()).and_then(|s| s.to_scalar::<f32>()).map_err(candle)? as f64;
    }
    let norm = total.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / norm;
        for g in grads.iter_mut() {
            *g = (&*g * scale).map_err(candle)?;
        }
    }
    Ok(norm)
}
