//! Frozen teachers that a student's training loop queries online: for dataset rows, a hidden
//! representation `[n, d]` and a logit `[n]`, computed without gradients and counted per
//! example, so that methods that skip teachers (DiverseDistill's filtering) can show the saving.
//!
//! [`RankerTeacher`] wraps a trained zoo model (its shared bottom from
//! [`Ranker::forward_with_hidden`]); the text-model teacher lives in [`crate::foundation`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::prelude::*;
use recforge_data::Dataset;
use recforge_models::{EmbeddedBatch, Ranker, RankingModel};
use recforge_train::TrainedModel;

/// What a frozen teacher answers for a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherAnswer {
    /// Row-major `[n, hidden_dim]`.
    pub hidden: Vec<f32>,
    /// `[n]`.
    pub logits: Vec<f32>,
}

/// A frozen teacher queried inside a training loop.
pub trait FrozenTeacher {
    fn name(&self) -> &str;
    /// Width of [`TeacherAnswer::hidden`].
    fn hidden_dim(&self) -> usize;
    /// Trainable parameters of the teacher (for compression ratios).
    fn parameters(&self) -> usize;
    /// Hidden states and logits of `rows` of `data` (one forward pass per row, counted).
    fn answer(&self, data: &Dataset, rows: &[usize]) -> TeacherAnswer;
    /// Rows answered so far (each one teacher forward pass of one example).
    fn examples_answered(&self) -> u64;
    /// The teacher's upper layers: logits `[n]` from hidden states `[n, hidden_dim]`, on the
    /// caller's device (gradients flow to the input, never into the frozen weights, which the
    /// caller's optimizer does not own).
    fn upper(&self, hidden: Tensor<2>) -> Tensor<1>;
}

/// A trained ranking model as a frozen teacher.
pub struct RankerTeacher {
    name: String,
    trained: TrainedModel,
    hidden_dim: usize,
    answered: AtomicU64,
    batch_size: usize,
    layout: recforge_data::FeatureLayout,
    /// The weights on the training (autodiff) device, gradients off; built on first use.
    upper: OnceLock<Ranker>,
}

/// Why a model cannot serve as a frozen teacher.
#[derive(Debug, thiserror::Error)]
#[error("teacher {name:?}: model kind {kind:?} has no shared bottom; use mlp, dcn_v2 or hiformer")]
pub struct NoHiddenState {
    pub name: String,
    pub kind: String,
}

impl RankerTeacher {
    /// Wraps `trained`; `data` provides one row to measure the hidden width.
    pub fn new(name: &str, trained: TrainedModel, data: &Dataset, batch_size: usize) -> Result<Self, NoHiddenState> {
        let err = || NoHiddenState { name: name.into(), kind: trained.config.name().into() };
        let batch = data.batch(&[0]);
        let embedded = EmbeddedBatch::new(&trained.store, &batch, &Device::default(), false);
        let (_, hidden) = trained.model.forward_with_hidden(&embedded.input).ok_or_else(err)?;
        let hidden_dim = hidden.dims()[1];
        Ok(RankerTeacher {
            name: name.into(),
            trained,
            hidden_dim,
            answered: AtomicU64::new(0),
            batch_size: batch_size.max(1),
            layout: data.layout(),
            upper: OnceLock::new(),
        })
    }

    pub fn trained(&self) -> &TrainedModel {
        &self.trained
    }

    pub fn model(&self) -> &Ranker {
        &self.trained.model
    }
}

impl FrozenTeacher for RankerTeacher {
    fn name(&self) -> &str {
        &self.name
    }

    fn hidden_dim(&self) -> usize {
        self.hidden_dim
    }

    fn parameters(&self) -> usize {
        self.trained.num_parameters()
    }

    fn answer(&self, data: &Dataset, rows: &[usize]) -> TeacherAnswer {
        let device = Device::default();
        let mut out = TeacherAnswer { hidden: Vec::with_capacity(rows.len() * self.hidden_dim), logits: Vec::with_capacity(rows.len()) };
        for chunk in rows.chunks(self.batch_size) {
            let batch = data.batch(chunk);
            let embedded = EmbeddedBatch::new(&self.trained.store, &batch, &device, false);
            let (logits, hidden) = match self.trained.model.forward_with_hidden(&embedded.input) {
                Some(pair) => pair,
                None => (self.trained.model.forward(&embedded.input), Tensor::zeros([chunk.len(), self.hidden_dim], &device)),
            };
            out.hidden.extend(hidden.into_data().try_to_vec::<f32>().unwrap_or_default());
            out.logits.extend(logits.into_data().try_to_vec::<f32>().unwrap_or_default());
        }
        self.answered.fetch_add(rows.len() as u64, Ordering::Relaxed);
        out
    }

    fn examples_answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    fn upper(&self, hidden: Tensor<2>) -> Tensor<1> {
        let device = hidden.device();
        // The frozen weights on the caller's device with gradients off: gradients flow through
        // to `hidden`, never into the teacher.
        let model = if device.is_autodiff() {
            self.upper.get_or_init(|| {
                let fresh = self.trained.config.init(&self.layout, &device);
                fresh.load_record(self.trained.model.clone().into_record()).no_grad()
            })
        } else {
            &self.trained.model
        };
        let size = hidden.dims()[0];
        model.head_from_hidden(hidden).unwrap_or_else(|| Tensor::zeros([size], &device))
    }
}

/// Answers as tensors on `device`: hidden `[n, d]` and logits `[n]`.
pub fn answer_tensors(answer: &TeacherAnswer, n: usize, device: &Device) -> (Tensor<2>, Tensor<1>) {
    let d = if n == 0 { 0 } else { answer.hidden.len() / n };
    (
        Tensor::from_data(TensorData::new(answer.hidden.clone(), [n, d]), device),
        Tensor::from_data(TensorData::new(answer.logits.clone(), [n]), device),
    )
}
