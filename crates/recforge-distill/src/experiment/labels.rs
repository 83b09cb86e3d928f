//! The label pipeline (`mode = "labels"`, arXiv 2408.14678): train or load a teacher (frozen
//! and/or refreshed on the newer window), label the student window once per teacher version
//! into the label store, train every student × KD mode × seed against the stored labels, and
//! optionally search teachers under a budget.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use recforge_data::{Dataset, Progress, Silent, Split};
use recforge_train::{EvalMetrics, RunConfig, RunDir, TrainedModel, evaluate};
use serde::Serialize;

use super::{DataSummary, ExperimentError, ExperimentOptions, Stat};
use crate::aux_head::KdMode;
use crate::config::{DistillConfig, Refresh, StudentSection};
use crate::label_store::{MemoryLabelStore, TeacherVersion, open_label_store};
use crate::pipeline::{self, Labeling, StudentResult, Windows};
use crate::teacher::Teacher;
use crate::teacher_search::{self, SearchConfig, SearchOutcome, SearchPoint};

/// One teacher version that labelled the student window.
#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub refresh: &'static str,
    pub version: TeacherVersion,
    /// Seconds spent refreshing (0 for the frozen teacher).
    pub refresh_seconds: f64,
    pub valid: EvalMetrics,
    pub test: EvalMetrics,
    pub labeling: Labeling,
}

/// One trained student.
#[derive(Debug, Clone, Serialize)]
pub struct StudentRun {
    pub student: String,
    pub model: &'static str,
    pub mode: &'static str,
    /// The teacher variant whose labels it used ("-" for no KD).
    pub teacher: &'static str,
    pub seed: u64,
    #[serde(flatten)]
    pub result: StudentResult,
}

/// Mean ± std per (student, mode, teacher) over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct StudentSummary {
    pub student: String,
    pub model: &'static str,
    pub mode: &'static str,
    pub teacher: &'static str,
    pub seeds: usize,
    pub parameters: usize,
    pub test_auc: Stat,
    pub test_logloss: Stat,
    pub valid_auc: Stat,
    pub train_seconds: Stat,
}

/// The teacher and its versions.
#[derive(Debug, Clone, Serialize)]
pub struct TeacherResult {
    pub model: String,
    pub parameters: usize,
    /// 0 when loaded from a run folder.
    pub train_seconds: f64,
    pub variants: Vec<VariantResult>,
}

/// Teacher forward passes and seconds: shared labels (what ran) against per-student labeling
/// and against running the teacher inside every student's training loop.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub kd_student_trainings: usize,
    pub shared_labels_forward_passes: u64,
    pub shared_labels_seconds: f64,
    pub per_student_labeling_forward_passes: u64,
    pub per_student_labeling_seconds_est: f64,
    pub teacher_in_loop_forward_passes: u64,
    pub teacher_in_loop_seconds_est: f64,
    pub teacher_seconds_per_forward_pass: f64,
}

/// `results.json` of the label pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct LabelsResults {
    #[serde(flatten)]
    pub data: DataSummary,
    /// The label store URL.
    pub labels: String,
    pub teacher: TeacherResult,
    pub teacher_forward_passes: u64,
    pub cost: Cost,
    pub students: Vec<StudentSummary>,
    pub runs: Vec<StudentRun>,
    pub search: Option<SearchOutcome>,
}

/// Runs the label pipeline of `config` on a prepared dataset.
pub fn run(
    config: &DistillConfig,
    options: &ExperimentOptions,
    dataset: &Dataset,
    split: &Split,
    progress: &dyn Progress,
) -> Result<LabelsResults, ExperimentError> {
    let out = &options.out;
    let windows = pipeline::windows(split, &config.data)?;
    tracing::info!(
        teacher_rows = windows.teacher.train.len(),
        student_rows = windows.student.train.len(),
        valid = split.valid.len(),
        test = split.test.len(),
        "windows"
    );
    let store = open_label_store(&config.labels).map_err(|source| ExperimentError::LabelStore { url: config.labels.clone(), source })?;

    let (teacher, teacher_seconds, teacher_model) = train_or_load_teacher(config, dataset, &windows.teacher, progress)?;
    let eval_batch = config.teacher.train.eval_batch_size;
    let mut variants = Vec::new();
    let mut labels: HashMap<Refresh, (TeacherVersion, HashMap<u64, f32>)> = HashMap::new();
    let mut forward_passes = 0u64;
    for &refresh in &config.teacher.refresh {
        let (model, refresh_seconds) = match refresh {
            Refresh::Frozen => (teacher.clone(), 0.0),
            Refresh::Refreshed => {
                tracing::info!("refreshing the teacher on the student window ({} epochs)", config.teacher.refresh_epochs);
                pipeline::refresh_teacher(&teacher, &config.teacher.train, dataset, &windows.student, config.teacher.refresh_epochs, progress)?
            }
        };
        let version = config.teacher.version + u64::from(refresh == Refresh::Refreshed);
        // Every teacher version is a run directory (`<out>/teacher` for the trained frozen one,
        // `teacher-v<N>` for a refresh), served through the label pipeline's `Teacher`.
        let dir = match (&config.teacher.run, refresh) {
            (Some(dir), Refresh::Frozen) => dir.clone(),
            (None, Refresh::Frozen) => out.join("teacher"),
            (_, Refresh::Refreshed) => out.join(format!("teacher-v{version}")),
        };
        let served = if config.teacher.run.is_some() && refresh == Refresh::Frozen {
            Teacher::load(&dir, version, dataset.encoder.clone().ok_or(pipeline::PipelineError::NoEncoder)?).map_err(pipeline::PipelineError::from)?
        } else {
            pipeline::save_as_teacher(&dir, &teacher_run_config(config, &model), &model, version, dataset)?
        };
        let labeling = label_with_progress(store.as_ref(), version, &served, dataset, &windows.student.train, &format!("labeling v{version} ({})", refresh.name()), progress)?;
        forward_passes += labeling.teacher_forward_passes;
        tracing::info!(
            "teacher v{version} ({}): {} labels {} in {:.1}s",
            refresh.name(),
            labeling.examples,
            if labeling.skipped { "already stored, teacher not run" } else { "written" },
            labeling.seconds
        );
        let device = Device::default();
        variants.push(VariantResult {
            refresh: refresh.name(),
            version,
            refresh_seconds,
            valid: evaluate(&model.model, &model.store, dataset, &split.valid, eval_batch, &device),
            test: evaluate(&model.model, &model.store, dataset, &split.test, eval_batch, &device),
            labeling,
        });
        labels.insert(refresh, (version, pipeline::read_labels(store.as_ref(), version, dataset, &windows.student.train)?));
    }

    let mut runs = Vec::new();
    for student in &config.students {
        for &mode in &student.modes {
            let teachers: Vec<Option<Refresh>> =
                if mode == KdMode::None { vec![None] } else { config.teacher.refresh.iter().copied().map(Some).collect() };
            for variant in teachers {
                for &seed in &config.seeds {
                    let empty = (0, HashMap::new());
                    let (version, map) = variant.and_then(|v| labels.get(&v)).unwrap_or(&empty);
                    let teacher_name = variant.map_or("-", Refresh::name);
                    tracing::info!("== student {} · {} · teacher {teacher_name} · seed {seed} ==", student.name, mode.name());
                    let train = recforge_train::TrainConfig { seed, ..student.train.clone() };
                    let (result, _) = pipeline::train_student(
                        &student.model, &train, mode, &student.kd, &student.aux_hidden, map, *version, dataset, &windows.student, progress,
                    )?;
                    tracing::info!("   valid AUC {:.4} · test AUC {:.4} · test logloss {:.4}", result.valid.auc, result.test.auc, result.test.logloss);
                    runs.push(StudentRun { student: student.name.clone(), model: student.model.name(), mode: mode.name(), teacher: teacher_name, seed, result });
                }
            }
        }
    }

    let search = match (&config.search, options.no_search) {
        (Some(search), false) => Some(run_search(out, config, search, dataset, &windows)?),
        _ => None,
    };

    let cost = cost(&runs, &variants, forward_passes, windows.student.train.len());
    Ok(LabelsResults {
        data: DataSummary::new(config, options, dataset, split, &windows),
        labels: config.labels.clone(),
        teacher: TeacherResult { model: teacher_model, parameters: teacher.num_parameters(), train_seconds: teacher_seconds, variants },
        teacher_forward_passes: forward_passes,
        cost,
        students: summarise(&runs),
        runs,
        search,
    })
}

/// [`pipeline::label_once`] reporting to `progress` as one phase.
fn label_with_progress(
    store: &dyn crate::label_store::LabelStore,
    version: TeacherVersion,
    teacher: &Teacher,
    dataset: &Dataset,
    rows: &[usize],
    label: &str,
    progress: &dyn Progress,
) -> Result<Labeling, pipeline::PipelineError> {
    let phase = recforge_data::Phase::begin(progress, label, Some(rows.len() as u64), recforge_data::Unit::Examples);
    let done = std::cell::Cell::new(0u64);
    pipeline::label_once(store, version, teacher, dataset, rows, &|n| {
        done.set(done.get() + n as u64);
        phase.update(done.get(), "");
    })
}

/// The trained teacher, its training seconds (0 when loaded) and its model kind.
fn train_or_load_teacher(
    config: &DistillConfig,
    dataset: &Dataset,
    split: &Split,
    progress: &dyn Progress,
) -> Result<(TrainedModel, f64, String), ExperimentError> {
    if let Some(dir) = &config.teacher.run {
        let run = RunDir::open(dir)?;
        let run_config: RunConfig = run.load_config()?;
        let model = run.load_model(&run_config, dataset, &Device::default())?;
        tracing::info!("teacher loaded from {}", dir.display());
        return Ok((model, 0.0, run_config.model.name().to_string()));
    }
    let model = config.teacher.model.as_ref().ok_or_else(|| ExperimentError::Invalid("[teacher] has neither run nor model".into()))?;
    tracing::info!("training the teacher ({}) on {} rows", model.name(), split.train.len());
    let (trained, seconds) = pipeline::train_teacher(model, &config.teacher.train, dataset, split, progress)?;
    Ok((trained, seconds, model.name().to_string()))
}

/// The run config a teacher is saved under, so `[teacher] run = "runs/<name>/teacher"`,
/// `recforge eval` and `recforge labeler` can load it.
fn teacher_run_config(config: &DistillConfig, teacher: &TrainedModel) -> RunConfig {
    RunConfig {
        name: Some(format!("{}-teacher", config.name())),
        data: recforge_train::run::DataSection { schema: config.data.schema.clone() },
        model: teacher.config.clone(),
        train: config.teacher.train.clone(),
    }
}

/// Successive halving over teachers, each scored by a student distilled from it (students
/// train silently: many short runs).
fn run_search(out: &Path, config: &DistillConfig, search: &SearchConfig, dataset: &Dataset, windows: &Windows) -> Result<SearchOutcome, ExperimentError> {
    let student: &StudentSection = config
        .students
        .iter()
        .find(|s| s.name == search.student)
        .ok_or_else(|| ExperimentError::Invalid(format!("[search] student = {:?} is not one of the [[students]]", search.student)))?;
    let mode = student.modes.iter().copied().find(|&m| m != KdMode::None).unwrap_or(KdMode::Aux);
    let mut train = student.train.clone();
    train.seed = config.seeds[0];
    if let Some(epochs) = search.student_epochs {
        train.epochs = epochs;
    }
    tracing::info!("== teacher search: baseline student {} without KD ==", student.name);
    let none = HashMap::new();
    let (baseline, _) = pipeline::train_student(&student.model, &train, KdMode::None, &student.kd, &[], &none, 0, dataset, &windows.student, &Silent)?;
    let store = MemoryLabelStore::new();
    let mut version: TeacherVersion = 0;
    let eval_batch = search.train.eval_batch_size;
    let search_dir: PathBuf = out.join("search");
    let run = |teacher: &TrainedModel| RunConfig { train: search.train.clone(), ..teacher_run_config(config, teacher) };
    let mut student_auc = |teacher: &TrainedModel| {
        version += 1;
        let started = std::time::Instant::now();
        let served = pipeline::save_as_teacher(&search_dir.join(format!("teacher-{version}")), &run(teacher), teacher, version, dataset)?;
        pipeline::label_once(&store, version, &served, dataset, &windows.student.train, &|_| {})?;
        let labels = pipeline::read_labels(&store, version, dataset, &windows.student.train)?;
        let (result, _) = pipeline::train_student(
            &student.model, &train, mode, &student.kd, &student.aux_hidden, &labels, version, dataset, &windows.student, &Silent,
        )?;
        Ok((result.valid.auc, started.elapsed().as_secs_f64()))
    };
    let teacher_auc = |t: &TrainedModel| evaluate(&t.model, &t.store, dataset, &windows.teacher.valid, eval_batch, &Device::default()).auc;
    let report = |p: &SearchPoint| {
        tracing::info!(
            "   search rung {} · {} · {} steps · teacher {:.1}s (valid AUC {:.4}) · student valid AUC {:.4} ({:+.4})",
            p.rung, p.candidate, p.steps, p.teacher_seconds, p.teacher_valid_auc, p.student_valid_auc, p.student_gain
        )
    };
    Ok(teacher_search::successive_halving(search, dataset, &windows.teacher, baseline.valid.auc, &teacher_auc, &mut student_auc, &report)?)
}

/// Mean ± std per (student, mode, teacher) over seeds, in first-seen order.
fn summarise(runs: &[StudentRun]) -> Vec<StudentSummary> {
    let mut groups: Vec<Vec<&StudentRun>> = Vec::new();
    for run in runs {
        match groups.iter_mut().find(|g| g[0].student == run.student && g[0].mode == run.mode && g[0].teacher == run.teacher) {
            Some(g) => g.push(run),
            None => groups.push(vec![run]),
        }
    }
    groups
        .into_iter()
        .map(|rs| {
            let stat = |f: fn(&StudentRun) -> f64| Stat::of(rs.iter().map(|r| f(r)));
            StudentSummary {
                student: rs[0].student.clone(),
                model: rs[0].model,
                mode: rs[0].mode,
                teacher: rs[0].teacher,
                seeds: rs.len(),
                parameters: rs[0].result.parameters,
                test_auc: stat(|r| r.result.test.auc),
                test_logloss: stat(|r| r.result.test.logloss),
                valid_auc: stat(|r| r.result.valid.auc),
                train_seconds: stat(|r| r.result.train_seconds),
            }
        })
        .collect()
}

fn cost(runs: &[StudentRun], variants: &[VariantResult], forward_passes: u64, student_rows: usize) -> Cost {
    let kd_runs: Vec<&StudentRun> = runs.iter().filter(|r| r.mode != KdMode::None.name()).collect();
    let labeling_seconds: f64 = variants.iter().filter(|v| !v.labeling.skipped).map(|v| v.labeling.seconds).sum();
    let labeled: u64 = variants.iter().map(|v| v.labeling.teacher_forward_passes).sum();
    let seconds_per_pass = if labeled > 0 { labeling_seconds / labeled as f64 } else { f64::NAN };
    let per_student = (kd_runs.len() * student_rows) as u64;
    let online: u64 = kd_runs.iter().map(|r| (r.result.epochs_run * student_rows) as u64).sum();
    Cost {
        kd_student_trainings: kd_runs.len(),
        shared_labels_forward_passes: forward_passes,
        shared_labels_seconds: labeling_seconds,
        per_student_labeling_forward_passes: per_student,
        per_student_labeling_seconds_est: per_student as f64 * seconds_per_pass,
        teacher_in_loop_forward_passes: online,
        teacher_in_loop_seconds_est: online as f64 * seconds_per_pass,
        teacher_seconds_per_forward_pass: seconds_per_pass,
    }
}
