//! `recforge distill CONFIG.toml`: train or load a teacher (frozen and/or refreshed on the newer
//! window), label the student window once per teacher version into the label store, train every
//! student × KD mode × seed against the stored labels, optionally search teachers under a
//! budget; writes `runs/<name>/{results.json,report.html}`. `mode = "committee" | "talking" |
//! "levi"` runs the foundation-model distillation of [`crate::cmd::distill_modes`] instead.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::prelude::*;
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};
use recforge_data::{Dataset, Split};
use recforge_distill::pipeline::{self, Labeling, StudentResult};
use recforge_distill::teacher_search::{self, SearchOutcome, SearchPoint};
use recforge_distill::{DistillConfig, DistillMode, KdMode, MemoryLabelStore, Refresh, StudentSection, TeacherVersion, open_label_store};
use recforge_train::{EvalMetrics, RunDir, RunConfig, TrainedModel, evaluate};
use serde::Serialize;
use serde_json::{Value, json};

use recforge_train::metrics::mean_std;
use crate::distill_report;

#[derive(ClapArgs)]
pub struct Args {
    /// Distillation config (see configs/distill/): [data] windows, [teacher], [[students]], [search];
    /// `mode = "committee" | "talking" | "levi"` with [[teachers]], [foundation], [committee], [talking], [levi].
    config: PathBuf,
    /// Output folder (default runs/<config name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override the label store URL (`labels = ...` in the config), e.g. mem://.
    #[arg(long)]
    labels: Option<String>,
    /// Override the student seeds, comma-separated.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Skip the [search] table even if the config has one.
    #[arg(long)]
    no_search: bool,
    /// Skip malformed rows while preparing (counted and reported).
    #[arg(long)]
    skip_bad_rows: bool,
}

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

pub fn run(args: Args) -> Result<()> {
    let mut config = DistillConfig::from_file(&args.config)?;
    if let Some(labels) = args.labels {
        config.labels = labels;
    }
    if let Some(seeds) = args.seeds {
        config.seeds = seeds;
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from("runs").join(config.name()));
    let task = recforge_data::Task::load(&config.data.schema, &recforge_data::TaskOptions { skip_bad_rows: args.skip_bad_rows, ..Default::default() }, crate::progress::console())?;
    let (dataset, split) = (&task.dataset, &task.split);
    if config.mode != DistillMode::Labels {
        return crate::cmd::distill_modes::run(&config, &args.config, &out, dataset, split);
    }
    let run_dir = RunDir::create(&out)?;
    let windows = pipeline::windows(split, &config.data)?;
    tracing::info!(
        teacher_rows = windows.teacher.train.len(),
        student_rows = windows.student.train.len(),
        valid = split.valid.len(),
        test = split.test.len(),
        "windows"
    );
    let store = open_label_store(&config.labels).with_context(|| format!("opening the label store {}", config.labels))?;

    let (teacher, teacher_seconds, teacher_model) = teacher(&config, dataset, &windows.teacher)?;
    let eval_batch = config.teacher.train.eval_batch_size;
    let mut variants = Vec::new();
    let mut labels: HashMap<Refresh, (TeacherVersion, HashMap<u64, f32>)> = HashMap::new();
    let mut forward_passes = 0u64;
    for &refresh in &config.teacher.refresh {
        let (model, refresh_seconds) = match refresh {
            Refresh::Frozen => (teacher.clone(), 0.0),
            Refresh::Refreshed => {
                eprintln!("refreshing the teacher on the student window ({} epochs)", config.teacher.refresh_epochs);
                pipeline::refresh_teacher(&teacher, &config.teacher.train, dataset, &windows.student, config.teacher.refresh_epochs, true)?
            }
        };
        let version = config.teacher.version + u64::from(refresh == Refresh::Refreshed);
        // Every teacher version is a run directory (`runs/<name>/teacher` for the trained frozen
        // one, `teacher-v<N>` for a refresh), served through the label pipeline's `Teacher`.
        let dir = match (&config.teacher.run, refresh) {
            (Some(dir), Refresh::Frozen) => dir.clone(),
            (None, Refresh::Frozen) => out.join("teacher"),
            (_, Refresh::Refreshed) => out.join(format!("teacher-v{version}")),
        };
        let served = if config.teacher.run.is_some() && refresh == Refresh::Frozen {
            recforge_distill::Teacher::load(&dir, version, dataset.encoder.clone().context("the dataset has no fitted encoder")?)?
        } else {
            pipeline::save_as_teacher(&dir, &teacher_run_config(&config, &model), &model, version, dataset)?
        };
        let bar = bar(windows.student.train.len(), &format!("labeling v{version} ({})", refresh.name()));
        let labeling = pipeline::label_once(store.as_ref(), version, &served, dataset, &windows.student.train, &|n| bar.inc(n as u64))?;
        bar.finish_and_clear();
        forward_passes += labeling.teacher_forward_passes;
        eprintln!(
            "teacher v{version} ({}): {} labels {} in {:.1}s",
            refresh.name(),
            labeling.examples,
            if labeling.skipped { "already stored, teacher not run" } else { "written" },
            labeling.seconds
        );
        let device = Device::default();
        let m = &model;
        variants.push(VariantResult {
            refresh: refresh.name(),
            version,
            refresh_seconds,
            valid: evaluate(&m.model, &m.store, dataset, &split.valid, eval_batch, &device),
            test: evaluate(&m.model, &m.store, dataset, &split.test, eval_batch, &device),
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
                    eprintln!("== student {} · {} · teacher {teacher_name} · seed {seed} ==", student.name, mode.name());
                    let train = recforge_train::TrainConfig { seed, ..student.train.clone() };
                    let (result, _) = pipeline::train_student(
                        &student.model, &train, mode, &student.kd, &student.aux_hidden, map, *version, dataset, &windows.student, true,
                    )?;
                    eprintln!("   valid AUC {:.4} · test AUC {:.4} · test logloss {:.4}", result.valid.auc, result.test.auc, result.test.logloss);
                    runs.push(StudentRun { student: student.name.clone(), model: student.model.name(), mode: mode.name(), teacher: teacher_name, seed, result });
                }
            }
        }
    }

    let search = match (&config.search, args.no_search) {
        (Some(search), false) => Some(run_search(&out, &config, search, dataset, &windows)?),
        _ => None,
    };

    let summary = summarise(&runs);
    let cost = cost(&runs, &variants, forward_passes, windows.student.train.len());
    let results = json!({
        "name": config.name(),
        "config": args.config,
        "labels": config.labels,
        "dataset": dataset.meta.name,
        "teacher_rows": windows.teacher.train.len(),
        "student_rows": windows.student.train.len(),
        "valid_examples": split.valid.len(),
        "test_examples": split.test.len(),
        "teacher": {
            "model": teacher_model,
            "parameters": teacher.num_parameters(),
            "train_seconds": teacher_seconds,
            "variants": variants,
        },
        "teacher_forward_passes": forward_passes,
        "cost": cost,
        "students": summary,
        "runs": runs,
        "search": search,
    });
    run_dir.write_json("results.json", &results)?;
    run_dir.write(RunDir::REPORT, distill_report::render(config.name(), &results, search.as_ref()).as_bytes())?;
    println!("{}", distill_report::markdown(&results));
    println!("results written to {} (report: {})", out.join("results.json").display(), out.join(RunDir::REPORT).display());
    Ok(())
}

/// The trained teacher, its training seconds (0 when loaded) and its model kind.
fn teacher(config: &DistillConfig, dataset: &Dataset, split: &Split) -> Result<(TrainedModel, f64, String)> {
    if let Some(dir) = &config.teacher.run {
        let run = RunDir::open(dir)?;
        let run_config: RunConfig = run.load_config()?;
        let model = run.load_model(&run_config, dataset, &Device::default())?;
        eprintln!("teacher loaded from {}", dir.display());
        return Ok((model, 0.0, run_config.model.name().to_string()));
    }
    let model = config.teacher.model.as_ref().context("[teacher] has neither run nor model")?;
    eprintln!("training the teacher ({}) on {} rows", model.name(), split.train.len());
    let (trained, seconds) = pipeline::train_teacher(model, &config.teacher.train, dataset, split, true)?;
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

/// Successive halving over teachers, each scored by a student distilled from it.
fn run_search(
    out: &std::path::Path,
    config: &DistillConfig,
    search: &teacher_search::SearchConfig,
    dataset: &Dataset,
    windows: &pipeline::Windows,
) -> Result<SearchOutcome> {
    let student: &StudentSection =
        config.students.iter().find(|s| s.name == search.student).context("[search] student not found")?;
    let mode = student.modes.iter().copied().find(|&m| m != KdMode::None).unwrap_or(KdMode::Aux);
    let mut train = student.train.clone();
    train.seed = config.seeds[0];
    if let Some(epochs) = search.student_epochs {
        train.epochs = epochs;
    }
    eprintln!("== teacher search: baseline student {} without KD ==", student.name);
    let none = HashMap::new();
    let (baseline, _) = pipeline::train_student(&student.model, &train, KdMode::None, &student.kd, &[], &none, 0, dataset, &windows.student, false)?;
    let store = MemoryLabelStore::new();
    let mut version: TeacherVersion = 0;
    let eval_batch = search.train.eval_batch_size;
    let run = |teacher: &TrainedModel| RunConfig { train: search.train.clone(), ..teacher_run_config(config, teacher) };
    let mut student_auc = |teacher: &TrainedModel| {
        version += 1;
        let started = std::time::Instant::now();
        let served = pipeline::save_as_teacher(&out.join("search").join(format!("teacher-{version}")), &run(teacher), teacher, version, dataset)?;
        pipeline::label_once(&store, version, &served, dataset, &windows.student.train, &|_| {})?;
        let labels = pipeline::read_labels(&store, version, dataset, &windows.student.train)?;
        let (result, _) = pipeline::train_student(
            &student.model, &train, mode, &student.kd, &student.aux_hidden, &labels, version, dataset, &windows.student, false,
        )?;
        Ok((result.valid.auc, started.elapsed().as_secs_f64()))
    };
    let teacher_auc = |t: &TrainedModel| evaluate(&t.model, &t.store, dataset, &windows.teacher.valid, eval_batch, &Device::default()).auc;
    let report = |p: &SearchPoint| {
        eprintln!(
            "   search rung {} · {} · {} steps · teacher {:.1}s (valid AUC {:.4}) · student valid AUC {:.4} ({:+.4})",
            p.rung, p.candidate, p.steps, p.teacher_seconds, p.teacher_valid_auc, p.student_valid_auc, p.student_gain
        )
    };
    Ok(teacher_search::successive_halving(search, dataset, &windows.teacher, baseline.valid.auc, &teacher_auc, &mut student_auc, &report)?)
}

/// Mean ± std per (student, mode, teacher) over seeds.
fn summarise(runs: &[StudentRun]) -> Vec<Value> {
    let mut groups: Vec<(String, &str, &str, Vec<&StudentRun>)> = Vec::new();
    for run in runs {
        match groups.iter_mut().find(|g| g.0 == run.student && g.1 == run.mode && g.2 == run.teacher) {
            Some(g) => g.3.push(run),
            None => groups.push((run.student.clone(), run.mode, run.teacher, vec![run])),
        }
    }
    groups
        .into_iter()
        .map(|(student, mode, teacher, rs)| {
            let stat = |f: &dyn Fn(&StudentRun) -> f64| {
                let (mean, std) = mean_std(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
                json!({"mean": mean, "std": std})
            };
            json!({
                "student": student,
                "model": rs[0].model,
                "mode": mode,
                "teacher": teacher,
                "seeds": rs.len(),
                "parameters": rs[0].result.parameters,
                "test_auc": stat(&|r| r.result.test.auc),
                "test_logloss": stat(&|r| r.result.test.logloss),
                "valid_auc": stat(&|r| r.result.valid.auc),
                "train_seconds": stat(&|r| r.result.train_seconds),
            })
        })
        .collect()
}

/// Teacher forward passes and seconds: shared labels (what ran) against per-student labeling
/// and against running the teacher inside every student's training loop.
fn cost(runs: &[StudentRun], variants: &[VariantResult], forward_passes: u64, student_rows: usize) -> Value {
    let kd_runs: Vec<&StudentRun> = runs.iter().filter(|r| r.mode != "none").collect();
    let labeling_seconds: f64 = variants.iter().filter(|v| !v.labeling.skipped).map(|v| v.labeling.seconds).sum();
    let labeled: u64 = variants.iter().map(|v| v.labeling.teacher_forward_passes).sum();
    let seconds_per_pass = if labeled > 0 { labeling_seconds / labeled as f64 } else { f64::NAN };
    let per_student = (kd_runs.len() * student_rows) as u64;
    let online: u64 = kd_runs.iter().map(|r| (r.result.epochs_run * student_rows) as u64).sum();
    json!({
        "kd_student_trainings": kd_runs.len(),
        "shared_labels_forward_passes": forward_passes,
        "shared_labels_seconds": labeling_seconds,
        "per_student_labeling_forward_passes": per_student,
        "per_student_labeling_seconds_est": per_student as f64 * seconds_per_pass,
        "teacher_in_loop_forward_passes": online,
        "teacher_in_loop_seconds_est": online as f64 * seconds_per_pass,
        "teacher_seconds_per_forward_pass": seconds_per_pass,
    })
}

/// A progress bar with rate and ETA, labelled `prefix` (shared by the distill modes).
pub(crate) fn bar(len: usize, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} · {per_sec} · ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}
