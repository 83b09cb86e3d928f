//! Compiled inference for LR, MLP and DCN-v2 (Hiformer's layers: `compiled_hiformer`; AutoInt's:
//! `compiled_autoint`): the trained weights copied out of burn into plain row-major buffers,
//! and a forward pass that takes a block of examples through every layer at once — input
//! gathered straight from the tables into the block's buffer, each layer one GEMM (the `gemm`
//! crate burn itself uses) into a buffer pre-filled with its bias, ReLU and the cross network's
//! `x₀ ⊙ (…) + x` in place — so a block's activations stay in the core's cache and no tensor is
//! allocated per operation.
//! Blocks run on rayon's threads. Same math as the burn forward (the Transformers stay on burn;
//! training is `compiled_train`); scores agree to float rounding (tests/compiled_inference.rs).

use burn::module::ParamId;
use burn::nn::Linear;
use burn::prelude::*;
use rayon::prelude::*;
use recforge_data::Batch;

use crate::embedding_store::EmbeddingStore;
use crate::layers::field_embedding::FlatInput;
use crate::ranking::Ranker;
use crate::ranking::compiled_autoint::{AutoIntNet, AutoIntScratch};
use crate::ranking::compiled_hiformer::{AttentionScratch, HiformerNet};
use crate::retrieval::search::exact::dot;

/// Examples taken through the network together (their activations, a few hundred KiB, stay
/// in L2 while every layer runs).
const BLOCK_ROWS: usize = 256;
/// Hiformer's block: its per-example Q‖K‖V row is ~3 L·d floats (8 KiB at the reference
/// shape), so fewer rows keep a block's buffers in L2 (while still amortising the GEMM's
/// packing of the Q/K/V weights).
const ATTENTION_BLOCK_ROWS: usize = 128;

/// A linear layer `y = x W + b` with `W` row-major `[inputs, outputs]` (burn's layout).
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    /// The burn parameters the weights came from (`None` for weights built by hand, such as
    /// a factorised projection): compiled training writes its updates back through them.
    pub(crate) source: Option<DenseSource>,
}

/// Which burn parameters a [`Dense`] was copied from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DenseSource {
    pub(crate) weight: ParamId,
    /// `None`: the layer has no bias (the compiled copy holds zeros).
    pub(crate) bias: Option<ParamId>,
}

pub(crate) fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec::<f32>().expect("converted to f32 just above")
}

/// A matrix read through strides: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a> Strided<'a> {
    /// A row-major matrix with rows `ld` apart.
    pub(crate) fn rows(data: &'a [f32], ld: usize) -> Self {
        Strided { data, rs: ld, cs: 1 }
    }

    /// The transpose of a row-major matrix with rows `ld` apart.
    pub(crate) fn transposed(data: &'a [f32], ld: usize) -> Self {
        Strided { data, rs: 1, cs: ld }
    }
}

/// Whether a `rows × cols` matrix at strides `rs`, `cs` fits in `len` elements.
fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    (rows - 1) * rs + (cols - 1) * cs < len
}

/// `dst = lhs · rhs` (`accumulate`: `dst += lhs · rhs`) for `dst` `m × n` at strides
/// `dst_rs`, `dst_cs`, `lhs` `m × k` and `rhs` `k × n`, one thread (the `gemm` crate burn
/// itself uses; strides make transposes free).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    dst_cs: usize,
    lhs: Strided,
    rhs: Strided,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(fits(dst.len(), m, n, dst_rs, dst_cs), "dst holds m × n at its strides");
    if k == 0 {
        if !accumulate {
            (0..m).for_each(|i| (0..n).for_each(|j| dst[i * dst_rs + j * dst_cs] = 0.0));
        }
        return;
    }
    assert!(fits(lhs.data.len(), m, k, lhs.rs, lhs.cs), "lhs holds m × k at its strides");
    assert!(fits(rhs.data.len(), k, n, rhs.rs, rhs.cs), "rhs holds k × n at its strides");
    // SAFETY: the asserts above keep every element the strides reach inside its slice; with
    // read_dst false the destination is only written (alpha is then ignored).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `dst[i][j] += Σ_l lhs[i][l] · rhs[l][j]` for `i < m`, `j < n`: `dst` rows `ldd` apart,
/// `lhs` rows `lda` apart, `rhs` row-major `[k][n]`.
fn gemm_add(m: usize, n: usize, k: usize, dst: &mut [f32], ldd: usize, lhs: &[f32], lda: usize, rhs: &[f32]) {
    // Computed as the transposed product dstᵀ = rhsᵀ · lhsᵀ: the weights (`rhs`, row-major)
    // are then a column-major left operand and the destination is column-major, the layout the
    // gemm crate's kernels read and write without packing the weights on every call.
    matmul(n, m, k, dst, 1, ldd, Strided::transposed(rhs, n), Strided::transposed(lhs, lda), true);
}

impl Dense {
    pub(crate) fn of(linear: &Linear) -> Dense {
        let [inputs, outputs] = linear.weight.val().dims();
        let bias = linear.bias.as_ref().map_or_else(|| vec![0.0; outputs], |b| values(b.val()));
        let source = DenseSource { weight: linear.weight.id, bias: linear.bias.as_ref().map(|b| b.id) };
        Dense { weight: values(linear.weight.val()), bias, inputs, outputs, source: Some(source) }
    }

    /// `out = x W + b` for the `m` rows of `x` (`out` is resized to `[m, outputs]`).
    pub(crate) fn forward(&self, x: &[f32], m: usize, out: &mut Vec<f32>) {
        debug_assert_eq!(x.len(), m * self.inputs);
        out.resize(m * self.outputs, 0.0);
        self.forward_strided(x, self.inputs, m, out, self.outputs);
    }

    /// `dst[i, ..outputs] = x[i] W + b` for the `m` rows of `x` (rows `lda` apart) into rows
    /// `ldd` apart of `dst` (a column block of a wider buffer).
    pub(crate) fn forward_strided(&self, x: &[f32], lda: usize, m: usize, dst: &mut [f32], ldd: usize) {
        for row in 0..m {
            dst[row * ldd..row * ldd + self.outputs].copy_from_slice(&self.bias);
        }
        gemm_add(m, self.outputs, self.inputs, dst, ldd, x, lda, &self.weight);
    }

    /// `[inputs, outputs]` weights and `[outputs]` bias, row-major.
    pub(crate) fn from_parts(weight: Vec<f32>, bias: Vec<f32>, inputs: usize, outputs: usize) -> Dense {
        assert_eq!(weight.len(), inputs * outputs, "weight is [inputs, outputs]");
        assert_eq!(bias.len(), outputs, "bias is [outputs]");
        Dense { weight, bias, inputs, outputs, source: None }
    }

    pub(crate) fn inputs(&self) -> usize {
        self.inputs
    }

    pub(crate) fn outputs(&self) -> usize {
        self.outputs
    }

    /// A one-output layer on each row of `x`, added to `logits`.
    pub(crate) fn add_scalar(&self, x: &[f32], logits: &mut [f32]) {
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
    pub(crate) fn hidden<'s>(&self, x: &'s [f32], m: usize, a: &'s mut Vec<f32>, b: &mut Vec<f32>) -> &'s [f32] {
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
    Hiformer(Box<HiformerNet>),
    AutoInt(Box<AutoIntNet>),
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
    attention: AttentionScratch,
    autoint: AutoIntScratch,
}

impl CompiledRanker {
    /// The compiled form of `model`, or `None` for the kinds scored on burn (the vanilla and
    /// heterogeneous Transformers).
    pub fn compile(model: &Ranker) -> Option<CompiledRanker> {
        let net = match model {
            Ranker::Lr(m) => m.compiled(),
            Ranker::Mlp(m) => m.compiled(),
            Ranker::DcnV2(m) => m.compiled(),
            Ranker::Hiformer(m) => Net::Hiformer(Box::new(m.compiled())),
            Ranker::AutoInt(m) => Net::AutoInt(Box::new(m.compiled())),
            Ranker::Transformer(_) | Ranker::HeteroAttention(_) => return None,
        };
        Some(CompiledRanker { net })
    }

    /// The compiled layers (compiled training starts from them).
    pub(crate) fn into_net(self) -> Net {
        self.net
    }

    /// Click probabilities of every example of `batch`, embedded through `store`.
    pub fn predict(&self, store: &EmbeddingStore, batch: &Batch) -> Vec<f32> {
        let input = FlatInput::new(store, batch);
        let mut scores = vec![0f32; input.len()];
        let threads = rayon::current_num_threads().max(1);
        let rows = match self.net {
            Net::Hiformer(_) | Net::AutoInt(_) => ATTENTION_BLOCK_ROWS,
            _ => BLOCK_ROWS,
        };
        let block = rows.min(input.len().div_ceil(threads)).max(1);
        // One set of buffers per rayon job, reused by its blocks (a fresh multi-MiB buffer
        // per block costs page faults).
        let run = |scratch: &mut Scratch, (b, out): (usize, &mut [f32])| {
            self.block(&input, b * block..b * block + out.len(), scratch, out);
        };
        if input.len() > block {
            scores.par_chunks_mut(block).enumerate().for_each_init(Scratch::default, run);
        } else {
            let mut scratch = Scratch::default();
            scores.chunks_mut(block).enumerate().for_each(|job| run(&mut scratch, job));
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
            Net::Hiformer(net) => net.logits(&s.x0, m, input.field_width(), &mut s.attention, out),
            Net::AutoInt(net) => net.logits(&s.x0, m, input.field_width(), &mut s.autoint, out),
        }
        out.iter_mut().for_each(|logit| *logit = 1.0 / (1.0 + (-*logit).exp()));
    }
}
