//! What the committee and talking modes share: the zoo teachers (trained once, then loaded
//! from their run folders) and the text-model teacher, one student trained under every method
//! × seed, gap closed against the best teacher, and the served student's size and latency.

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use recforge_data::{Dataset, Progress, Split};
use recforge_train::metrics::sigmoid;
use recforge_train::{EvalMetrics, RunConfig, RunDir, TrainedModel, evaluate, labels_of, serving_latency};
use serde::Serialize;

use super::{DataSummary, ExperimentError, ExperimentOptions, Stat};
use crate::config::{DistillConfig, DistillMode, StudentSection, TeacherSpec};
use crate::foundation::{self, CachedEmbedder, FoundationTeacher};
use crate::frozen::{FrozenTeacher, RankerTeacher};
use crate::levi::row_index;
use crate::pipeline::{self, StudentResult, Windows};

/// One teacher of the panel, evaluated on the student split.
#[derive(Debug, Clone, Serialize)]
pub struct TeacherRow {
    pub name: String,
    pub model: String,
    pub parameters: usize,
    pub train_seconds: f64,
    pub valid: EvalMetrics,
    pub test: EvalMetrics,
    /// Teacher parameters over student parameters.
    pub compression_ratio: f64,
    /// The text-model teacher's own counters (absent for zoo teachers).
    #[serde(flatten)]
    pub text: Option<TextTeacherStats>,
}

/// How the text-model teacher was built.
#[derive(Debug, Clone, Serialize)]
pub struct TextTeacherStats {
    /// Parameters of its trained head (the text model is frozen).
    pub trained_parameters: usize,
    pub texts: usize,
    pub text_model_calls: u64,
    pub cache_hits: u64,
}

/// The student every method trains.
#[derive(Debug, Clone, Serialize)]
pub struct StudentInfo {
    pub name: String,
    pub model: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<usize>,
}

/// What a method adds beyond the student's metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum MethodExtra {
    /// Nothing beyond the metrics (serialised as `{}`).
    Plain {},
    Committee(super::committee::CommitteeExtra),
    Talking(super::talking::TalkingExtra),
}

/// One trained student under one method and seed.
#[derive(Debug, Clone, Serialize)]
pub struct MethodRun {
    pub method: String,
    pub seed: u64,
    pub result: StudentResult,
    pub extra: MethodExtra,
}

/// Mean ± std per method over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct MethodSummary {
    pub method: String,
    pub seeds: usize,
    pub parameters: usize,
    pub test_auc: Stat,
    pub test_logloss: Stat,
    pub valid_auc: Stat,
    pub train_seconds: Stat,
    /// (KD − alone) / (best teacher − alone) on mean test AUC.
    pub gap_closed: f64,
    /// The first seed's extra.
    pub extra: MethodExtra,
}

/// The served student after a training-only module against the plain student.
#[derive(Debug, Clone, Serialize)]
pub struct Serving {
    pub plain_parameters: usize,
    pub served_parameters: usize,
    pub plain_dense_parameters: usize,
    pub served_dense_parameters: usize,
    pub batch: usize,
    pub calls: usize,
    pub plain_p50_ms: f64,
    pub plain_p99_ms: f64,
    pub served_p50_ms: f64,
    pub served_p99_ms: f64,
}

/// Mode-specific notes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PanelExtras {
    /// Teacher forward passes spent on the offline soft labels (committee mode).
    pub offline_label_passes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub talking_teacher: Option<String>,
}

/// `results.json` of the committee and talking modes.
#[derive(Debug, Clone, Serialize)]
pub struct PanelResults {
    #[serde(flatten)]
    pub data: DataSummary,
    pub mode: &'static str,
    pub seeds: Vec<u64>,
    pub teachers: Vec<TeacherRow>,
    pub student: StudentInfo,
    pub best_teacher_test_auc: f64,
    pub methods: Vec<MethodSummary>,
    pub runs: Vec<MethodRun>,
    pub serving: Option<Serving>,
    pub extras: PanelExtras,
}

/// The students a mode trained: every run, and the models to compare at serving.
pub(super) struct Trained {
    pub runs: Vec<MethodRun>,
    /// The first seed's plain student and its student with the training-only module.
    pub plain: Option<TrainedModel>,
    pub served: Option<TrainedModel>,
    pub extras: PanelExtras,
}

/// What one mode's training needs.
pub(super) struct Panel<'a> {
    pub config: &'a DistillConfig,
    pub dataset: &'a Dataset,
    pub split: &'a Split,
    pub student: &'a StudentSection,
    pub teachers: &'a [Box<dyn FrozenTeacher>],
    pub row_of: &'a std::collections::HashMap<u64, usize>,
    /// Width of the student's shared bottom.
    pub width: usize,
    pub progress: &'a dyn Progress,
}

/// Runs the committee or talking mode of `config`.
pub fn run(
    config: &DistillConfig,
    options: &ExperimentOptions,
    dataset: &Dataset,
    split: &Split,
    progress: &dyn Progress,
) -> Result<PanelResults, ExperimentError> {
    let windows = pipeline::windows(split, &config.data)?;
    log_windows(config, &windows, split);
    let student = &config.students[0];
    let (teachers, mut teacher_rows) = panel_teachers(config, &options.out, dataset, &windows, progress)?;
    let students = &windows.student;
    let row_of = row_index(dataset, &students.train);
    let width = pipeline::student_width(&student.model, &student.train, dataset, students)?;
    let panel = Panel { config, dataset, split: students, student, teachers: &teachers, row_of: &row_of, width, progress };
    let trained = match config.mode {
        DistillMode::Talking => super::talking::train(&panel)?,
        _ => super::committee::train(&panel)?,
    };
    let runs = trained.runs;

    // Gap closed, against the best teacher on the test rows.
    let student_params = runs[0].result.parameters;
    for t in teacher_rows.iter_mut() {
        t.compression_ratio = t.parameters as f64 / student_params as f64;
    }
    let best_teacher_auc = teacher_rows.iter().map(|t| t.test.auc).fold(f64::NAN, f64::max);
    let serving = serving_check(trained.plain.as_ref(), trained.served.as_ref(), dataset, &students.test);
    Ok(PanelResults {
        data: DataSummary::new(config, options, dataset, split, &windows),
        mode: config.mode.name(),
        seeds: config.seeds.clone(),
        teachers: teacher_rows,
        student: StudentInfo { name: student.name.clone(), model: student.model.name(), parameters: Some(student_params) },
        best_teacher_test_auc: best_teacher_auc,
        methods: summarise(&runs, best_teacher_auc),
        runs,
        serving,
        extras: trained.extras,
    })
}

pub(super) fn log_windows(config: &DistillConfig, windows: &Windows, split: &Split) {
    tracing::info!(
        "mode {}: teacher window {} rows, student window {} rows, valid {}, test {}",
        config.mode.name(),
        windows.teacher.train.len(),
        windows.student.train.len(),
        split.valid.len(),
        split.test.len()
    );
}

/// A zoo teacher: loaded from its run folder when trained before, else trained and saved there.
pub(super) fn zoo_teacher(
    spec: &TeacherSpec,
    config: &DistillConfig,
    out: &Path,
    dataset: &Dataset,
    windows: &Windows,
    progress: &dyn Progress,
) -> Result<(TrainedModel, f64), ExperimentError> {
    let dir = spec.run.clone().unwrap_or_else(|| out.join(format!("teacher-{}", spec.name)));
    if dir.join(RunDir::CONFIG).exists() && dir.join(RunDir::MODEL).exists() {
        let run = RunDir::open(&dir)?;
        let run_config: RunConfig = run.load_config()?;
        tracing::info!("teacher {} loaded from {}", spec.name, dir.display());
        return Ok((run.load_model(&run_config, dataset, &Device::default())?, 0.0));
    }
    tracing::info!("training teacher {} ({}) on {} rows", spec.name, spec.model.name(), windows.teacher.train.len());
    let (trained, seconds) = pipeline::train_teacher(&spec.model, &spec.train, dataset, &windows.teacher, progress)?;
    let run = RunDir::create(&dir)?;
    run.save_config(&RunConfig {
        name: Some(format!("{}-{}", config.name(), spec.name)),
        data: recforge_train::run::DataSection { schema: config.data.schema.clone() },
        model: spec.model.clone(),
        train: spec.train.clone(),
    })?;
    run.save_model(&trained)?;
    Ok((trained, seconds))
}

fn metrics_of_logits(logits: &[f32], dataset: &Dataset, rows: &[usize]) -> EvalMetrics {
    let p: Vec<f32> = logits.iter().copied().map(sigmoid).collect();
    EvalMetrics::of(&p, &labels_of(dataset, rows))
}

/// Every frozen teacher of the panel, with its summary row (compression filled in later).
fn panel_teachers(
    config: &DistillConfig,
    out: &Path,
    dataset: &Dataset,
    windows: &Windows,
    progress: &dyn Progress,
) -> Result<(Vec<Box<dyn FrozenTeacher>>, Vec<TeacherRow>), ExperimentError> {
    let split = &windows.student;
    let mut teachers: Vec<Box<dyn FrozenTeacher>> = Vec::new();
    let mut rows = Vec::new();
    for spec in &config.teachers {
        let (trained, seconds) = zoo_teacher(spec, config, out, dataset, windows, progress)?;
        let eval = |r: &[usize]| evaluate(&trained.model, &trained.store, dataset, r, spec.train.eval_batch_size, &Device::default());
        rows.push(TeacherRow {
            name: spec.name.clone(),
            model: spec.model.name().to_string(),
            parameters: trained.num_parameters(),
            train_seconds: seconds,
            valid: eval(&split.valid),
            test: eval(&split.test),
            compression_ratio: f64::NAN,
            text: None,
        });
        teachers.push(Box::new(RankerTeacher::new(&spec.name, trained, dataset, spec.train.eval_batch_size)?));
    }
    if let Some(fc) = &config.foundation {
        let started = Instant::now();
        let (encoder, cache) = foundation::open(fc)
            .map_err(|source| ExperimentError::FoundationOpen { model: fc.model_dir.clone(), cache: fc.cache.clone(), source })?;
        let scored: Vec<usize> = split.train.iter().chain(&split.valid).chain(&split.test).copied().collect();
        // Liked titles come from the older half of the teacher window and the head trains on the
        // newer half, so no scored row's own label is in its user's text.
        let (profile, head_rows) = windows.teacher.train.split_at(windows.teacher.train.len() / 2);
        let with_head: Vec<usize> = scored.iter().chain(head_rows).copied().collect();
        let rendered = foundation::render(dataset, &with_head, profile, fc.recent_titles)?;
        let texts = rendered.users.len() + rendered.items.len();
        let embedder = CachedEmbedder::new(&encoder, &cache);
        let teacher = FoundationTeacher::build(dataset, &rendered, &embedder, fc, head_rows, config.seeds[0], progress)?;
        let calls = embedder.model_calls.load(std::sync::atomic::Ordering::Relaxed);
        let hits = embedder.cache_hits.load(std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            "foundation teacher: {texts} texts for {} rows ({calls} embedded by the text model, {hits} from the cache)",
            scored.len() + windows.teacher.train.len()
        );
        let eval = |r: &[usize]| metrics_of_logits(&teacher.answer(dataset, r).logits, dataset, r);
        rows.push(TeacherRow {
            name: "foundation".into(),
            model: "minilm+head".into(),
            parameters: teacher.parameters(),
            train_seconds: started.elapsed().as_secs_f64(),
            valid: eval(&split.valid),
            test: eval(&split.test),
            compression_ratio: f64::NAN,
            text: Some(TextTeacherStats { trained_parameters: teacher.head_parameters(), texts, text_model_calls: calls, cache_hits: hits }),
        });
        teachers.push(Box::new(teacher));
    }
    Ok((teachers, rows))
}

/// The served student after a training-only module: same parameter count and latency as the plain student.
fn serving_check(plain: Option<&TrainedModel>, served: Option<&TrainedModel>, dataset: &Dataset, rows: &[usize]) -> Option<Serving> {
    const BATCH: usize = 256;
    const CALLS: usize = 200;
    let (plain, served) = (plain?, served?);
    let latency = |m: &TrainedModel| serving_latency(&m.model, &m.store, dataset, rows, BATCH, CALLS, &Device::default());
    // Warm once, then measure both.
    let _ = latency(plain);
    let (a, b) = (latency(plain), latency(served));
    Some(Serving {
        plain_parameters: plain.num_parameters(),
        served_parameters: served.num_parameters(),
        plain_dense_parameters: plain.model.num_params(),
        served_dense_parameters: served.model.num_params(),
        batch: BATCH,
        calls: CALLS,
        plain_p50_ms: a.p50_ms,
        plain_p99_ms: a.p99_ms,
        served_p50_ms: b.p50_ms,
        served_p99_ms: b.p99_ms,
    })
}

/// The method every panel compares against.
pub(super) const NO_KD: &str = "no KD";

/// Mean ± std per method over seeds (first-seen order), and gap closed.
fn summarise(runs: &[MethodRun], best_teacher_auc: f64) -> Vec<MethodSummary> {
    let mut methods: Vec<&str> = Vec::new();
    for r in runs {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let alone = Stat::of(runs.iter().filter(|r| r.method == NO_KD).map(|r| r.result.test.auc)).mean;
    methods
        .iter()
        .map(|m| {
            let rs: Vec<&MethodRun> = runs.iter().filter(|r| r.method == *m).collect();
            let stat = |f: fn(&MethodRun) -> f64| Stat::of(rs.iter().map(|r| f(r)));
            let test_auc = stat(|r| r.result.test.auc);
            MethodSummary {
                method: m.to_string(),
                seeds: rs.len(),
                parameters: rs[0].result.parameters,
                test_auc,
                test_logloss: stat(|r| r.result.test.logloss),
                valid_auc: stat(|r| r.result.valid.auc),
                train_seconds: stat(|r| r.result.train_seconds),
                gap_closed: (test_auc.mean - alone) / (best_teacher_auc - alone),
                extra: rs[0].extra.clone(),
            }
        })
        .collect()
}
