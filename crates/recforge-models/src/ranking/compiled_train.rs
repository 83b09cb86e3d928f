//! Compiled training for LR, MLP, DCN-v2 (stacked or parallel, full or low-rank), Hiformer
//! (`compiled_train_hiformer`) and AutoInt (`compiled_train_autoint`): the forward and backward
//! passes written out by hand over plain buffers, outside burn's op-by-op autodiff. The batch is split into one contiguous share per
//! rayon thread; each share goes through every layer and back in blocks of rows (each product
//! one single-threaded GEMM, ReLU masks and the cross layers' `x₀ ⊙ …` done in place), summing
//! its weight gradients into its own buffer (kept across steps); the shares' gradients are
//! added, Adam steps the dense weights in one flat buffer (burn's Adam / AdamW rule and
//! constants), and the input gradient goes to the embedding tables' row-wise optimizer, as in
//! the burn path. Same loss (mean BCE on the logits) and same gradients as burn's autodiff
//! (tests/compiled_training.rs checks both against burn and against finite differences); the
//! trained weights go back into the burn model through its parameter ids
//! ([`CompiledTrainer::write_back`]).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::*;
use rayon::prelude::*;
use recforge_data::Batch;

use crate::embedding_store::EmbeddingStore;
use crate::layers::field_embedding::FlatInput;
use crate::ranking::compiled::{self, CompiledRanker, Dense, Net, Strided, matmul};
use crate::ranking::Ranker;
use crate::ranking::compiled_train_autoint::{AutoIntArch, AutoIntScratch};
use crate::ranking::compiled_train_hiformer::{ExampleRows, HiformerArch, HiformerScratch};
use crate::retrieval::search::exact::dot;

/// Rows taken through the network together inside a thread's share (their activations stay
/// in the core's cache between a layer's forward and backward products).
const BLOCK_ROWS: usize = 256;

/// Dense parameters per rayon job in the optimizer step and the gradient sum (Hiformer has
/// millions).
const PARAMETER_CHUNK: usize = 1 << 16;

/// The dense optimizer's rule, as burn applies it (β₁ 0.9, β₂ 0.999, ε 1e-5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DenseRule {
    /// Adam, with `weight_decay` as an L2 term added to the gradient.
    Adam { weight_decay: f32 },
    /// AdamW: decoupled decay, `w ← w (1 − lr·decay) − lr·Adam step`.
    AdamW { weight_decay: f32 },
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// A linear layer's place in the flat parameter buffer: `[inputs, outputs]` weights at `w`,
/// `[outputs]` bias at `b` (none: the layer has no bias).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linear {
    pub(crate) w: usize,
    pub(crate) b: Option<usize>,
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
}

impl Linear {
    pub(crate) fn weights<'p>(&self, params: &'p [f32]) -> &'p [f32] {
        &params[self.w..self.w + self.inputs * self.outputs]
    }

    /// `out = x W + b` for the `m` rows of `x` (rows `lda` apart; `out` resized to `[m, outputs]`).
    pub(crate) fn forward(&self, params: &[f32], x: &[f32], lda: usize, m: usize, out: &mut Vec<f32>) {
        out.resize(m * self.outputs, 0.0);
        match self.b {
            Some(b) => out.chunks_exact_mut(self.outputs).for_each(|row| row.copy_from_slice(&params[b..b + self.outputs])),
            None => out.fill(0.0),
        }
        let w = Strided::rows(self.weights(params), self.outputs);
        matmul(m, self.outputs, self.inputs, out, self.outputs, 1, Strided::rows(x, lda), w, true);
    }

    /// Given `dy = ∂L/∂y` for the `m` rows of `x`: adds `xᵀ dy` and the column sums of `dy` to
    /// the layer's gradient in `grad`.
    pub(crate) fn accumulate(&self, grad: &mut [f32], x: &[f32], lda: usize, dy: &[f32], m: usize) {
        let dw = &mut grad[self.w..self.w + self.inputs * self.outputs];
        matmul(self.inputs, self.outputs, m, dw, self.outputs, 1, Strided::transposed(x, lda), Strided::rows(dy, self.outputs), true);
        if let Some(b) = self.b {
            let db = &mut grad[b..b + self.outputs];
            for row in dy.chunks_exact(self.outputs) {
                db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
            }
        }
    }

    /// `dx = dy Wᵀ` (`accumulate`: `dx += dy Wᵀ`), `dx` rows `ldx` apart.
    pub(crate) fn input_gradient(&self, params: &[f32], dy: &[f32], m: usize, dx: &mut [f32], ldx: usize, accumulate: bool) {
        let wt = Strided::transposed(self.weights(params), self.outputs);
        matmul(m, self.inputs, self.outputs, dx, ldx, 1, Strided::rows(dy, self.outputs), wt, accumulate);
    }
}

/// One cross layer `x ← x₀ ⊙ (up(down(x))) + x` (`down` only when low-rank).
#[derive(Debug, Clone, Copy)]
struct CrossLayer {
    down: Option<Linear>,
    up: Linear,
}

/// The architectures compiled training covers.
#[derive(Debug, Clone)]
enum Arch {
    /// `logit = Σ fields + w·dense + b` (width-1 fields).
    Lr { linear: Linear, has_dense: bool },
    /// The MLP (no cross layers, no cross head) and DCN-v2: stacked `tower(cross(x₀))`, or
    /// parallel `cross_head(cross(x₀)) + tower(x₀)`.
    Deep { cross: Vec<CrossLayer>, hidden: Vec<Linear>, output: Linear, cross_head: Option<Linear> },
    Hiformer(Box<HiformerArch>),
    AutoInt(Box<AutoIntArch>),
}

/// A flat model in training (see the module doc).
#[derive(Debug, Clone)]
pub struct CompiledTrainer {
    arch: Arch,
    params: Vec<f32>,
    first_moment: Vec<f32>,
    second_moment: Vec<f32>,
    /// Adam steps taken.
    time: i32,
    rule: DenseRule,
    /// Each burn parameter's (offset, length) in `params`.
    slots: HashMap<ParamId, (usize, usize)>,
    workspace: Workspace,
}

/// Buffers a step reuses: each thread share's dense gradient and scratch, the batch's input
/// gradient. A clone starts empty.
#[derive(Default)]
struct Workspace {
    dense: Vec<Vec<f32>>,
    inputs: Vec<f32>,
    scratch: Vec<Scratch>,
}

impl Clone for Workspace {
    fn clone(&self) -> Self {
        Workspace::default()
    }
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Workspace")
    }
}

/// One step's loss and gradients.
#[derive(Debug, Clone)]
pub struct StepGradients {
    /// Mean BCE over the batch.
    pub loss: f64,
    /// Gradient of the mean loss per dense parameter, in the trainer's flat order.
    pub dense: Vec<f32>,
    /// Gradient with respect to each example's input row (fields, then numeric features).
    pub inputs: Vec<f32>,
}

/// Copies compiled layers into one flat buffer, remembering where each burn parameter went.
#[derive(Default)]
pub(crate) struct Flattener {
    params: Vec<f32>,
    slots: HashMap<ParamId, (usize, usize)>,
}

impl Flattener {
    /// `None` when the layer was not copied from burn parameters.
    pub(crate) fn add(&mut self, dense: &Dense) -> Option<Linear> {
        let source = dense.source?;
        let w = self.push(source.weight, &dense.weight);
        let b = source.bias.map(|id| self.push(id, &dense.bias));
        Some(Linear { w, b, inputs: dense.inputs(), outputs: dense.outputs() })
    }

    /// `Some(None)` for an absent layer, `None` when a present one cannot be trained.
    pub(crate) fn optional(&mut self, dense: Option<&Dense>) -> Option<Option<Linear>> {
        match dense {
            None => Some(None),
            Some(d) => self.add(d).map(Some),
        }
    }

    pub(crate) fn push(&mut self, id: ParamId, values: &[f32]) -> usize {
        let offset = self.params.len();
        self.params.extend_from_slice(values);
        self.slots.insert(id, (offset, values.len()));
        offset
    }

    pub(crate) fn tower(&mut self, tower: &compiled::Tower) -> Option<(Vec<Linear>, Linear)> {
        let hidden = tower.hidden.iter().map(|d| self.add(d)).collect::<Option<Vec<_>>>()?;
        Some((hidden, self.add(&tower.output)?))
    }
}

impl CompiledTrainer {
    /// A trainer starting from `model`'s weights with fresh optimizer state, or `None` for the
    /// models that train on burn: the Transformers, Hiformer's serving forms (factorised,
    /// pruned), and any model with dropout.
    pub fn new(model: &Ranker, rule: DenseRule) -> Option<CompiledTrainer> {
        let mut flat = Flattener::default();
        let arch = match model {
            Ranker::Hiformer(hiformer) => Arch::Hiformer(Box::new(HiformerArch::new(hiformer, &mut flat)?)),
            Ranker::AutoInt(autoint) => Arch::AutoInt(Box::new(AutoIntArch::new(autoint, &mut flat)?)),
            Ranker::Mlp(m) if !m.without_dropout() => return None,
            Ranker::DcnV2(m) if !m.without_dropout() => return None,
            Ranker::Lr(_) | Ranker::Mlp(_) | Ranker::DcnV2(_) => match CompiledRanker::compile(model)?.into_net() {
                Net::Lr { linear, has_dense } => Arch::Lr { linear: flat.add(&linear)?, has_dense },
                Net::Mlp(tower) => {
                    let (hidden, output) = flat.tower(&tower)?;
                    Arch::Deep { cross: Vec::new(), hidden, output, cross_head: None }
                }
                Net::DcnV2 { cross, deep, cross_head } => {
                    let cross = cross
                        .iter()
                        .map(|c| Some(CrossLayer { down: flat.optional(c.down.as_ref())?, up: flat.add(&c.up)? }))
                        .collect::<Option<Vec<_>>>()?;
                    let (hidden, output) = flat.tower(&deep)?;
                    let cross_head = flat.optional(cross_head.as_ref())?;
                    Arch::Deep { cross, hidden, output, cross_head }
                }
                Net::Hiformer(_) | Net::AutoInt(_) => return None,
            },
            Ranker::Transformer(_) | Ranker::HeteroAttention(_) => return None,
        };
        let len = flat.params.len();
        Some(CompiledTrainer {
            arch,
            params: flat.params,
            first_moment: vec![0.0; len],
            second_moment: vec![0.0; len],
            time: 0,
            rule,
            slots: flat.slots,
            workspace: Workspace::default(),
        })
    }

    /// Dense parameters, in the flat order of [`StepGradients::dense`].
    pub fn parameters(&self) -> &[f32] {
        &self.params
    }

    /// The flat offset and length of the burn parameter `id`, if this trainer holds it.
    pub fn slot(&self, id: ParamId) -> Option<(usize, usize)> {
        self.slots.get(&id).copied()
    }

    /// One optimisation step on `batch`: dense Adam with learning rate `lr`, the embedding rows
    /// through `store`'s row-wise optimizer. Returns the batch's mean loss; a non-finite loss
    /// is returned without applying any update.
    pub fn step(&mut self, store: &mut EmbeddingStore, batch: &Batch, lr: f64) -> f64 {
        let mut workspace = std::mem::take(&mut self.workspace);
        let loss = self.compute(store, batch, &mut workspace);
        if loss.is_finite() {
            let updates = FlatInput::new(store, batch).row_gradients(&workspace.inputs);
            store.begin_step();
            store.apply_many(&updates);
            self.adam(&workspace.dense[0], lr as f32);
        }
        self.workspace = workspace;
        loss
    }

    /// The mean BCE of `batch` and its gradients, without updating anything.
    pub fn gradients(&self, store: &EmbeddingStore, batch: &Batch) -> StepGradients {
        let mut workspace = Workspace::default();
        let loss = self.compute(store, batch, &mut workspace);
        StepGradients { loss, dense: workspace.dense.swap_remove(0), inputs: workspace.inputs }
    }

    /// The mean BCE of `batch`; leaves the gradient of the dense parameters in
    /// `workspace.dense[0]` and the input gradients in `workspace.inputs`.
    fn compute(&self, store: &EmbeddingStore, batch: &Batch, workspace: &mut Workspace) -> f64 {
        let input = FlatInput::new(store, batch);
        let (n, width) = (input.len(), input.width());
        let threads = rayon::current_num_threads().max(1);
        let share = n.div_ceil(threads).max(1);
        let shares = n.div_ceil(share).max(1);
        let scale = 1.0 / n.max(1) as f32;
        let Workspace { dense, inputs, scratch } = workspace;
        // Buffers are kept across steps: multi-megabyte allocations each step cost page faults.
        dense.resize_with(shares, Vec::new);
        dense.iter_mut().for_each(|d| {
            d.clear();
            d.resize(self.params.len(), 0.0);
        });
        scratch.resize_with(shares, Scratch::default);
        inputs.clear();
        inputs.resize(n * width, 0.0);
        let mut share_inputs = Vec::with_capacity(shares);
        let mut rest = inputs.as_mut_slice();
        for s in 0..shares {
            let rows = (((s + 1) * share).min(n)).saturating_sub(s * share);
            let (head, tail) = rest.split_at_mut(rows * width);
            share_inputs.push(head);
            rest = tail;
        }
        let loss: f64 = dense
            .par_iter_mut()
            .zip(scratch.par_iter_mut())
            .zip(share_inputs.into_par_iter())
            .enumerate()
            .map(|(s, ((dense, scratch), inputs))| {
                let rows = s * share..((s + 1) * share).min(n);
                let mut loss = 0.0;
                for start in rows.clone().step_by(BLOCK_ROWS) {
                    let block = start..(start + BLOCK_ROWS).min(rows.end);
                    let out = &mut inputs[(block.start - rows.start) * width..(block.end - rows.start) * width];
                    loss += self.block(&input, &batch.labels, block, scale, scratch, dense, out);
                }
                loss
            })
            .sum();
        let (total, others) = dense.split_at_mut(1);
        for other in others {
            total[0].par_chunks_mut(PARAMETER_CHUNK).zip(other.par_chunks(PARAMETER_CHUNK)).for_each(|(t, d)| {
                t.iter_mut().zip(d).for_each(|(t, d)| *t += d);
            });
        }
        loss / n.max(1) as f64
    }

    /// burn's Adam / AdamW update of every dense parameter from the mean-loss gradient `grad`.
    fn adam(&mut self, grad: &[f32], lr: f32) {
        self.time += 1;
        let correction2 = (1.0 - BETA2.powi(self.time)).sqrt();
        let factor = correction2 / (1.0 - BETA1.powi(self.time));
        let eps = EPSILON * correction2;
        let (l2, decoupled) = match self.rule {
            DenseRule::Adam { weight_decay } => (weight_decay, 0.0),
            DenseRule::AdamW { weight_decay } => (0.0, weight_decay),
        };
        let keep = 1.0 - lr * decoupled;
        let params = self.params.par_chunks_mut(PARAMETER_CHUNK).zip(grad.par_chunks(PARAMETER_CHUNK));
        let moments = self.first_moment.par_chunks_mut(PARAMETER_CHUNK).zip(self.second_moment.par_chunks_mut(PARAMETER_CHUNK));
        params.zip(moments).for_each(|((params, grad), (first, second))| {
            for ((p, g), (m, v)) in params.iter_mut().zip(grad).zip(first.iter_mut().zip(second.iter_mut())) {
                let g = g + l2 * *p;
                *m = BETA1 * *m + (1.0 - BETA1) * g;
                *v = BETA2 * *v + (1.0 - BETA2) * g * g;
                *p = *p * keep - lr * (*m * factor / (v.sqrt() + eps));
            }
        });
    }

    /// `model` (the one this trainer started from, or a clone of it) with the trained weights.
    pub fn write_back(&self, model: Ranker) -> Ranker {
        model.map(&mut Assign { params: &self.params, slots: &self.slots })
    }

    /// Loss sum of `examples`; adds their weight gradients (of the mean over `1 / scale`
    /// examples) to `dense` and writes their input gradients to `inputs`.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        input: &FlatInput,
        labels: &[f32],
        examples: std::ops::Range<usize>,
        scale: f32,
        s: &mut Scratch,
        dense: &mut [f32],
        inputs: &mut [f32],
    ) -> f64 {
        let (m, width) = (examples.len(), input.width());
        s.x0.resize(m * width, 0.0);
        input.fill(examples.clone(), &mut s.x0);
        s.logits.clear();
        s.logits.resize(m, 0.0);
        let p = &self.params;
        let rows = ExampleRows { rows: &s.x0, width, field_width: input.field_width(), labels: &labels[examples.clone()], scale };
        match &self.arch {
            Arch::Lr { linear, has_dense } => {
                let fields = input.field_width();
                let bias = linear.b.map_or(0.0, |b| p[b]);
                let row = |i: usize| &s.x0[i * width..(i + 1) * width];
                for (i, logit) in s.logits.iter_mut().enumerate() {
                    let numeric = if *has_dense { dot(&row(i)[fields..], linear.weights(p)) } else { 0.0 };
                    *logit = row(i)[..fields].iter().sum::<f32>() + numeric + bias;
                }
                let loss = loss_gradient(&s.logits, &labels[examples], scale, &mut s.dlogits);
                for (i, &g) in s.dlogits.iter().enumerate() {
                    let d = &mut inputs[i * width..(i + 1) * width];
                    d[..fields].fill(g);
                    d[fields..].fill(0.0);
                    if *has_dense {
                        dense[linear.w..linear.w + width - fields].iter_mut().zip(&row(i)[fields..]).for_each(|(w, x)| *w += g * x);
                    }
                }
                if let Some(b) = linear.b {
                    dense[b] += s.dlogits.iter().sum::<f32>();
                }
                loss
            }
            Arch::Hiformer(h) => h.block(p, &rows, &mut s.hiformer, dense, inputs),
            Arch::AutoInt(a) => a.block(p, &rows, &mut s.autoint, dense, inputs),
            Arch::Deep { cross, hidden, output, cross_head } => {
                self.deep_block(cross, hidden, output, cross_head.as_ref(), &labels[examples], m, width, scale, s, dense, inputs)
            }
        }
    }

    /// [`CompiledTrainer::block`] for the MLP and DCN-v2 (`s.x0` holds the `m` input rows).
    #[allow(clippy::too_many_arguments)]
    fn deep_block(
        &self,
        cross: &[CrossLayer],
        hidden: &[Linear],
        output: &Linear,
        cross_head: Option<&Linear>,
        labels: &[f32],
        m: usize,
        width: usize,
        scale: f32,
        s: &mut Scratch,
        dense: &mut [f32],
        dx0: &mut [f32],
    ) -> f64 {
        let p = &self.params;
        // Forward. crossed[k] = x_{k+1}; inner[k] = the low-rank bottleneck; z[k] = up(…) + b.
        s.levels(cross.len());
        for (k, layer) in cross.iter().enumerate() {
            let (before, after) = s.crossed.split_at_mut(k);
            let x: &[f32] = if k == 0 { &s.x0 } else { &before[k - 1] };
            if let Some(down) = &layer.down {
                down.forward(p, x, width, m, &mut s.inner[k]);
                layer.up.forward(p, &s.inner[k], down.outputs, m, &mut s.z[k]);
            } else {
                layer.up.forward(p, x, width, m, &mut s.z[k]);
            }
            let next = &mut after[0];
            next.clear();
            next.extend(s.z[k].iter().zip(&s.x0).zip(x).map(|((z, x0), x)| x0 * z + x));
        }
        let crossed_out: &[f32] = cross.len().checked_sub(1).map_or(s.x0.as_slice(), |k| s.crossed[k].as_slice());
        // The tower reads the cross output when stacked, x₀ otherwise.
        let stacked = !cross.is_empty() && cross_head.is_none();
        let tower_in: &[f32] = if stacked { crossed_out } else { &s.x0 };
        let tower = Tower { hidden, output };
        tower.forward(p, tower_in, width, m, &mut s.acts, &mut s.logits);
        if let Some(head) = cross_head {
            let head_b = head.b.map_or(0.0, |b| p[b]);
            for (row, logit) in crossed_out.chunks_exact(width.max(1)).zip(s.logits.iter_mut()) {
                *logit += dot(row, head.weights(p)) + head_b;
            }
        }
        let loss = loss_gradient(&s.logits, labels, scale, &mut s.dlogits);

        // Backward through the tower: `s.da` ends as ∂L/∂tower_in.
        tower.backward(p, tower_in, width, m, &s.acts, &s.dlogits, dense, &mut s.da, &mut s.db);
        // ∂L/∂(cross output) in `s.dc`; what reaches x₀ directly in `dx0`.
        match cross_head {
            Some(head) => {
                dx0.copy_from_slice(&s.da);
                outer_backward(head, p, crossed_out, &s.dlogits, dense, &mut s.dc);
            }
            None if stacked => {
                std::mem::swap(&mut s.dc, &mut s.da);
                dx0.fill(0.0);
            }
            None => dx0.copy_from_slice(&s.da),
        }
        for (k, layer) in cross.iter().enumerate().rev() {
            let x: &[f32] = if k == 0 { &s.x0 } else { &s.crossed[k - 1] };
            // x_{k+1} = x₀ ⊙ z + x: x₀ gets dc ⊙ z, z gets dc ⊙ x₀, x gets dc (kept in s.dc).
            s.dz.clear();
            s.dz.extend(s.dc.iter().zip(&s.x0).map(|(d, x0)| d * x0));
            dx0.iter_mut().zip(s.dc.iter().zip(&s.z[k])).for_each(|(d, (c, z))| *d += c * z);
            match &layer.down {
                Some(down) => {
                    layer.up.accumulate(dense, &s.inner[k], down.outputs, &s.dz, m);
                    s.db.resize(m * down.outputs, 0.0);
                    layer.up.input_gradient(p, &s.dz, m, &mut s.db, down.outputs, false);
                    down.accumulate(dense, x, width, &s.db, m);
                    down.input_gradient(p, &s.db, m, &mut s.dc, width, true);
                }
                None => {
                    layer.up.accumulate(dense, x, width, &s.dz, m);
                    layer.up.input_gradient(p, &s.dz, m, &mut s.dc, width, true);
                }
            }
        }
        if !cross.is_empty() {
            dx0.iter_mut().zip(&s.dc).for_each(|(d, c)| *d += c);
        }
        loss
    }
}

/// ReLU hidden layers and a one-output layer.
pub(crate) struct Tower<'a> {
    pub(crate) hidden: &'a [Linear],
    pub(crate) output: &'a Linear,
}

impl Tower<'_> {
    /// Adds the logits of the `m` rows of `x` (rows `width` apart) to `logits`, keeping every
    /// hidden activation in `acts`.
    pub(crate) fn forward(&self, p: &[f32], x: &[f32], width: usize, m: usize, acts: &mut Vec<Vec<f32>>, logits: &mut [f32]) {
        acts.resize_with(self.hidden.len(), Vec::new);
        for (l, layer) in self.hidden.iter().enumerate() {
            let (before, after) = acts.split_at_mut(l);
            let (x, lda) = if l == 0 { (x, width) } else { (&before[l - 1][..], self.hidden[l - 1].outputs) };
            layer.forward(p, x, lda, m, &mut after[0]);
            after[0].iter_mut().for_each(|v| *v = v.max(0.0));
        }
        let last: &[f32] = self.hidden.len().checked_sub(1).map_or(x, |l| acts[l].as_slice());
        let out_b = self.output.b.map_or(0.0, |b| p[b]);
        for (row, logit) in last.chunks_exact(self.output.inputs.max(1)).zip(logits.iter_mut()) {
            *logit += dot(row, self.output.weights(p)) + out_b;
        }
    }

    /// Backward from `dlogits` to the tower's input (into `da`, `m × width`), adding every
    /// layer's gradient to `dense`; `acts` and `x` as [`Tower::forward`] left them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        p: &[f32],
        x: &[f32],
        width: usize,
        m: usize,
        acts: &[Vec<f32>],
        dlogits: &[f32],
        dense: &mut [f32],
        da: &mut Vec<f32>,
        db: &mut Vec<f32>,
    ) {
        let last: &[f32] = self.hidden.len().checked_sub(1).map_or(x, |l| acts[l].as_slice());
        outer_backward(self.output, p, last, dlogits, dense, da);
        for (l, layer) in self.hidden.iter().enumerate().rev() {
            da.iter_mut().zip(&acts[l]).for_each(|(d, a)| {
                if *a <= 0.0 {
                    *d = 0.0
                }
            });
            let (x, lda) = if l == 0 { (x, width) } else { (&acts[l - 1][..], self.hidden[l - 1].outputs) };
            layer.accumulate(dense, x, lda, da, m);
            db.resize(m * layer.inputs, 0.0);
            layer.input_gradient(p, da, m, db, layer.inputs, false);
            std::mem::swap(da, db);
        }
    }
}

/// Backward through a one-output layer `logit += x · w + b` over the `m` rows of `x`: adds
/// its weight and bias gradients to `dense` and sets `dx[i] = dlogit[i] · w`.
fn outer_backward(layer: &Linear, p: &[f32], x: &[f32], dlogits: &[f32], dense: &mut [f32], dx: &mut Vec<f32>) {
    let width = layer.inputs;
    let w = layer.weights(p);
    dx.clear();
    dx.reserve(dlogits.len() * width);
    for (row, &g) in x.chunks_exact(width.max(1)).zip(dlogits) {
        dense[layer.w..layer.w + width].iter_mut().zip(row).for_each(|(d, x)| *d += g * x);
        dx.extend(w.iter().map(|w| g * w));
    }
    if let Some(b) = layer.b {
        dense[b] += dlogits.iter().sum::<f32>();
    }
}

/// A thread's buffers, reused across its blocks and steps.
#[derive(Default)]
struct Scratch {
    x0: Vec<f32>,
    logits: Vec<f32>,
    dlogits: Vec<f32>,
    /// Cross layer outputs x₁…x_K, bottlenecks and pre-gate outputs per layer.
    crossed: Vec<Vec<f32>>,
    inner: Vec<Vec<f32>>,
    z: Vec<Vec<f32>>,
    /// Hidden activations after ReLU, per tower layer.
    acts: Vec<Vec<f32>>,
    da: Vec<f32>,
    db: Vec<f32>,
    dc: Vec<f32>,
    dz: Vec<f32>,
    hiformer: HiformerScratch,
    autoint: AutoIntScratch,
}

impl Scratch {
    fn levels(&mut self, cross: usize) {
        self.crossed.resize_with(cross, Vec::new);
        self.inner.resize_with(cross, Vec::new);
        self.z.resize_with(cross, Vec::new);
    }
}

/// The summed BCE of `logits` against `labels`; `dlogits` becomes `(σ(logit) − y) · scale`,
/// the gradient of the batch mean.
pub(crate) fn loss_gradient(logits: &[f32], labels: &[f32], scale: f32, dlogits: &mut Vec<f32>) -> f64 {
    dlogits.clear();
    let mut loss = 0.0;
    for (&x, &y) in logits.iter().zip(labels) {
        // max(x, 0) − x·y + log(1 + e^{−|x|}), as bce_with_logits.
        loss += f64::from(x.max(0.0) - x * y + (-x.abs()).exp().ln_1p());
        dlogits.push((1.0 / (1.0 + (-x).exp()) - y) * scale);
    }
    loss
}

/// Writes the trainer's flat weights into the burn parameters they came from.
struct Assign<'a> {
    params: &'a [f32],
    slots: &'a HashMap<ParamId, (usize, usize)>,
}

impl ModuleMapper for Assign<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(&(offset, len)) = self.slots.get(&param.id) else { return param };
        let values = self.params[offset..offset + len].to_vec();
        param.map(|tensor| {
            let shape = tensor.shape();
            assert_eq!(shape.num_elements(), len, "a compiled parameter keeps its burn shape");
            Tensor::<D>::from_data(TensorData::new(values, shape), &tensor.device()).set_require_grad(tensor.is_require_grad())
        })
    }
}
