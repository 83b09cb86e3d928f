//! The talking mode (Talking Models, arXiv 2310.03188): per seed, the student without KD, with
//! output KD, with output + hidden-state KD, and with output KD + the Talking Models losses,
//! all against one teacher run online.

use std::collections::HashMap;

use burn::prelude::*;
use recforge_train::TrainConfig;
use serde::Serialize;

use super::ExperimentError;
use super::panel::{MethodExtra, MethodRun, NO_KD, Panel, PanelExtras, Trained};
use crate::aux_head::KdMode;
use crate::pipeline;
use crate::talking::{TalkingObjective, TransferMode};

/// What one talking-mode training used.
#[derive(Debug, Clone, Serialize)]
pub struct TalkingExtra {
    pub teacher: String,
    /// Examples the teacher answered.
    pub teacher_passes: u64,
    /// Parameters of the training-only codecs and projection.
    pub module_parameters: usize,
}

pub(super) fn train(panel: &Panel) -> Result<Trained, ExperimentError> {
    let Panel { config, dataset, split, student, teachers, row_of, width, progress } = *panel;
    let teacher = match &config.talking.teacher {
        Some(name) => teachers
            .iter()
            .find(|t| t.name() == name.as_str())
            .ok_or_else(|| ExperimentError::Invalid(format!("[talking] teacher = {name:?} is not one of the teachers")))?,
        None => &teachers[0],
    };
    let extras = PanelExtras { offline_label_passes: teachers.iter().map(|t| t.examples_answered()).sum(), talking_teacher: Some(teacher.name().to_string()) };
    let mut trained = Trained { runs: Vec::new(), plain: None, served: None, extras };
    for &seed in &config.seeds {
        let train = TrainConfig { seed, ..student.train.clone() };
        let announce = |m: &str| tracing::info!("== {} · {m} · seed {seed} ==", student.name);
        announce(NO_KD);
        let (r, plain) = pipeline::train_student(&student.model, &train, KdMode::None, &student.kd, &[], &HashMap::new(), 0, dataset, split, progress)?;
        trained.runs.push(MethodRun { method: NO_KD.into(), seed, result: r, extra: MethodExtra::Plain {} });
        trained.plain.get_or_insert(plain);
        for mode in [TransferMode::Output, TransferMode::Feature, TransferMode::Talking] {
            announce(mode.name());
            let mut objective = TalkingObjective::new(
                mode,
                teacher.as_ref(),
                dataset,
                row_of,
                width,
                config.talking.clone(),
                student.kd.clone(),
                &Device::default().autodiff(),
            );
            let module_parameters = objective.module_parameters();
            let (r, model) = pipeline::fit_and_evaluate(&student.model, &train, dataset, split, progress, &mut objective)?;
            if mode == TransferMode::Talking {
                trained.served.get_or_insert(model);
            }
            let extra = TalkingExtra { teacher: teacher.name().to_string(), teacher_passes: objective.teacher_passes, module_parameters };
            trained.runs.push(MethodRun { method: mode.name().into(), seed, result: r, extra: MethodExtra::Talking(extra) });
        }
    }
    Ok(trained)
}
