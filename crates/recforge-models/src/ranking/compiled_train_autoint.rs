//! Compiled training for AutoInt (Song et al., arXiv 1810.11921): the field embeddings and
//! numeric tokens through interacting layers `ReLU(attention(x) + W_res x)` and a linear logit
//! over the flattened tokens (AutoInt+: plus an MLP over the flat features) — forward and
//! backward written out by hand. The Q/K/V and residual maps are shared by every token, so each
//! is one GEMM each way over all the block's tokens; attention is Hiformer's training kernel
//! ([`TrainAttention`]). No dropout in the MLP (the model then trains on burn).

use crate::ranking::autoint::AutoInt;
use crate::ranking::compiled_train::{Flattener, Linear, Tower, loss_gradient};
use crate::ranking::compiled_train_hiformer::{AttentionGrads, ExampleRows, NumericMaps, Saved, TrainAttention};

/// One interacting layer's maps in the flat buffer (`w → heads · d_head`, no biases).
#[derive(Debug, Clone, Copy)]
struct Interacting {
    query: Linear,
    key: Linear,
    value: Linear,
    residual: Linear,
}

/// AutoInt in training (see the module doc).
#[derive(Debug, Clone)]
pub(crate) struct AutoIntArch {
    numeric: Option<NumericMaps>,
    numeric_count: usize,
    layers: Vec<Interacting>,
    /// Over the flattened last tokens.
    head: Linear,
    /// AutoInt+'s MLP over the flat features: hidden layers and output.
    deep: Option<(Vec<Linear>, Linear)>,
    d: usize,
    heads: usize,
    d_head: usize,
}

/// A thread's AutoInt buffers, reused across its blocks and steps.
#[derive(Default)]
pub(crate) struct AutoIntScratch {
    /// Layer inputs x₀…x_n (`[m·L, w]` each).
    x: Vec<Vec<f32>>,
    saved: Vec<Saved>,
    residual: Vec<Vec<f32>>,
    kt: Vec<f32>,
    vt: Vec<f32>,
    acts: Vec<Vec<f32>>,
    deep_acts: Vec<Vec<f32>>,
    dlogits: Vec<f32>,
    logits: Vec<f32>,
    dx: Vec<f32>,
    dprev: Vec<f32>,
    dflat: Vec<f32>,
    db: Vec<f32>,
    attention: AttentionGrads,
}

impl AutoIntArch {
    /// The model with its weights in `flat`, or `None` when its MLP has dropout.
    pub(crate) fn new(model: &AutoInt, flat: &mut Flattener) -> Option<AutoIntArch> {
        if model.deep.as_ref().is_some_and(|deep| !deep.without_dropout()) {
            return None;
        }
        let net = model.compiled();
        let numeric_count = model.numeric.as_ref().map_or(0, |n| n.weight.val().dims()[0]);
        let numeric = model.numeric.as_ref().map(|n| NumericMaps::of(flat, n));
        let layers = net
            .layers
            .iter()
            .map(|l| Some(Interacting { query: flat.add(&l.query)?, key: flat.add(&l.key)?, value: flat.add(&l.value)?, residual: flat.add(&l.residual)? }))
            .collect::<Option<Vec<_>>>()?;
        let head = flat.add(&net.head)?;
        let deep = match &net.deep {
            Some(tower) => Some(flat.tower(tower)?),
            None => None,
        };
        Some(AutoIntArch { numeric, numeric_count, layers, head, deep, d: net.dim, heads: net.heads, d_head: net.d_head })
    }

    /// Loss sum of the block's examples `x`; adds their weight gradients to `grad` and writes
    /// their input gradients (fields; numeric columns 0) to `inputs`.
    pub(crate) fn block(&self, p: &[f32], x: &ExampleRows, s: &mut AutoIntScratch, grad: &mut [f32], inputs: &mut [f32]) -> f64 {
        let (m, d, width) = (x.examples(), self.d, x.width);
        let tokens = x.field_width / d + self.numeric_count;
        let rows = m * tokens;
        let attention = TrainAttention { tokens, heads: self.heads, d_head: self.d_head };
        let levels = self.layers.len();
        s.x.resize_with(levels + 1, Vec::new);
        s.saved.resize_with(levels, Saved::default);
        s.residual.resize_with(levels, Vec::new);
        // Tokens: embedded fields, then numeric tokens.
        let x0 = &mut s.x[0];
        x0.resize(rows * d, 0.0);
        for (e, out) in x0.chunks_exact_mut(tokens * d).enumerate() {
            x.feature_tokens(e, p, self.numeric.as_ref(), d, out);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let (before, after) = s.x.split_at_mut(i + 1);
            let (input, w_in) = (&before[i], layer.query.inputs);
            let saved = &mut s.saved[i];
            layer.query.forward(p, input, w_in, rows, &mut saved.q);
            layer.key.forward(p, input, w_in, rows, &mut saved.k);
            layer.value.forward(p, input, w_in, rows, &mut saved.v);
            attention.forward(m, saved, &mut s.kt, &mut s.vt);
            layer.residual.forward(p, input, w_in, rows, &mut s.residual[i]);
            let next = &mut after[0];
            next.clear();
            next.extend(saved.attended.iter().zip(&s.residual[i]).map(|(a, r)| (a + r).max(0.0)));
        }
        let last = &s.x[levels];
        let last_width = last.len() / m.max(1);
        s.logits.clear();
        s.logits.resize(m, 0.0);
        let head = Tower { hidden: &[], output: &self.head };
        head.forward(p, last, last_width, m, &mut s.acts, &mut s.logits);
        if let Some((hidden, output)) = &self.deep {
            Tower { hidden, output }.forward(p, x.rows, width, m, &mut s.deep_acts, &mut s.logits);
        }
        let loss = loss_gradient(&s.logits, x.labels, x.scale, &mut s.dlogits);

        head.backward(p, last, last_width, m, &s.acts, &s.dlogits, grad, &mut s.dx, &mut s.db);
        for (i, layer) in self.layers.iter().enumerate().rev() {
            // Through the ReLU: the attention output and the residual map both get it.
            s.dx.iter_mut().zip(&s.x[i + 1]).for_each(|(g, y)| {
                if *y <= 0.0 {
                    *g = 0.0
                }
            });
            let (input, w_in) = (&s.x[i], layer.query.inputs);
            layer.residual.accumulate(grad, input, w_in, &s.dx, rows);
            s.dprev.resize(rows * w_in, 0.0);
            layer.residual.input_gradient(p, &s.dx, rows, &mut s.dprev, w_in, false);
            attention.backward(m, &s.saved[i], &s.dx, &mut s.attention);
            let a = &s.attention;
            for (projection, dy) in [(&layer.query, &a.dq), (&layer.key, &a.dk), (&layer.value, &a.dv)] {
                projection.accumulate(grad, input, w_in, dy, rows);
                projection.input_gradient(p, dy, rows, &mut s.dprev, w_in, true);
            }
            std::mem::swap(&mut s.dx, &mut s.dprev);
        }
        // ∂L/∂x₀ to the fields and the numeric token maps.
        for (e, (dtokens, input)) in s.dx.chunks_exact(tokens * d).zip(inputs.chunks_exact_mut(width)).enumerate() {
            x.feature_gradient(e, self.numeric.as_ref(), d, dtokens, grad, input);
        }
        if let Some((hidden, output)) = &self.deep {
            Tower { hidden, output }.backward(p, x.rows, width, m, &s.deep_acts, &s.dlogits, grad, &mut s.dflat, &mut s.db);
            let fields = x.field_width;
            for (out, d_flat) in inputs.chunks_exact_mut(width).zip(s.dflat.chunks_exact(width)) {
                out[..fields].iter_mut().zip(&d_flat[..fields]).for_each(|(o, g)| *o += g);
            }
        }
        loss
    }
}
