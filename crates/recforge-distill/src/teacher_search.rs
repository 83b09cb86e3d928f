//! Teacher search under a budget (arXiv 2408.14678 §teacher configuration; successive halving,
//! Jamieson & Talwalkar arXiv 1502.07943): candidates over teacher width × depth train for a
//! growing number of steps; after each rung only the best `1/eta` by the *student's* validation
//! AUC (a student distilled from that teacher) go on, until B teacher-training seconds are spent.
//!
//! [R] Each rung continues the surviving teachers with fresh Adam state (the trainer's
//! `fine_tune`); student evaluations are not charged to the budget, but are reported.

use std::time::Instant;

use recforge_data::{Dataset, Split};
use recforge_models::ModelConfig;
use recforge_train::{TrainConfig, TrainedModel, fine_tune};
use serde::{Deserialize, Serialize};

use crate::pipeline::PipelineError;

/// `[search]` in a distill config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// Teacher-training seconds the search may spend.
    pub budget_seconds: f64,
    /// Keep the best `1/eta` after each rung.
    #[serde(default = "default_eta")]
    pub eta: usize,
    /// Cumulative teacher training steps at each rung, ascending.
    pub steps: Vec<usize>,
    /// Teacher hidden-layer widths and depths; every pair is a candidate.
    pub widths: Vec<usize>,
    pub depths: Vec<usize>,
    /// The teacher architecture (its `hidden` is replaced by width × depth).
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    /// Name of the `[[students]]` entry distilled from each candidate (its first KD mode).
    pub student: String,
    /// Override the student's epochs during the search (keeps evaluations cheap).
    #[serde(default)]
    pub student_epochs: Option<usize>,
}

fn default_eta() -> usize {
    2
}

impl SearchConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.budget_seconds.is_finite() && self.budget_seconds > 0.0) {
            return Err(format!("[search] budget_seconds must be positive, got {}", self.budget_seconds));
        }
        if self.eta < 2 {
            return Err(format!("[search] eta must be at least 2, got {}", self.eta));
        }
        if self.steps.is_empty() || self.steps.windows(2).any(|w| w[0] >= w[1]) || self.steps[0] == 0 {
            return Err(format!("[search] steps must be positive and strictly ascending, got {:?}", self.steps));
        }
        if self.widths.is_empty() || self.depths.is_empty() || self.widths.contains(&0) {
            return Err("[search] widths and depths must be non-empty (widths positive)".into());
        }
        if with_hidden(&self.model, vec![1]).is_none() {
            return Err(format!("[search] model kind {:?} has no `hidden` to search over; use mlp, dcn_v2 or hiformer", self.model.name()));
        }
        Ok(())
    }

    /// Every width × depth candidate, in grid order.
    pub fn candidates(&self) -> Vec<(String, ModelConfig)> {
        let mut out = Vec::new();
        for &depth in &self.depths {
            for &width in &self.widths {
                if let Some(model) = with_hidden(&self.model, vec![width; depth]) {
                    out.push((format!("{}-{width}x{depth}", self.model.name()), model));
                }
            }
        }
        out
    }
}

/// `model` with its MLP hidden widths replaced (for kinds that have them).
pub fn with_hidden(model: &ModelConfig, hidden: Vec<usize>) -> Option<ModelConfig> {
    let mut model = model.clone();
    match &mut model {
        ModelConfig::Mlp(c) => c.hidden = hidden,
        ModelConfig::DcnV2(c) => c.hidden = hidden,
        ModelConfig::Hiformer(c) => c.hidden = hidden,
        _ => return None,
    }
    Some(model)
}

/// One evaluated (candidate, rung).
#[derive(Debug, Clone, Serialize)]
pub struct SearchPoint {
    pub candidate: String,
    pub rung: usize,
    pub steps: usize,
    pub teacher_parameters: usize,
    /// This candidate's cumulative training seconds.
    pub teacher_seconds: f64,
    pub teacher_valid_auc: f64,
    pub student_valid_auc: f64,
    /// Student AUC minus the no-KD student's.
    pub student_gain: f64,
    pub student_seconds: f64,
}

/// The whole search: every point, the budget used, the winner.
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    pub points: Vec<SearchPoint>,
    pub baseline_student_valid_auc: f64,
    pub budget_seconds: f64,
    pub teacher_seconds_spent: f64,
    pub budget_exhausted: bool,
    pub best: Option<SearchPoint>,
    /// Points no other point beats on both lower teacher cost and higher student gain.
    pub frontier: Vec<SearchPoint>,
}

/// Scores a teacher by distilling a student from it: `(student valid AUC, seconds)`.
pub type StudentProbe<'a> = dyn FnMut(&TrainedModel) -> Result<(f64, f64), PipelineError> + 'a;
/// Validation AUC of a teacher.
pub type TeacherProbe<'a> = dyn Fn(&TrainedModel) -> f64 + 'a;

struct Candidate {
    name: String,
    model: TrainedModel,
    steps_done: usize,
    seconds: f64,
    score: f64,
}

/// Successive halving over `config`'s candidates on `teacher_split`.
pub fn successive_halving(
    config: &SearchConfig,
    data: &Dataset,
    teacher_split: &Split,
    baseline_student_auc: f64,
    teacher_auc: &TeacherProbe,
    student_auc: &mut StudentProbe,
    progress: &dyn Fn(&SearchPoint),
) -> Result<SearchOutcome, PipelineError> {
    let device = burn::prelude::Device::default();
    let mut active = Vec::new();
    for (name, model) in config.candidates() {
        active.push(Candidate { name, model: TrainedModel::init(&model, &config.train, data, &device)?, steps_done: 0, seconds: 0.0, score: f64::NAN });
    }
    let (mut spent, mut exhausted, mut points) = (0.0, false, Vec::new());
    'rungs: for (rung, &steps) in config.steps.iter().enumerate() {
        for candidate in active.iter_mut() {
            if spent >= config.budget_seconds {
                exhausted = true;
                break 'rungs;
            }
            let train = TrainConfig { seed: config.train.seed + rung as u64, ..config.train.clone() };
            let started = Instant::now();
            candidate.model = fine_tune(candidate.model.clone(), &train, data, teacher_split, steps - candidate.steps_done, &recforge_data::Silent)?;
            let seconds = started.elapsed().as_secs_f64();
            spent += seconds;
            candidate.seconds += seconds;
            candidate.steps_done = steps;
            let (auc, student_seconds) = student_auc(&candidate.model)?;
            candidate.score = auc;
            let point = SearchPoint {
                candidate: candidate.name.clone(),
                rung,
                steps,
                teacher_parameters: candidate.model.num_parameters(),
                teacher_seconds: candidate.seconds,
                teacher_valid_auc: teacher_auc(&candidate.model),
                student_valid_auc: auc,
                student_gain: auc - baseline_student_auc,
                student_seconds,
            };
            progress(&point);
            points.push(point);
        }
        active.sort_by(|a, b| b.score.total_cmp(&a.score));
        active.truncate(active.len().div_ceil(config.eta).max(1));
    }
    let best = points.iter().max_by(|a, b| a.student_valid_auc.total_cmp(&b.student_valid_auc)).cloned();
    Ok(SearchOutcome {
        frontier: pareto_frontier(&points),
        points,
        baseline_student_valid_auc: baseline_student_auc,
        budget_seconds: config.budget_seconds,
        teacher_seconds_spent: spent,
        budget_exhausted: exhausted,
        best,
    })
}

/// The cost/gain frontier, by ascending teacher seconds: each point gains more than every
/// cheaper one.
pub fn pareto_frontier(points: &[SearchPoint]) -> Vec<SearchPoint> {
    let mut sorted: Vec<&SearchPoint> = points.iter().filter(|p| p.student_gain.is_finite()).collect();
    sorted.sort_by(|a, b| a.teacher_seconds.total_cmp(&b.teacher_seconds));
    let mut out: Vec<SearchPoint> = Vec::new();
    for p in sorted {
        if out.last().is_none_or(|last| p.student_gain > last.student_gain) {
            out.push(p.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use recforge_models::ranking::MlpRankerConfig;

    use super::*;

    fn point(seconds: f64, gain: f64) -> SearchPoint {
        SearchPoint {
            candidate: format!("{seconds}"),
            rung: 0,
            steps: 1,
            teacher_parameters: 1,
            teacher_seconds: seconds,
            teacher_valid_auc: 0.5,
            student_valid_auc: 0.5 + gain,
            student_gain: gain,
            student_seconds: 0.0,
        }
    }

    fn search(budget: f64) -> SearchConfig {
        SearchConfig {
            budget_seconds: budget,
            eta: 2,
            steps: vec![2, 4],
            widths: vec![4, 8],
            depths: vec![1, 2],
            model: ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 4, hidden: vec![], dropout: 0.0 }),
            train: TrainConfig { batch_size: 16, ..TrainConfig::default() },
            student: "s".into(),
            student_epochs: None,
        }
    }

    #[test]
    fn frontier_keeps_only_points_that_gain_more_for_more_cost() {
        let f = pareto_frontier(&[point(3.0, 0.01), point(1.0, 0.02), point(2.0, 0.015), point(4.0, 0.05)]);
        let seconds: Vec<f64> = f.iter().map(|p| p.teacher_seconds).collect();
        assert_eq!(seconds, vec![1.0, 4.0]);
    }

    #[test]
    fn grid_and_validation() {
        let config = search(10.0);
        let names: Vec<String> = config.candidates().into_iter().map(|c| c.0).collect();
        assert_eq!(names, vec!["mlp-4x1", "mlp-8x1", "mlp-4x2", "mlp-8x2"]);
        assert!(config.validate().is_ok());
        assert!(SearchConfig { steps: vec![4, 2], ..search(1.0) }.validate().is_err());
        assert!(SearchConfig { eta: 1, ..search(1.0) }.validate().is_err());
    }

    #[test]
    fn halving_keeps_the_best_half_and_respects_the_budget() {
        let data = recforge_train::bench::synthetic_dataset(200, 2, 10, 0, 3);
        let split = Split { train: (0..150).collect(), valid: (150..200).collect(), test: vec![] };
        // The probe scores wider teachers higher, so the two width-8 candidates survive.
        let mut student = |t: &TrainedModel| Ok((t.model.num_params() as f64, 0.0));
        let outcome =
            successive_halving(&search(1e9), &data, &split, 0.0, &|_| 0.5, &mut student, &|_| {}).unwrap();
        assert_eq!(outcome.points.len(), 4 + 2);
        let second: Vec<&str> = outcome.points[4..].iter().map(|p| p.candidate.as_str()).collect();
        assert!(second.iter().all(|c| c.starts_with("mlp-8x")), "{second:?}");
        assert!(!outcome.budget_exhausted);
        // A tiny budget stops after the first candidate.
        let outcome =
            successive_halving(&search(1e-12), &data, &split, 0.0, &|_| 0.5, &mut student, &|_| {}).unwrap();
        assert_eq!(outcome.points.len(), 1);
        assert!(outcome.budget_exhausted);
    }
}
