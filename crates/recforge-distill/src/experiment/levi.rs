//! The levi mode (LEVI, layer-wise ensembles of a frozen pre-trained model): rows × {in-
//! distribution, out-of-distribution} test AUC / logloss for the pre-trained model as is, a
//! small model from scratch, head-only fine-tuning, LEVI and full fine-tuning; the shift is
//! time, held-out genres, or a transfer to another dataset read with the pre-trained encoder.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use recforge_data::{Dataset, Progress, Split};
use recforge_train::{EvalMetrics, TrainConfig, TrainedModel, fine_tune, labels_of};
use serde::Serialize;

use super::panel::{StudentInfo, log_windows, zoo_teacher};
use super::{DataSummary, ExperimentError, ExperimentOptions, Stat};
use crate::aux_head::KdMode;
use crate::config::{DistillConfig, StudentSection};
use crate::levi::{FrozenModel, LeviObjective, LeviOptions, LeviSplit, levi_split, rows_with_values};
use crate::pipeline;

/// The pre-trained model LEVI reads.
#[derive(Debug, Clone, Serialize)]
pub struct Pretrained {
    pub name: String,
    pub model: String,
    pub parameters: usize,
    pub train_seconds: f64,
    pub layers_read: usize,
}

/// One method, mean ± std over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct LeviRow {
    pub method: String,
    pub seeds: usize,
    pub trainable_parameters: usize,
    pub id_auc: Stat,
    pub id_logloss: Stat,
    pub ood_auc: Stat,
    pub ood_logloss: Stat,
    pub seconds: Stat,
}

/// `results.json` of the levi mode.
#[derive(Debug, Clone, Serialize)]
pub struct LeviResults {
    #[serde(flatten)]
    pub data: DataSummary,
    pub mode: &'static str,
    pub seeds: Vec<u64>,
    pub pretrained: Pretrained,
    pub student: StudentInfo,
    /// What the out-of-distribution rows differ by.
    pub shift: String,
    pub transfer_to: Option<String>,
    /// With a transfer target: the share of its rows whose item / user the pre-trained
    /// vocabulary knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_known: Option<KnownShare>,
    pub task_rows: usize,
    pub id_valid_rows: usize,
    pub id_test_rows: usize,
    pub ood_test_rows: usize,
    pub levi: LeviOptions,
    pub rows: Vec<LeviRow>,
}

/// Shares of a transfer target's rows whose id the pre-trained vocabulary knows.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KnownShare {
    pub items: f64,
    pub users: f64,
}

/// One method under one seed.
struct MethodRun {
    method: &'static str,
    id: EvalMetrics,
    ood: EvalMetrics,
    trainable: usize,
    seconds: f64,
}

/// Where LEVI's rows come from: the pre-trained dataset, or a transfer target.
struct Target<'a> {
    dataset: &'a Dataset,
    rows: &'a [usize],
    later: &'a [usize],
    transfer_to: Option<String>,
    known: Option<KnownShare>,
}

/// Runs the levi mode of `config`.
pub fn run(
    config: &DistillConfig,
    options: &ExperimentOptions,
    dataset: &Dataset,
    split: &Split,
    progress: &dyn Progress,
) -> Result<LeviResults, ExperimentError> {
    let windows = pipeline::windows(split, &config.data)?;
    log_windows(config, &windows, split);
    let spec = &config.teachers[0];
    let (pretrained, seconds) = zoo_teacher(spec, config, &options.out, dataset, &windows, progress)?;
    let student = &config.students[0];
    let transfer;
    let target = match &config.levi.target_schema {
        None => Target { dataset, rows: &windows.student.train, later: &windows.student.test, transfer_to: None, known: None },
        Some(path) => {
            transfer = transfer_target(path, dataset, &options.task)?;
            let (target, split, name, known) = &transfer;
            let rows = &split.train[split.train.len().saturating_sub(config.data.max_student_rows.unwrap_or(usize::MAX))..];
            Target { dataset: target, rows, later: &split.test, transfer_to: Some(name.clone()), known: Some(*known) }
        }
    };
    let (task, ood, shift, rows) = levi_rows(config, student, &pretrained, &target, progress)?;
    Ok(LeviResults {
        data: DataSummary::new(config, options, dataset, split, &windows),
        mode: config.mode.name(),
        seeds: config.seeds.clone(),
        pretrained: Pretrained {
            name: spec.name.clone(),
            model: spec.model.name().to_string(),
            parameters: pretrained.num_parameters(),
            train_seconds: seconds,
            layers_read: config.levi.layers,
        },
        student: StudentInfo { name: student.name.clone(), model: student.model.name(), parameters: None },
        shift,
        transfer_to: target.transfer_to,
        transfer_known: target.known,
        task_rows: task.train.len(),
        id_valid_rows: task.valid.len(),
        id_test_rows: task.test.len(),
        ood_test_rows: ood.len(),
        levi: config.levi.clone(),
        rows,
    })
}

/// The transfer target: `schema`'s dataset encoded with the pre-trained dataset's encoder (so
/// the frozen model reads it with its own tables; target-only tokens map to the unknown row),
/// its split, its name, and how much of it the pre-trained vocabulary knows.
fn transfer_target(
    schema_path: &Path,
    source: &Dataset,
    task: &recforge_data::TaskOptions,
) -> Result<(Dataset, Split, String, KnownShare), ExperimentError> {
    let schema = recforge_data::Schema::from_toml_file(schema_path)
        .map_err(|e| ExperimentError::Invalid(format!("reading [levi] target_schema {}: {e}", schema_path.display())))?;
    let encoder = source.encoder().ok_or_else(|| ExperimentError::Invalid("the pre-trained dataset has no fitted encoder".into()))?;
    if !schema.source.path.exists() {
        return Err(ExperimentError::Invalid(format!(
            "[levi] target_schema {}: {} is missing (for the ML-100K transfer run `recforge data align-ml100k` first)",
            schema_path.display(),
            schema.source.path.display()
        )));
    }
    let options = recforge_data::PrepareOptions::new(task.cache_dir.clone());
    let target = recforge_data::encode_file(&schema, encoder, &schema.source.path, &options).map_err(|e| {
        ExperimentError::Invalid(format!("encoding {} with {}'s encoder: {e}", schema.source.path.display(), source.meta.name))
    })?;
    let split = target.split(&schema.split)?;
    let known = |name: &str| target.categorical(name).map(|ids| ids.iter().filter(|&&id| id != 0).count() as f64 / ids.len().max(1) as f64);
    let share = KnownShare {
        items: known(source.meta.item_feature.as_deref().unwrap_or("item_id")).unwrap_or(0.0),
        users: known(source.meta.user_feature.as_deref().unwrap_or("user_id")).unwrap_or(0.0),
    };
    tracing::info!("LEVI transfer target {}: {} rows", schema.name, target.len());
    Ok((target, split, schema.name, share))
}

/// LEVI's rows on the time-ordered task rows of the target; its `later` rows are the
/// time-shift OOD test. Returns the task split, the OOD rows, the shift's description and the
/// table.
fn levi_rows(
    config: &DistillConfig,
    student: &StudentSection,
    pretrained: &TrainedModel,
    target: &Target,
    progress: &dyn Progress,
) -> Result<(Split, Vec<usize>, String, Vec<LeviRow>), ExperimentError> {
    let dataset = target.dataset;
    let spec = &config.teachers[0];
    // Task split: the rows minus their newest `id_holdout`, which validates (first half) and
    // tests in distribution (second half). OOD: the later test rows (time shift) or, with
    // `held_out_genres`, those genres' rows of the held-out span (genre shift).
    let levi_options = &config.levi;
    let shifted = if levi_options.held_out_genres.is_empty() {
        None
    } else {
        Some(rows_with_values(dataset, &levi_options.genre_feature, &levi_options.held_out_genres)?)
    };
    let is_shifted = |r: usize| shifted.as_ref().is_some_and(|s| s[r]);
    let LeviSplit { task, ood } =
        levi_split(target.rows, target.later, levi_options.id_holdout, shifted.as_ref().map(|_| &is_shifted as &dyn Fn(usize) -> bool));
    let shift = if let Some(name) = &target.transfer_to {
        format!("transfer to {name}; time: its later test rows")
    } else if levi_options.held_out_genres.is_empty() {
        "time: the schema's later test rows".to_string()
    } else {
        format!("genres {} of the held-out span, never in the task", levi_options.held_out_genres.join(", "))
    };
    tracing::info!("LEVI: task {} rows, ID valid {}, ID test {}, OOD test {} ({shift})", task.train.len(), task.valid.len(), task.test.len(), ood.len());
    let eval_batch = student.train.eval_batch_size;
    let metrics = |p: &[f32], r: &[usize]| EvalMetrics::of(p, &labels_of(dataset, r));
    let eval_model = |m: &TrainedModel| {
        let id = recforge_train::predict(&m.model, &m.store, dataset, &task.test, eval_batch, &Device::default());
        let od = recforge_train::predict(&m.model, &m.store, dataset, &ood, eval_batch, &Device::default());
        (metrics(&id, &task.test), metrics(&od, &ood))
    };
    let mut runs: Vec<MethodRun> = Vec::new();
    let (id, od) = eval_model(pretrained);
    runs.push(MethodRun { method: "pre-trained, no fine-tuning", id, ood: od, trainable: 0, seconds: 0.0 });
    let frozen = FrozenModel::new(pretrained.clone(), dataset, config.levi.layers)?;
    let width = pipeline::student_width(&student.model, &student.train, dataset, &task)?;
    for &seed in &config.seeds {
        let train = TrainConfig { seed, ..student.train.clone() };
        tracing::info!("== LEVI rows · seed {seed} ==");
        let started = Instant::now();
        let (r, small) = pipeline::train_student(&student.model, &train, KdMode::None, &student.kd, &[], &HashMap::new(), 0, dataset, &task, progress)?;
        let (id, od) = eval_model(&small);
        runs.push(MethodRun { method: "small model from scratch", id, ood: od, trainable: r.parameters, seconds: started.elapsed().as_secs_f64() });

        for head_only in [true, false] {
            let started = Instant::now();
            let device = Device::default().autodiff();
            let mut objective = LeviObjective::new(&frozen, dataset, width, head_only, config.levi.clone(), &device);
            let (_, g) = pipeline::fit_and_evaluate(&student.model, &train, dataset, &task, progress, &mut objective)?;
            let id = metrics(&objective.predict(&g, &task.test, eval_batch), &task.test);
            let od = metrics(&objective.predict(&g, &ood, eval_batch), &ood);
            let method = if head_only { "head-only fine-tuning" } else { "LEVI (frozen layers + small model)" };
            let adapters = objective.adapters().map_or(0, |a| a.num_params());
            let trainable = if head_only { adapters } else { g.num_parameters() + adapters };
            runs.push(MethodRun { method, id, ood: od, trainable, seconds: started.elapsed().as_secs_f64() });
        }

        let started = Instant::now();
        let steps = task.train.len().div_ceil(spec.train.batch_size.max(1));
        let ft_train = TrainConfig { seed, ..spec.train.clone() };
        let tuned = fine_tune(pretrained.clone(), &ft_train, dataset, &task, steps, progress)?;
        let (id, od) = eval_model(&tuned);
        runs.push(MethodRun {
            method: "full fine-tuning of the pre-trained model",
            id,
            ood: od,
            trainable: tuned.num_parameters(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let mut names: Vec<&str> = Vec::new();
    for r in &runs {
        if !names.contains(&r.method) {
            names.push(r.method);
        }
    }
    let rows = names
        .iter()
        .map(|n| {
            let rs: Vec<&MethodRun> = runs.iter().filter(|r| r.method == *n).collect();
            let stat = |f: fn(&MethodRun) -> f64| Stat::of(rs.iter().map(|r| f(r)));
            LeviRow {
                method: n.to_string(),
                seeds: rs.len(),
                trainable_parameters: rs[0].trainable,
                id_auc: stat(|r| r.id.auc),
                id_logloss: stat(|r| r.id.logloss),
                ood_auc: stat(|r| r.ood.auc),
                ood_logloss: stat(|r| r.ood.logloss),
                seconds: stat(|r| r.seconds),
            }
        })
        .collect();
    Ok((task, ood, shift, rows))
}
