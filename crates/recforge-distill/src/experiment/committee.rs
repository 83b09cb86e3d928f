//! The committee mode (DiverseDistill, arXiv 2402.14035): per seed, the student without KD,
//! with KD from each teacher's offline soft labels, with naive multi-teacher KD (averaged soft
//! labels) and with DiverseDistill's online committee.

use std::collections::HashMap;

use burn::prelude::*;
use recforge_train::TrainConfig;
use recforge_train::metrics::sigmoid;
use serde::Serialize;

use super::ExperimentError;
use super::panel::{MethodExtra, MethodRun, NO_KD, Panel, PanelExtras, Trained};
use crate::aux_head::KdMode;
use crate::committee::CommitteeObjective;
use crate::frozen::FrozenTeacher;
use crate::pipeline;

/// DiverseDistill's counters of one training.
#[derive(Debug, Clone, Serialize)]
pub struct CommitteeExtra {
    pub qa_parameters: usize,
    pub pairs_total: u64,
    pub pairs_run: u64,
    pub saved_share: f64,
    pub passes_per_teacher: Vec<u64>,
    pub weight_sum_per_teacher: Vec<f64>,
    pub mean_batch_weight_per_teacher: Vec<f64>,
    pub filter_share: f64,
    pub warmup_steps: usize,
}

/// The averaged-probability soft label of several teachers, as a logit.
fn averaged(labels: &[HashMap<u64, f32>]) -> HashMap<u64, f32> {
    labels[0]
        .keys()
        .map(|id| {
            let p = labels.iter().map(|l| sigmoid(l[id])).sum::<f32>() / labels.len() as f32;
            let p = p.clamp(1e-6, 1.0 - 1e-6);
            (*id, (p / (1.0 - p)).ln())
        })
        .collect()
}

pub(super) fn train(panel: &Panel) -> Result<Trained, ExperimentError> {
    let Panel { config, dataset, split, student, teachers, row_of, width, progress } = *panel;
    // Soft labels of every teacher over the student window, computed once (the offline baselines).
    let labels: Vec<HashMap<u64, f32>> = teachers
        .iter()
        .map(|t| split.train.iter().map(|&r| dataset.example_ids[r]).zip(t.answer(dataset, &split.train).logits).collect())
        .collect();
    let offline_label_passes: u64 = teachers.iter().map(|t| t.examples_answered()).sum();
    let mut trained = Trained { runs: Vec::new(), plain: None, served: None, extras: PanelExtras { offline_label_passes, talking_teacher: None } };
    let direct = |train: &TrainConfig, labels: &HashMap<u64, f32>| {
        pipeline::train_student(&student.model, train, KdMode::Direct, &student.kd, &[], labels, 0, dataset, split, progress)
    };
    for &seed in &config.seeds {
        let train = TrainConfig { seed, ..student.train.clone() };
        let announce = |m: &str| tracing::info!("== {} · {m} · seed {seed} ==", student.name);
        let mut push = |method: String, result, extra| trained.runs.push(MethodRun { method, seed, result, extra });
        announce(NO_KD);
        let (r, plain) = pipeline::train_student(&student.model, &train, KdMode::None, &student.kd, &[], &HashMap::new(), 0, dataset, split, progress)?;
        push(NO_KD.into(), r, MethodExtra::Plain {});
        for (k, t) in teachers.iter().enumerate() {
            let method = format!("KD from {}", t.name());
            announce(&method);
            push(method, direct(&train, &labels[k])?.0, MethodExtra::Plain {});
        }
        if teachers.len() > 1 {
            announce("naive multi-teacher KD");
            push("naive multi-teacher KD (averaged soft labels)".into(), direct(&train, &averaged(&labels))?.0, MethodExtra::Plain {});
        }
        announce("DiverseDistill");
        let before: Vec<u64> = teachers.iter().map(|t| t.examples_answered()).collect();
        let refs: Vec<&dyn FrozenTeacher> = teachers.iter().map(|t| t.as_ref()).collect();
        let mut objective =
            CommitteeObjective::new(refs, dataset, row_of, width, config.committee.clone(), student.kd.clone(), &Device::default().autodiff());
        let qa_parameters = objective.qa_parameters();
        let (r, served) = pipeline::fit_and_evaluate(&student.model, &train, dataset, split, progress, &mut objective)?;
        let stats = &objective.stats;
        tracing::info!("   teacher passes {} of {} ({:.1}% saved by filtering)", stats.pairs_run, stats.pairs_total, 100.0 * stats.saved_share());
        let extra = CommitteeExtra {
            qa_parameters,
            pairs_total: stats.pairs_total,
            pairs_run: stats.pairs_run,
            saved_share: stats.saved_share(),
            passes_per_teacher: teachers.iter().zip(&before).map(|(t, b)| t.examples_answered() - b).collect(),
            weight_sum_per_teacher: stats.weight_sum_per_teacher.clone(),
            mean_batch_weight_per_teacher: stats.weight_sum_per_teacher.iter().map(|w| w / (stats.steps.max(1) as f64)).collect(),
            filter_share: config.committee.filter_share,
            warmup_steps: config.committee.warmup_steps,
        };
        push("DiverseDistill".into(), r, MethodExtra::Committee(extra));
        trained.plain.get_or_insert(plain);
        trained.served.get_or_insert(served);
    }
    Ok(trained)
}
