//! DiverseDistill (arXiv 2402.14035): a teaching committee (a foundation-model teacher plus
//! complementary zoo teachers) taught through a learnable Question-Answer module: the student
//! asks teacher-conditioned questions from its hidden state, each frozen teacher's intermediate
//! representation answers, aligned into the student's space; per-sample teacher importance
//! weights the answers and the soft labels, and low-importance teachers are not run at all.
//!
//! Implemented form ([R] where PAPERS.md §4 leaves details open; names are config options):
//! - question `q = Q(sg(h_s))`; answer `a_k = Dec_k(relu(Enc_k([q; h_t,k])))` in the student's
//!   hidden space; the student's own (frozen-for-this-term) output layer reads the teacher's
//!   logit from it (`answer_weight · (head_s(a_k) − t_k)²`), which is what "aligned into the
//!   student's space" means here. The teachers' upper layers are their output layers, so the
//!   `T_k^upper` step of the paper's form is folded into this alignment term.
//! - importance `w = softmax_k(⟨K h_s, a_k⟩/√d_s)` over the teachers run for that sample, trained
//!   so the weighted teacher mixture `Σ w_k σ(t_k)` predicts the label (per-sample relevance);
//!   a router `softmax(R q)` learns to predict `w` before any teacher runs.
//! - filtering: after `warmup_steps`, the `filter_share` of (sample, teacher) pairs with the
//!   lowest routed importance are skipped (never a sample's last teacher) and those teachers
//!   are not run for those samples; the forward passes saved are counted.
//! - student loss `task_weight · L_task + kd_weight · L_KD(s; Σ w_k σ(t_k/T)) + feature_weight ·
//!   ‖h_s − Σ w_k a_k‖²` (answers and weights are constants in the student's terms); the KD term,
//!   its weights, temperature and form are the student's `[students.kd]` table
//!   ([`crate::kd::kd_loss_mixture`]).
//! The module lives in the training objective and is dropped at serving: the served student is
//! exactly the plain student (same parameters, same latency).

use std::collections::HashMap;

use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Gradients;
use burn::tensor::activation::{log_softmax, relu, sigmoid, softmax};
use recforge_data::{Batch, Dataset};
use recforge_models::{ModelInput, Ranker};
use recforge_train::{Objective, ObjectiveError, bce_with_logits};
use serde::{Deserialize, Serialize};

use crate::frozen::FrozenTeacher;
use crate::held_module::step_held;
use crate::kd::KdConfig;

/// How this objective names itself in errors.
const OBJECTIVE: &str = "DiverseDistill committee";

/// `[committee]` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommitteeOptions {
    /// Width of the student's question.
    pub question_dim: usize,
    /// Width of each teacher's encoded answer before decoding into the student's space.
    pub message_dim: usize,
    /// Share of (sample, teacher) pairs skipped after warm-up (0 = run every teacher).
    pub filter_share: f64,
    /// Steps with every teacher run while the router learns.
    pub warmup_steps: usize,
    /// Removed: the weight of the importance-weighted soft-label term is the student's
    /// `[students.kd] kd_weight`. Still read so an old config gets a clear error.
    #[serde(rename = "kd_weight", skip_serializing)]
    pub removed_kd_weight: Option<f64>,
    /// Weight of the hidden-state term `‖h_s − Σ w a‖²`.
    pub feature_weight: f64,
    /// Weight of the answer-alignment term.
    pub answer_weight: f64,
    /// Learning rate of the QA module (Adam).
    pub lr: f64,
}

impl Default for CommitteeOptions {
    fn default() -> Self {
        CommitteeOptions {
            question_dim: 32,
            message_dim: 64,
            filter_share: 0.3,
            warmup_steps: 100,
            removed_kd_weight: None,
            feature_weight: 0.1,
            answer_weight: 1.0,
            lr: 0.002,
        }
    }
}

impl CommitteeOptions {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.filter_share) {
            return Err(format!("[committee] filter_share = {}: expected 0 <= share < 1", self.filter_share));
        }
        if self.question_dim == 0 || self.message_dim == 0 {
            return Err("[committee] question_dim and message_dim must be positive".into());
        }
        if let Some(weight) = self.removed_kd_weight {
            return Err(removed_kd_weight("committee", weight));
        }
        Ok(())
    }
}

/// The error for a `[committee]` or `[talking]` `kd_weight`, which used to weigh the mode's own
/// soft-label term beside the student's `kd` table.
pub(crate) fn removed_kd_weight(section: &str, weight: f64) -> String {
    format!(
        "[{section}] kd_weight = {weight} is no longer read: the soft-label term is the student's KD term, \
         weighted by the student's `kd` table; move it there (e.g. `kd = {{ kd_weight = {weight}, temperature = 1.0, \
         form = \"bce\" }}` under [[students]]) and delete it from [{section}]"
    )
}

/// The Question-Answer module over `K` teachers.
#[derive(Module, Debug)]
pub struct QaModule {
    question: Linear,
    encoders: Vec<Linear>,
    decoders: Vec<Linear>,
    key: Linear,
    router: Linear,
}

/// Sizes of a [`QaModule`].
#[derive(Config, Debug)]
pub struct QaModuleConfig {
    pub d_student: usize,
    pub teacher_dims: Vec<usize>,
    #[config(default = 32)]
    pub question_dim: usize,
    #[config(default = 64)]
    pub message_dim: usize,
}

impl QaModuleConfig {
    pub fn init(&self, device: &Device) -> QaModule {
        let (q, m, s) = (self.question_dim, self.message_dim, self.d_student);
        QaModule {
            question: LinearConfig::new(s, q).init(device),
            encoders: self.teacher_dims.iter().map(|&d| LinearConfig::new(q + d, m).init(device)).collect(),
            decoders: self.teacher_dims.iter().map(|_| LinearConfig::new(m, s).init(device)).collect(),
            key: LinearConfig::new(s, s).init(device),
            router: LinearConfig::new(q, self.teacher_dims.len()).init(device),
        }
    }
}

impl QaModule {
    /// The question `[n, question_dim]` from the student's hidden state `[n, d_s]` (detached).
    pub fn question(&self, h_s: Tensor<2>) -> Tensor<2> {
        self.question.forward(h_s.detach())
    }

    /// Routed importance `[n, K]` (rows sum to one) from questions, before any teacher runs.
    pub fn route(&self, question: Tensor<2>) -> Tensor<2> {
        softmax(self.router.forward(question), 1)
    }

    /// Teacher `k`'s answer `[n, d_s]` to `question` given its hidden state `[n, d_k]`.
    pub fn answer(&self, k: usize, question: Tensor<2>, h_t: Tensor<2>) -> Tensor<2> {
        self.decoders[k].forward(relu(self.encoders[k].forward(Tensor::cat(vec![question, h_t], 1))))
    }

    /// Per-sample teacher weights `[n, K]` over the kept teachers (`mask` `[n, K]`: 1 kept,
    /// 0 skipped): a softmax of `⟨K h_s, a_k⟩/√d_s`; skipped teachers weigh exactly 0 and every
    /// row sums to one.
    pub fn weights(&self, h_s: Tensor<2>, answers: &[Tensor<2>], mask: Tensor<2>) -> Tensor<2> {
        let d = h_s.dims()[1] as f64;
        let key = self.key.forward(h_s.detach());
        let scores: Vec<Tensor<2>> = answers.iter().map(|a| (key.clone() * a.clone().detach()).sum_dim(1) / d.sqrt()).collect();
        let scores = Tensor::cat(scores, 1);
        // Skipped teachers get −1e9 before the softmax, then an exact 0 after it.
        let masked = scores + (mask.clone() - 1.0) * 1e9;
        softmax(masked, 1) * mask
    }
}

/// Which (sample, teacher) pairs to run: `[n][K]`, true = run. Skips `round(share·n·K)` pairs
/// with the lowest `importance` (row-major `[n, K]`), never a sample's last teacher.
pub fn filter_pairs(importance: &[f32], n: usize, k: usize, share: f64) -> Vec<Vec<bool>> {
    let mut keep = vec![vec![true; k]; n];
    if k < 2 || share <= 0.0 {
        return keep;
    }
    let target = ((share * (n * k) as f64).round() as usize).min(n * (k - 1));
    let mut pairs: Vec<usize> = (0..n * k).collect();
    pairs.sort_by(|&a, &b| importance[a].total_cmp(&importance[b]));
    let mut kept_per_sample = vec![k; n];
    let mut dropped = 0;
    for p in pairs {
        if dropped == target {
            break;
        }
        let (i, j) = (p / k, p % k);
        if kept_per_sample[i] > 1 {
            keep[i][j] = false;
            kept_per_sample[i] -= 1;
            dropped += 1;
        }
    }
    keep
}

/// Counters of one DiverseDistill training.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CommitteeStats {
    /// (sample, teacher) pairs a committee without filtering would run.
    pub pairs_total: u64,
    /// Pairs actually run (teacher forward passes of one example).
    pub pairs_run: u64,
    /// Per teacher: forward passes run, and the summed importance weight.
    pub passes_per_teacher: Vec<u64>,
    pub weight_sum_per_teacher: Vec<f64>,
    pub steps: u64,
}

impl CommitteeStats {
    pub fn saved_share(&self) -> f64 {
        if self.pairs_total == 0 { 0.0 } else { 1.0 - self.pairs_run as f64 / self.pairs_total as f64 }
    }
}

/// The DiverseDistill training objective for a student with a shared bottom.
pub struct CommitteeObjective<'a> {
    teachers: Vec<&'a dyn FrozenTeacher>,
    data: &'a Dataset,
    row_of: &'a HashMap<u64, usize>,
    options: CommitteeOptions,
    kd: KdConfig,
    qa: Option<QaModule>,
    optimizer: ModuleOptimizer,
    pub stats: CommitteeStats,
}

impl<'a> CommitteeObjective<'a> {
    /// `d_student`: width of the student's shared bottom; `row_of` maps example ids to rows of
    /// `data`; `kd`: the student's KD table (weights, temperature, form of the soft-label term).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        teachers: Vec<&'a dyn FrozenTeacher>,
        data: &'a Dataset,
        row_of: &'a HashMap<u64, usize>,
        d_student: usize,
        options: CommitteeOptions,
        kd: KdConfig,
        device: &Device,
    ) -> Self {
        let dims: Vec<usize> = teachers.iter().map(|t| t.hidden_dim()).collect();
        let qa = QaModuleConfig::new(d_student, dims)
            .with_question_dim(options.question_dim)
            .with_message_dim(options.message_dim)
            .init(device);
        let k = teachers.len();
        let stats = CommitteeStats { passes_per_teacher: vec![0; k], weight_sum_per_teacher: vec![0.0; k], ..CommitteeStats::default() };
        CommitteeObjective { teachers, data, row_of, options, kd, qa: Some(qa), optimizer: AdamConfig::new().init(), stats }
    }

    pub fn qa(&self) -> Option<&QaModule> {
        self.qa.as_ref()
    }

    /// QA parameters (training-only; not part of the served student).
    pub fn qa_parameters(&self) -> usize {
        self.qa.as_ref().map_or(0, |qa| qa.num_params())
    }

    /// Runs the kept teachers and returns their hidden states `[n, d_k]` (zeros where skipped),
    /// logits `[n, K]` and the mask `[n, K]`.
    fn ask(&mut self, rows: &[usize], keep: &[Vec<bool>], device: &Device) -> (Vec<Tensor<2>>, Tensor<2>, Tensor<2>) {
        let (n, k) = (rows.len(), self.teachers.len());
        let mut hidden = Vec::with_capacity(k);
        let mut logits = vec![0.0f32; n * k];
        let mut mask = vec![0.0f32; n * k];
        for (j, teacher) in self.teachers.iter().enumerate() {
            let idx: Vec<usize> = (0..n).filter(|&i| keep[i][j]).collect();
            let sub: Vec<usize> = idx.iter().map(|&i| rows[i]).collect();
            let d = teacher.hidden_dim();
            let mut h = vec![0.0f32; n * d];
            if !sub.is_empty() {
                let answer = teacher.answer(self.data, &sub);
                for (pos, &i) in idx.iter().enumerate() {
                    h[i * d..(i + 1) * d].copy_from_slice(&answer.hidden[pos * d..(pos + 1) * d]);
                    logits[i * k + j] = answer.logits[pos];
                    mask[i * k + j] = 1.0;
                }
            }
            self.stats.passes_per_teacher[j] += sub.len() as u64;
            self.stats.pairs_run += sub.len() as u64;
            hidden.push(Tensor::from_data(TensorData::new(h, [n, d]), device));
        }
        self.stats.pairs_total += (n * k) as u64;
        (
            hidden,
            Tensor::from_data(TensorData::new(logits, [n, k]), device),
            Tensor::from_data(TensorData::new(mask, [n, k]), device),
        )
    }

    fn rows(&self, batch: &Batch) -> Vec<usize> {
        batch.example_ids.iter().map(|id| self.row_of.get(id).copied().unwrap_or(usize::MAX)).collect()
    }
}

impl Objective for CommitteeObjective<'_> {
    fn loss(&mut self, model: &Ranker, input: &ModelInput, batch: &Batch, device: &Device) -> Result<Tensor<1>, ObjectiveError> {
        let n = batch.len;
        let labels = Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [n]), device);
        let Some((logits, h_s)) = model.forward_with_hidden(input) else {
            return Err(ObjectiveError::Misconfigured { objective: OBJECTIVE, reason: "the student model exposes no shared hidden layer; use a model with a shared bottom (mlp, dcn_v2, hiformer)".into() });
        };
        let Some(qa) = self.qa.take() else {
            return Ok(bce_with_logits(logits, labels));
        };
        let rows = self.rows(batch);
        let missing = rows.iter().filter(|&&r| r == usize::MAX).count();
        if missing > 0 {
            self.qa = Some(qa);
            return Err(ObjectiveError::MissingTeacherLabels { objective: OBJECTIVE, missing });
        }
        let k = self.teachers.len();
        let question = qa.question(h_s.clone());
        let routed = qa.route(question.clone());
        let share = if self.stats.steps as usize >= self.options.warmup_steps { self.options.filter_share } else { 0.0 };
        let importance: Vec<f32> = routed.clone().into_data().try_to_vec::<f32>().unwrap_or_default();
        let keep = filter_pairs(&importance, n, k, share);
        let (hidden, t_logits, mask) = self.ask(&rows, &keep, device);
        self.stats.steps += 1;

        let answers: Vec<Tensor<2>> = (0..k).map(|j| qa.answer(j, question.clone(), hidden[j].clone())).collect();
        let w = qa.weights(h_s.clone(), &answers, mask.clone());
        let w_const = w.clone().detach();
        for (j, s) in w_const.clone().sum_dim(0).into_data().try_to_vec::<f32>().unwrap_or_default().iter().enumerate() {
            self.stats.weight_sum_per_teacher[j] += *s as f64;
        }

        // Alignment: the student's own output layer (held fixed for this term) reads each
        // teacher's logit from its answer, on the samples where the teacher ran.
        let frozen_head = model.clone().no_grad();
        let mut answer_loss = Tensor::<1>::zeros([1], device);
        for (j, a) in answers.iter().enumerate() {
            let read = frozen_head.head_from_hidden(a.clone()).unwrap_or_else(|| Tensor::zeros([n], device));
            let t = t_logits.clone().narrow(1, j, 1).reshape([n]);
            let m = mask.clone().narrow(1, j, 1).reshape([n]);
            let err = (read - t).powi_scalar(2) * m.clone();
            answer_loss = answer_loss + err.sum().reshape([1]) / m.sum().reshape([1]).clamp_min(1.0);
        }

        // Importance: the weighted teacher mixture should predict the label.
        let teacher_p = sigmoid(t_logits.clone());
        let mixture = (w * teacher_p).sum_dim(1).reshape([n]).clamp(1e-6, 1.0 - 1e-6);
        let importance_loss =
            -(labels.clone() * mixture.clone().log() + (labels.clone().neg() + 1.0) * (mixture.neg() + 1.0).log()).mean();
        // Router: predict the realised weights before the teachers run.
        let route_loss = -(w_const.clone() * log_softmax(qa.router.forward(question), 1)).sum_dim(1).mean();

        // Student: hard labels, importance-weighted soft label, weighted answers as a hidden target.
        let kd = self.kd.kd_loss_mixture(logits.clone(), t_logits, w_const.clone());
        let target_hidden = answers
            .iter()
            .enumerate()
            .map(|(j, a)| a.clone().detach() * w_const.clone().narrow(1, j, 1))
            .reduce(|x, y| x + y)
            .unwrap_or_else(|| h_s.clone().zeros_like());
        let feature_loss = (h_s - target_hidden).powi_scalar(2).mean();
        let o = &self.options;
        let loss = self.kd.student_loss(logits, labels, kd)
            + feature_loss * o.feature_weight
            + answer_loss * o.answer_weight
            + importance_loss
            + route_loss;
        self.qa = Some(qa);
        Ok(loss)
    }

    fn update(&mut self, grads: &mut Gradients, _lr: f64) {
        step_held(&mut self.qa, &mut self.optimizer, self.options.lr, grads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::CountingTeacher;

    fn tensor2(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    #[test]
    fn teacher_weights_sum_to_one_per_example_and_skip_filtered_teachers() {
        let device = Device::default();
        let (n, ds) = (6, 5);
        let qa = QaModuleConfig::new(ds, vec![3, 4, 2]).with_question_dim(4).with_message_dim(6).init(&device);
        let h_s = tensor2((0..n * ds).map(|i| ((i * 13 % 7) as f32 - 3.0) / 2.0).collect(), [n, ds], &device);
        let q = qa.question(h_s.clone());
        let answers: Vec<Tensor<2>> = [3usize, 4, 2]
            .iter()
            .enumerate()
            .map(|(j, &d)| qa.answer(j, q.clone(), tensor2((0..n * d).map(|i| (i + j) as f32 / 10.0).collect(), [n, d], &device)))
            .collect();
        let mut mask = vec![1.0f32; n * 3];
        mask[1] = 0.0; // sample 0 skips teacher 1
        mask[3 * 4] = 0.0; // sample 4 skips teacher 0 and 2
        mask[3 * 4 + 2] = 0.0;
        let w: Vec<f32> = qa.weights(h_s, &answers, tensor2(mask.clone(), [n, 3], &device)).into_data().try_to_vec().unwrap();
        for i in 0..n {
            let row = &w[i * 3..(i + 1) * 3];
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "row {i}: {row:?}");
            for j in 0..3 {
                if mask[i * 3 + j] == 0.0 {
                    assert_eq!(row[j], 0.0);
                }
            }
        }
        assert!((w[4 * 3 + 1] - 1.0).abs() < 1e-6);
        let routed: Vec<f32> = qa.route(q).into_data().try_to_vec().unwrap();
        for i in 0..n {
            assert!((routed[i * 3..(i + 1) * 3].iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn filtering_skips_the_configured_share_of_the_lowest_pairs() {
        let (n, k) = (10, 3);
        let importance: Vec<f32> = (0..n * k).map(|i| ((i * 7919) % 31) as f32).collect();
        for share in [0.0, 0.1, 0.3, 0.5, 0.66] {
            let keep = filter_pairs(&importance, n, k, share);
            let skipped = keep.iter().flatten().filter(|&&x| !x).count();
            assert_eq!(skipped, (share * (n * k) as f64).round() as usize, "share {share}");
            assert!(keep.iter().all(|row| row.iter().any(|&x| x)), "every sample keeps a teacher");
        }
        // Asking for more than all-but-one per sample stops there.
        let keep = filter_pairs(&importance, n, k, 0.9);
        assert!(keep.iter().all(|row| row.iter().filter(|&&x| x).count() == 1));
        // The skipped pairs are the least important ones among those skippable.
        let keep = filter_pairs(&[0.1, 0.9, 0.8, 0.2], 2, 2, 0.5);
        assert_eq!(keep, vec![vec![false, true], vec![true, false]]);
    }

    #[test]
    fn filtering_reduces_teacher_calls_by_the_configured_share_and_qa_learns() {
        use recforge_models::EmbeddedBatch;
        use recforge_models::ranking::MlpRankerConfig;
        use recforge_train::{TrainConfig, TrainedModel};

        let device = Device::default().autodiff();
        let data = recforge_train::bench::synthetic_dataset(200, 3, 10, 0, 3);
        let config = recforge_models::ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 4, hidden: vec![6], dropout: 0.0 });
        let student = TrainedModel::init(&config, &TrainConfig::default(), &data, &device).unwrap();
        let teachers: Vec<CountingTeacher> = [3, 5, 2].into_iter().map(CountingTeacher::new).collect();
        let refs: Vec<&dyn FrozenTeacher> = teachers.iter().map(|t| t as &dyn FrozenTeacher).collect();
        let rows: Vec<usize> = (0..200).collect();
        let row_of: HashMap<u64, usize> = rows.iter().map(|&r| (data.example_ids[r], r)).collect();
        let options = CommitteeOptions { filter_share: 0.4, warmup_steps: 1, ..CommitteeOptions::default() };
        let mut objective = CommitteeObjective::new(refs, &data, &row_of, 6, options, KdConfig::default(), &device);
        let before = objective.qa().unwrap().question.weight.val().into_data().try_to_vec::<f32>().unwrap();
        for (step, chunk) in rows.chunks(50).enumerate() {
            let batch = data.batch(chunk);
            let embedded = EmbeddedBatch::new(&student.store, &batch, &device, true);
            let loss = objective.loss(&student.model, &embedded.input, &batch, &device).unwrap();
            assert!(loss.clone().into_scalar::<f32>().is_finite());
            let mut grads = loss.backward();
            objective.update(&mut grads, 0.01);
            let run: u64 = teachers.iter().map(|t| t.examples_answered()).sum();
            // Step 0 is warm-up (every teacher); then 40% of 150 pairs are skipped per batch.
            assert_eq!(run, 150 + step as u64 * 90, "step {step}");
        }
        assert_eq!(objective.stats.pairs_total, 600);
        assert_eq!(objective.stats.pairs_run, 150 + 3 * 90);
        assert!((objective.stats.saved_share() - 180.0 / 600.0).abs() < 1e-9);
        // The QA module trained.
        let after = objective.qa().unwrap().question.weight.val().into_data().try_to_vec::<f32>().unwrap();
        assert_ne!(before, after);
    }

    #[test]
    fn the_soft_label_term_is_the_students_kd_term_with_its_temperature_and_form() {
        use crate::kd::SoftLabelForm;
        use crate::test_support::{StudentBatch, kd_by_hand};

        let device = Device::default().autodiff();
        let sb = StudentBatch::new(64, &device);
        let teacher = CountingTeacher::new(3);
        let mut objective = CommitteeObjective::new(vec![&teacher as &dyn FrozenTeacher], &sb.data, &sb.row_of, 6, CommitteeOptions::default(), KdConfig::default(), &device);
        let mut loss_with = |kd: KdConfig| {
            objective.kd = kd;
            f64::from(objective.loss(&sb.student.model, &sb.embedded().input, &sb.batch, &device).unwrap().into_scalar::<f32>())
        };
        let kd = |form, temperature, kd_weight| KdConfig { form, temperature, kd_weight, ..KdConfig::default() };
        let base = loss_with(kd(SoftLabelForm::Bce, 1.0, 1.0));
        // One teacher weighs 1 for every example, so the soft label is sigmoid(t/T): only the
        // KD term moves with the temperature, the form and the weight, as kd.rs's formula says.
        let (s, t) = (sb.logits(), sb.teacher_logits(&teacher));
        let by_hand = |form, temp| kd_by_hand(&s, &t, form, temp);
        for temp in [2.0, 4.0] {
            let moved = loss_with(kd(SoftLabelForm::Bce, temp, 1.0)) - base;
            let want = by_hand(SoftLabelForm::Bce, temp) - by_hand(SoftLabelForm::Bce, 1.0);
            assert!(want.abs() > 1e-3 && (moved - want).abs() < 1e-4, "T={temp}: loss moved {moved}, kd.rs says {want}");
        }
        let moved = loss_with(kd(SoftLabelForm::Mse, 3.0, 1.0)) - base;
        let want = by_hand(SoftLabelForm::Mse, 3.0) - by_hand(SoftLabelForm::Bce, 1.0);
        assert!((moved - want).abs() < 1e-4, "mse form: loss moved {moved}, kd.rs says {want}");
        let moved = loss_with(kd(SoftLabelForm::Bce, 1.0, 3.0)) - base;
        assert!((moved - 2.0 * by_hand(SoftLabelForm::Bce, 1.0)).abs() < 1e-4, "kd_weight 3: loss moved {moved}");
    }

    #[test]
    fn the_old_committee_kd_weight_is_a_clear_error() {
        let options: CommitteeOptions = toml::from_str("kd_weight = 0.5").unwrap();
        let err = options.validate().unwrap_err();
        assert!(err.contains("[committee] kd_weight = 0.5") && err.contains("student's `kd` table"), "{err}");
        assert!(CommitteeOptions::default().validate().is_ok());
    }
}
