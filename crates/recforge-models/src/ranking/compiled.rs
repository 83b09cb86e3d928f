//! Compiled inference for the dense rankers (LR, MLP, DCN-v2): the trained weights copied out
//! of burn into plain row-major buffers, and a forward pass that takes a block of examples
//! through every layer at once — input gathered straight from the tables into the block's
//! buffer, each layer one GEMM (the `gemm` crate burn itself uses) into a buffer pre-filled
//! with its bias, ReLU and the cross network's `x₀ ⊙ (…) + x` in place — so a block's
//! activations stay in the core's cache and no tensor is allocated per operation. Blocks run
//! on rayon's threads. Same math as the burn forward (training, gradients and the other models
//! stay on burn); scores agree to float rounding (tests/compiled_inference.rs).

use burn::nn::Linear;
use burn::prelude::*;
use rayon::prelude::*;
use recforge_data::Batch;

use crate::embedding_store::EmbeddingStore;
use crate::layers::field_embedding::FlatInput;
use crate::ranking::Ranker;
use crate::retrieval::search::exact::dot;

/// Examples taken through the network together (their activations, a few hundred KiB, stay
/// in L2 while every layer runs).
const BLOCK_ROWS: usize = 256;

/// A linear layer `y = x W + b` with `W` row-major `[inputs, outputs]` (burn's layout).
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec::<f32>().expect("converted to f32 just above")
}

impl Dense {
    pub(crate) fn of(linear: &Linear) -> Dense {
        let [inputs, outputs] = linear.weight.val().dims();
        let bias = linear.bias.as_ref().map_or_else(|| vec![0.0; outputs], |b| values(b.val()));
        Dense { weight: values(linear.weight.val()), bias, inputs, outputs }
    }

    /// `out = x W + b` for the `m` rows of `x` (`out` is resized to `[m, outputs]`).
    fn forward(&self, x: &[f32], m: usize, out: &mut Vec<f32>) {
        debug_assert_eq!(x.len(), m * self.inputs);
        out.clear();
        for _ in 0..m {
            out.extend_from_slice(&self.bias);
        }
        if m == 0 || self.inputs == 0 || self.outputs == 0 {
            return;
        }
        // SAFETY: the strides describe the buffers exactly: dst = out [m][outputs] row-major,
        // lhs = x [m][inputs] row-major, rhs = weight [inputs][outputs] row-major; read_dst
        // with alpha 1 adds the product to the bias rows.
        unsafe {
            gemm::gemm(
                m,
                self.outputs,
                self.inputs,
                out.as_mut_ptr(),
                1,
                self.outputs as isize,
                true,
                x.as_ptr(),
                1,
                self.inputs as isize,
                self.weight.as_ptr(),
                1,
                self.outputs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }

    /// A one-output layer on each row of `x`, added to `logits`.
    fn add_scalar(&self, x: &[f32], logits: &mut [f32]) {
        debug_assert_eq!(self.outputs, 1);
        for (row, logit) in x.chunks_exact(self.inputs.max(1)).zip(logits.iter_mut()) {
            *logit += dot(row, &self.weight) + self.bias[0];
        }
    }
}

/// An MLP: ReLU hidden layers, then a one-output head.
#[derive(Debug, Clone)]
pub(crate) struct Tower {
    pub(crate) hidden: Vec<Dense>,
    pub(crate) output: Dense,
}

impl Tower {
    /// The last hidden activations of the `m` rows of `x`: in `a`, or `x` itself when the
    /// tower has no hidden layer.
    fn hidden<'s>(&self, x: &'s [f32], m: usize, a: &'s mut Vec<f32>, b: &mut Vec<f32>) -> &'s [f32] {
        let Some((first, rest)) = self.hidden.split_first() else { return x };
        first.forward(x, m, a);
        relu(a);
        for layer in rest {
            layer.forward(a, m, b);
            relu(b);
            std::mem::swap(a, b);
        }
        a
    }
}

fn relu(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// One cross layer `x ← x₀ ⊙ (W x + b) + x`, `W` full or `up · down`.
#[derive(Debug, Clone)]
pub(crate) struct Cross {
    pub(crate) down: Option<Dense>,
    pub(crate) up: Dense,
}

/// The compiled network of one model kind.
#[derive(Debug, Clone)]
pub(crate) enum Net {
    /// `logit = Σ fields + w·dense + b` (width-1 fields).
    Lr { linear: Dense, has_dense: bool },
    Mlp(Tower),
    /// Parallel (`cross_head` set): `head(cross(x₀)) + deep(x₀)`; stacked: `deep(cross(x₀))`.
    DcnV2 { cross: Vec<Cross>, deep: Tower, cross_head: Option<Dense> },
}

/// A ranking model compiled for inference (see the module doc). Build once per trained
/// model ([`CompiledRanker::compile`]) and score any number of batches.
#[derive(Debug, Clone)]
pub struct CompiledRanker {
    net: Net,
}

/// Per-block buffers.
#[derive(Default)]
struct Scratch {
    x0: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl CompiledRanker {
    /// The compiled form of `model`, or `None` for the kinds scored on burn (attention models).
    pub fn compile(model: &Ranker) -> Option<CompiledRanker> {
        let net = match model {
            Ranker::Lr(m) => m.compiled(),
            Ranker::Mlp(m) => m.compiled(),
            Ranker::DcnV2(m) => m.compiled(),
            Ranker::AutoInt(_) | Ranker::Transformer(_) | Ranker::HeteroAttention(_) | Ranker::Hiformer(_) => return None,
        };
        Some(CompiledRanker { net })
    }

    /// Click probabilities of every example of `batch`, embedded through `store`.
    pub fn predict(&self, store: &EmbeddingStore, batch: &Batch) -> Vec<f32> {
        let input = FlatInput::new(store, batch);
        let mut scores = vec![0f32; input.len()];
        let threads = rayon::current_num_threads().max(1);
        let block = BLOCK_ROWS.min(input.len().div_ceil(threads)).max(1);
        let run = |(b, out): (usize, &mut [f32])| {
            let mut scratch = Scratch::default();
            self.block(&input, b * block..b * block + out.len(), &mut scratch, out);
        };
        if input.len() > block {
            scores.par_chunks_mut(block).enumerate().for_each(run);
        } else {
            scores.chunks_mut(block).enumerate().for_each(run);
        }
        scores
    }

    /// Scores `examples` into `out` (probabilities).
    fn block(&self, input: &FlatInput, examples: std::ops::Range<usize>, s: &mut Scratch, out: &mut [f32]) {
        let (m, width) = (examples.len(), input.width());
        s.x0.resize(m * width, 0.0);
        input.fill(examples, &mut s.x0);
        out.fill(0.0);
        match &self.net {
            Net::Lr { linear, has_dense } => {
                let fields = input.field_width();
                for (row, logit) in s.x0.chunks_exact(width.max(1)).zip(out.iter_mut()) {
                    let dense = if *has_dense { dot(&row[fields..], &linear.weight) } else { 0.0 };
                    *logit = row[..fields].iter().sum::<f32>() + dense + linear.bias[0];
                }
            }
            Net::Mlp(tower) => {
                let hidden = tower.hidden(&s.x0, m, &mut s.a, &mut s.b);
                tower.output.add_scalar(hidden, out);
            }
            Net::DcnV2 { cross, deep, cross_head } => {
                // The crossed features land in `c`.
                s.c.clear();
                s.c.extend_from_slice(&s.x0);
                for layer in cross {
                    let inner: &[f32] = match &layer.down {
                        Some(down) => {
                            down.forward(&s.c, m, &mut s.a);
                            &s.a
                        }
                        None => &s.c,
                    };
                    layer.up.forward(inner, m, &mut s.b);
                    for ((x, x0), w) in s.c.iter_mut().zip(&s.x0).zip(&s.b) {
                        *x += x0 * w;
                    }
                }
                match cross_head {
                    Some(head) => {
                        head.add_scalar(&s.c, out);
                        let hidden = deep.hidden(&s.x0, m, &mut s.a, &mut s.b);
                        deep.output.add_scalar(hidden, out);
                    }
                    None => {
                        let hidden = deep.hidden(&s.c, m, &mut s.a, &mut s.b);
                        deep.output.add_scalar(hidden, out);
                    }
                }
            }
        }
        out.iter_mut().for_each(|logit| *logit = 1.0 / (1.0 + (-*logit).exp()));
    }
}
