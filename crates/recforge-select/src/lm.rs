//! The small causal language model of the data-selection experiment: bytes in, a learned
//! token + position embedding, a few pre-norm Transformer layers under a causal mask
//! (burn's `TransformerEncoder` with `generate_autoregressive_mask`), next-byte logits out.
//! Trained for a fixed number of tokens on random windows of the selected documents (a
//! [`Learner`] driven by `recforge_train::run_loop`); evaluated by per-byte perplexity on
//! held-out text.

use burn::nn::attention::generate_autoregressive_mask;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_data::Progress;
use recforge_train::{Learner, LoopConfig, run_loop};
use serde::{Deserialize, Serialize};

use crate::error::{Result as SelectResult, SelectError};

/// Bytes.
pub const VOCAB: usize = 256;

#[derive(Config, Debug)]
pub struct ByteLmConfig {
    #[config(default = 64)]
    pub d_model: usize,
    #[config(default = 2)]
    pub layers: usize,
    #[config(default = 4)]
    pub heads: usize,
    #[config(default = 256)]
    pub d_ff: usize,
    /// Longest window the model sees.
    #[config(default = 64)]
    pub context: usize,
}

#[derive(Module, Debug)]
pub struct ByteLm {
    tokens: Embedding,
    positions: Embedding,
    encoder: TransformerEncoder,
    head: Linear,
}

impl ByteLmConfig {
    pub fn init(&self, device: &Device) -> ByteLm {
        ByteLm {
            tokens: EmbeddingConfig::new(VOCAB, self.d_model).init(device),
            positions: EmbeddingConfig::new(self.context, self.d_model).init(device),
            encoder: TransformerEncoderConfig::new(self.d_model, self.d_ff, self.heads, self.layers).with_norm_first(true).init(device),
            head: LinearConfig::new(self.d_model, VOCAB).init(device),
        }
    }
}

impl ByteLm {
    /// `[batch, seq]` byte ids → `[batch, seq, 256]` next-byte logits (seq ≤ context).
    pub fn forward(&self, bytes: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = bytes.dims();
        let device = bytes.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]).expand([batch, seq]);
        let x = self.tokens.forward(bytes) + self.positions.forward(positions);
        let mask = generate_autoregressive_mask(batch, seq, &device);
        let h = self.encoder.forward(TransformerEncoderInput::new(x).mask_attn(mask));
        self.head.forward(h)
    }

    /// Mean next-byte cross-entropy (nats) of `[batch, seq + 1]` windows.
    pub fn loss(&self, windows: Tensor<2, Int>) -> Tensor<1> {
        let [batch, len] = windows.dims();
        let seq = len - 1;
        let inputs = windows.clone().slice([0..batch, 0..seq]);
        let targets = windows.slice([0..batch, 1..len]).reshape([batch * seq]);
        let logits = self.forward(inputs).reshape([batch * seq, VOCAB]);
        CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, targets)
    }
}

/// How long to train.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LmTrainConfig {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
}

impl LmTrainConfig {
    /// Training tokens (bytes) seen: steps × batch × context.
    pub fn tokens(&self, context: usize) -> usize {
        self.steps * self.batch * context
    }
}

/// The documents as one byte stream, separated by blank lines.
pub fn byte_stream(texts: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in texts {
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

fn windows_tensor(windows: &[&[u8]], device: &Device) -> Tensor<2, Int> {
    let len = windows[0].len();
    let data: Vec<i64> = windows.iter().flat_map(|w| w.iter().map(|&b| b as i64)).collect();
    Tensor::<2, Int>::from_data(TensorData::new(data, [windows.len(), len]), device)
}

/// The selection LM as a [`Learner`]: each "row" of the step loop is one random window of the
/// training stream, drawn from the learner's own seeded generator, so a run of `steps × batch`
/// rows in order is exactly `steps` Adam steps on `batch` random windows.
struct LmLearner<'a> {
    stream: &'a [u8],
    window: usize,
    /// None only while an optimiser step holds the module.
    lm: Option<ByteLm>,
    optimizer: ModuleOptimizer,
    rng: StdRng,
    lr: f64,
    device: Device,
}

impl Learner for LmLearner<'_> {
    type Error = SelectError;

    fn step(&mut self, rows: &[usize]) -> SelectResult<f64> {
        let starts: Vec<usize> = rows.iter().map(|_| self.rng.random_range(0..self.stream.len() - self.window)).collect();
        let windows: Vec<&[u8]> = starts.iter().map(|&s| &self.stream[s..s + self.window]).collect();
        let lm = self.lm.take().ok_or_else(|| SelectError::Model("the LM was lost in an earlier failed step".into()))?;
        let loss = lm.loss(windows_tensor(&windows, &self.device));
        let grads = loss.backward();
        let value = loss.into_scalar::<f32>() as f64;
        if !value.is_finite() {
            // The loop stops with LoopError::Diverged; the update is not applied.
            self.lm = Some(lm);
            return Ok(value);
        }
        let grads = GradientsParams::from_grads(grads, &lm);
        self.lm = Some(self.optimizer.step(self.lr, lm, grads));
        Ok(value)
    }

    fn validate(&mut self, _epoch: usize) -> SelectResult<Option<f64>> {
        Ok(None)
    }
}

/// Trains a fresh model for `train.steps` steps on random windows of `texts`, through the
/// one step loop of recforge-train (progress: one phase labelled `label`).
pub fn train_lm(texts: &[String], model: &ByteLmConfig, train: &LmTrainConfig, label: &str, progress: &dyn Progress) -> SelectResult<ByteLm> {
    let stream = byte_stream(texts);
    let window = model.context + 1;
    if stream.len() <= window {
        return Err(SelectError::Config(format!("training text has {} bytes; need more than {window}", stream.len())));
    }
    let device = Device::default().autodiff();
    // The seed fixes the initial weights too, so a cell's perplexity does not depend on which
    // cells ran before it in the same process.
    device.seed(train.seed);
    let mut learner = LmLearner {
        stream: &stream,
        window,
        lm: Some(model.init(&device)),
        optimizer: AdamConfig::new().init(),
        rng: StdRng::seed_from_u64(train.seed),
        lr: train.lr,
        device,
    };
    let rows: Vec<usize> = (0..train.steps * train.batch.max(1)).collect();
    if rows.is_empty() {
        return Err(SelectError::Config("the LM needs at least one training step and a batch of at least one window".into()));
    }
    let mut config = LoopConfig::new(label, 1, train.batch.max(1), train.seed);
    // Rows are draws, not examples: their order is the generator's, so no shuffle.
    config.shuffle = false;
    run_loop(&mut learner, &rows, &config, progress)?;
    let lm = learner.lm.ok_or_else(|| SelectError::Model("the LM was lost during training".into()))?;
    Ok(lm.valid())
}

/// Per-byte perplexity of `texts` (exp of the mean next-byte cross-entropy over
/// non-overlapping context-length windows of their byte stream).
pub fn perplexity(lm: &ByteLm, texts: &[String], context: usize, batch: usize) -> SelectResult<f64> {
    let stream = byte_stream(texts);
    let window = context + 1;
    let windows: Vec<&[u8]> = stream.windows(window).step_by(context).collect();
    if windows.is_empty() {
        return Err(SelectError::Config("held-out text is shorter than one window".into()));
    }
    let device = Device::default();
    let (mut total, mut count) = (0f64, 0usize);
    for chunk in windows.chunks(batch.max(1)) {
        let loss = lm.loss(windows_tensor(chunk, &device)).into_scalar::<f32>() as f64;
        total += loss * chunk.len() as f64;
        count += chunk.len();
    }
    Ok((total / count as f64).exp())
}
