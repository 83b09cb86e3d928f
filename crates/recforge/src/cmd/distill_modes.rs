//! `recforge distill` with `mode = "committee" | "talking" | "levi"` (issue 9): knowledge from a
//! frozen text model and zoo teachers into a small student. Trains (or loads) the `[[teachers]]`
//! on the teacher window, builds the foundation-model teacher when `[foundation]` is set, then
//! trains the first `[[students]]` entry under every method of the mode × seed and writes
//! `runs/<name>/{results.json,report.html}` with gap closed, compression ratios and serving size.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::prelude::*;
use recforge_data::{Dataset, Split};
use recforge_distill::committee::CommitteeObjective;
use recforge_distill::foundation::{self, CachedEmbedder, FoundationTeacher};
use recforge_distill::frozen::{FrozenTeacher, RankerTeacher};
use recforge_distill::levi::{FrozenModel, LeviObjective, LeviSplit, levi_split, row_index, rows_with_values};
use recforge_distill::pipeline::{self, StudentResult, Windows};
use recforge_distill::talking::{TalkingObjective, TransferMode};
use recforge_distill::{DistillConfig, DistillMode, KdMode, StudentSection, TeacherSpec};
use recforge_train::metrics::sigmoid;
use recforge_train::{EvalMetrics, RunConfig, RunDir, TrainConfig, TrainedModel, evaluate, fine_tune, labels_of, serving_latency};
use serde_json::{Value, json};

use crate::cmd::distill::bar;
use recforge_train::metrics::mean_std;
use crate::distill_report;

/// One trained student under one method and seed.
struct MethodRun {
    method: String,
    seed: u64,
    result: StudentResult,
    extra: Value,
}

pub fn run(config: &DistillConfig, config_path: &Path, out: &Path, dataset: &Dataset, split: &Split) -> Result<()> {
    let run_dir = RunDir::create(out)?;
    let windows = pipeline::windows(split, &config.data)?;
    eprintln!(
        "mode {}: teacher window {} rows, student window {} rows, valid {}, test {}",
        config.mode.name(),
        windows.teacher.train.len(),
        windows.student.train.len(),
        split.valid.len(),
        split.test.len()
    );
    let student = &config.students[0];
    let mut results = match config.mode {
        DistillMode::Committee | DistillMode::Talking => committee_or_talking(config, out, dataset, &windows, student)?,
        DistillMode::Levi => levi(config, out, dataset, &windows, student)?,
        DistillMode::Labels => unreachable!("the labels mode runs in cmd::distill"),
    };
    results["name"] = json!(config.name());
    results["mode"] = json!(config.mode.name());
    results["config"] = json!(config_path);
    results["dataset"] = json!(dataset.meta.name);
    results["teacher_rows"] = json!(windows.teacher.train.len());
    results["student_rows"] = json!(windows.student.train.len());
    results["valid_examples"] = json!(split.valid.len());
    results["test_examples"] = json!(split.test.len());
    results["seeds"] = json!(config.seeds);
    run_dir.write_json("results.json", &results)?;
    run_dir.write(RunDir::REPORT, distill_report::render_modes(config.name(), &results).as_bytes())?;
    println!("{}", distill_report::markdown_modes(&results));
    println!("results written to {} (report: {})", out.join("results.json").display(), out.join(RunDir::REPORT).display());
    Ok(())
}

/// A zoo teacher: loaded from its run folder when trained before, else trained and saved there.
fn zoo_teacher(spec: &TeacherSpec, config: &DistillConfig, out: &Path, dataset: &Dataset, windows: &Windows) -> Result<(TrainedModel, f64)> {
    let dir = spec.run.clone().unwrap_or_else(|| out.join(format!("teacher-{}", spec.name)));
    if dir.join(RunDir::CONFIG).exists() && dir.join(RunDir::MODEL).exists() {
        let run = RunDir::open(&dir)?;
        let run_config: RunConfig = run.load_config()?;
        eprintln!("teacher {} loaded from {}", spec.name, dir.display());
        return Ok((run.load_model(&run_config, dataset, &Device::default())?, 0.0));
    }
    eprintln!("training teacher {} ({}) on {} rows", spec.name, spec.model.name(), windows.teacher.train.len());
    let (trained, seconds) = pipeline::train_teacher(&spec.model, &spec.train, dataset, &windows.teacher, true)?;
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

/// Every frozen teacher of the committee, with its summary row.
fn committee_teachers(
    config: &DistillConfig,
    out: &Path,
    dataset: &Dataset,
    windows: &Windows,
) -> Result<(Vec<Box<dyn FrozenTeacher>>, Vec<Value>)> {
    let split = &windows.student;
    let mut teachers: Vec<Box<dyn FrozenTeacher>> = Vec::new();
    let mut rows = Vec::new();
    for spec in &config.teachers {
        let (trained, seconds) = zoo_teacher(spec, config, out, dataset, windows)?;
        let eval = |r: &[usize]| evaluate(&trained.model, &trained.store, dataset, r, spec.train.eval_batch_size, &Device::default());
        rows.push(json!({
            "name": spec.name, "model": spec.model.name(), "parameters": trained.num_parameters(),
            "train_seconds": seconds, "valid": eval(&split.valid), "test": eval(&split.test),
        }));
        teachers.push(Box::new(RankerTeacher::new(&spec.name, trained, dataset, spec.train.eval_batch_size)?));
    }
    if let Some(fc) = &config.foundation {
        let started = Instant::now();
        let (encoder, cache) = foundation::open(fc).with_context(|| format!("loading the text model {} / cache {}", fc.model_dir.display(), fc.cache.display()))?;
        let scored: Vec<usize> = split.train.iter().chain(&split.valid).chain(&split.test).copied().collect();
        // Liked titles come from the older half of the teacher window and the head trains on the
        // newer half, so no scored row's own label is in its user's text.
        let (profile, head_rows) = windows.teacher.train.split_at(windows.teacher.train.len() / 2);
        let with_head: Vec<usize> = scored.iter().chain(head_rows).copied().collect();
        let rendered = foundation::render(dataset, &with_head, profile, fc.recent_titles)?;
        let texts = rendered.users.len() + rendered.items.len();
        let embedder = CachedEmbedder::new(&encoder, &cache);
        let b = bar(texts, "embedding user and item texts");
        let teacher = FoundationTeacher::build(dataset, &rendered, &embedder, fc, head_rows, config.seeds[0], &|n| b.inc(n as u64))?;
        b.finish_and_clear();
        let calls = embedder.model_calls.load(std::sync::atomic::Ordering::Relaxed);
        let hits = embedder.cache_hits.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("foundation teacher: {texts} texts for {} rows ({calls} embedded by the text model, {hits} from the cache)", scored.len() + windows.teacher.train.len());
        let eval = |r: &[usize]| metrics_of_logits(&teacher.answer(dataset, r).logits, dataset, r);
        rows.push(json!({
            "name": "foundation", "model": "minilm+head", "parameters": teacher.parameters(),
            "trained_parameters": teacher.head_parameters(), "train_seconds": started.elapsed().as_secs_f64(),
            "texts": texts, "text_model_calls": calls, "cache_hits": hits,
            "valid": eval(&split.valid), "test": eval(&split.test),
        }));
        teachers.push(Box::new(teacher));
    }
    Ok((teachers, rows))
}

fn committee_or_talking(config: &DistillConfig, out: &Path, dataset: &Dataset, windows: &Windows, student: &StudentSection) -> Result<Value> {
    let split = &windows.student;
    let (teachers, mut teacher_rows) = committee_teachers(config, out, dataset, windows)?;
    let row_of = row_index(dataset, &split.train);
    let width = pipeline::student_width(&student.model, &student.train, dataset, split)?;
    let mut runs: Vec<MethodRun> = Vec::new();
    let train_for = |seed: u64| TrainConfig { seed, ..student.train.clone() };
    let mut served: Option<TrainedModel> = None;
    let mut plain: Option<TrainedModel> = None;
    let mut extras = json!({});

    // Soft labels of every teacher over the student window, computed once (the offline baselines).
    let mut labels: Vec<HashMap<u64, f32>> = Vec::new();
    if config.mode == DistillMode::Committee {
        for t in &teachers {
            let logits = t.answer(dataset, &split.train).logits;
            labels.push(split.train.iter().map(|&r| dataset.example_ids[r]).zip(logits).collect());
        }
    }
    let offline_passes: u64 = teachers.iter().map(|t| t.examples_answered()).sum();

    for &seed in &config.seeds {
        let train = train_for(seed);
        let announce = |m: &str| eprintln!("== {} · {m} · seed {seed} ==", student.name);
        announce("no KD");
        let (r, trained) = pipeline::train_student(&student.model, &train, KdMode::None, &student.kd, &[], &HashMap::new(), 0, dataset, split, true)?;
        plain.get_or_insert(trained);
        runs.push(MethodRun { method: "no KD".into(), seed, result: r, extra: json!({}) });
        match config.mode {
            DistillMode::Committee => {
                for (k, t) in teachers.iter().enumerate() {
                    let m = format!("KD from {}", t.name());
                    announce(&m);
                    let (r, _) = pipeline::train_student(&student.model, &train, KdMode::Direct, &student.kd, &[], &labels[k], 0, dataset, split, true)?;
                    runs.push(MethodRun { method: m, seed, result: r, extra: json!({}) });
                }
                if teachers.len() > 1 {
                    announce("naive multi-teacher KD");
                    let averaged: HashMap<u64, f32> = labels[0]
                        .keys()
                        .map(|id| {
                            let p = labels.iter().map(|l| sigmoid(l[id])).sum::<f32>() / labels.len() as f32;
                            let p = p.clamp(1e-6, 1.0 - 1e-6);
                            (*id, (p / (1.0 - p)).ln())
                        })
                        .collect();
                    let (r, _) = pipeline::train_student(&student.model, &train, KdMode::Direct, &student.kd, &[], &averaged, 0, dataset, split, true)?;
                    runs.push(MethodRun { method: "naive multi-teacher KD (averaged soft labels)".into(), seed, result: r, extra: json!({}) });
                }
                announce("DiverseDistill");
                let before: Vec<u64> = teachers.iter().map(|t| t.examples_answered()).collect();
                let refs: Vec<&dyn FrozenTeacher> = teachers.iter().map(|t| t.as_ref()).collect();
                let mut objective =
                    CommitteeObjective::new(refs, dataset, &row_of, width, config.committee.clone(), &Device::default().autodiff());
                let qa_parameters = objective.qa_parameters();
                let (r, trained) = pipeline::fit_and_evaluate(&student.model, &train, dataset, split, true, &mut objective)?;
                let passes: Vec<u64> = teachers.iter().zip(&before).map(|(t, b)| t.examples_answered() - b).collect();
                let stats = &objective.stats;
                let weights: Vec<f64> = stats.weight_sum_per_teacher.iter().map(|w| w / (stats.steps.max(1) as f64)).collect();
                eprintln!(
                    "   teacher passes {} of {} ({:.1}% saved by filtering)",
                    stats.pairs_run,
                    stats.pairs_total,
                    100.0 * stats.saved_share()
                );
                let extra = json!({
                    "qa_parameters": qa_parameters, "pairs_total": stats.pairs_total, "pairs_run": stats.pairs_run,
                    "saved_share": stats.saved_share(), "passes_per_teacher": passes,
                    "weight_sum_per_teacher": stats.weight_sum_per_teacher,
                    "mean_batch_weight_per_teacher": weights,
                    "filter_share": config.committee.filter_share, "warmup_steps": config.committee.warmup_steps,
                });
                served.get_or_insert(trained);
                runs.push(MethodRun { method: "DiverseDistill".into(), seed, result: r, extra });
            }
            DistillMode::Talking => {
                let teacher = match &config.talking.teacher {
                    Some(name) => teachers.iter().find(|t| t.name() == name.as_str()).context("[talking] teacher not found")?,
                    None => &teachers[0],
                };
                for mode in [TransferMode::Output, TransferMode::Feature, TransferMode::Talking] {
                    announce(mode.name());
                    let mut objective = TalkingObjective::new(
                        mode, teacher.as_ref(), dataset, &row_of, width, config.talking.clone(), &Device::default().autodiff(),
                    );
                    let module_parameters = objective.module_parameters();
                    let (r, trained) = pipeline::fit_and_evaluate(&student.model, &train, dataset, split, true, &mut objective)?;
                    if mode == TransferMode::Talking {
                        served.get_or_insert(trained);
                    }
                    let extra = json!({"teacher": teacher.name(), "teacher_passes": objective.teacher_passes, "module_parameters": module_parameters});
                    runs.push(MethodRun { method: mode.name().into(), seed, result: r, extra });
                }
                extras["talking_teacher"] = json!(teacher.name());
            }
            _ => {}
        }
    }

    // Gap closed, against the best teacher on the test rows.
    let student_params = runs[0].result.parameters;
    for t in teacher_rows.iter_mut() {
        let p = t["parameters"].as_f64().unwrap_or(f64::NAN);
        t["compression_ratio"] = json!(p / student_params as f64);
    }
    let best_teacher_auc = teacher_rows.iter().map(|t| t["test"]["auc"].as_f64().unwrap_or(f64::NAN)).fold(f64::NAN, f64::max);
    let serving = serving_check(plain.as_ref(), served.as_ref(), dataset, &split.test);
    extras["offline_label_passes"] = json!(offline_passes);
    Ok(json!({
        "teachers": teacher_rows,
        "student": {"name": student.name, "model": student.model.name(), "parameters": student_params},
        "best_teacher_test_auc": best_teacher_auc,
        "methods": summarise(&runs, best_teacher_auc),
        "runs": runs_json(&runs),
        "serving": serving,
        "extras": extras,
    }))
}

/// The served student after a training-only module: same parameter count and latency as the plain student.
fn serving_check(plain: Option<&TrainedModel>, served: Option<&TrainedModel>, dataset: &Dataset, rows: &[usize]) -> Value {
    let (Some(plain), Some(served)) = (plain, served) else { return Value::Null };
    let latency = |m: &TrainedModel| serving_latency(&m.model, &m.store, dataset, rows, 256, 200, &Device::default());
    // Warm once, then measure both.
    let _ = latency(plain);
    let (a, b) = (latency(plain), latency(served));
    json!({
        "plain_parameters": plain.num_parameters(), "served_parameters": served.num_parameters(),
        "plain_dense_parameters": plain.model.num_params(), "served_dense_parameters": served.model.num_params(),
        "batch": 256, "calls": 200,
        "plain_p50_ms": a.p50_ms, "plain_p99_ms": a.p99_ms, "served_p50_ms": b.p50_ms, "served_p99_ms": b.p99_ms,
    })
}

fn runs_json(runs: &[MethodRun]) -> Value {
    Value::Array(
        runs.iter()
            .map(|r| json!({"method": r.method, "seed": r.seed, "result": r.result, "extra": r.extra}))
            .collect(),
    )
}

/// Mean ± std per method over seeds, and gap closed = (KD − alone) / (best teacher − alone).
fn summarise(runs: &[MethodRun], best_teacher_auc: f64) -> Value {
    let mut methods: Vec<&str> = Vec::new();
    for r in runs {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let alone: Vec<f64> = runs.iter().filter(|r| r.method == "no KD").map(|r| r.result.test.auc).collect();
    let (alone_auc, _) = mean_std(&alone);
    Value::Array(
        methods
            .iter()
            .map(|m| {
                let rs: Vec<&MethodRun> = runs.iter().filter(|r| r.method == *m).collect();
                let stat = |f: &dyn Fn(&MethodRun) -> f64| {
                    let (mean, std) = mean_std(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
                    json!({"mean": mean, "std": std})
                };
                let auc = mean_std(&rs.iter().map(|r| r.result.test.auc).collect::<Vec<_>>()).0;
                json!({
                    "method": m, "seeds": rs.len(), "parameters": rs[0].result.parameters,
                    "test_auc": stat(&|r| r.result.test.auc), "test_logloss": stat(&|r| r.result.test.logloss),
                    "valid_auc": stat(&|r| r.result.valid.auc), "train_seconds": stat(&|r| r.result.train_seconds),
                    "gap_closed": (auc - alone_auc) / (best_teacher_auc - alone_auc),
                    "extra": rs[0].extra,
                })
            })
            .collect(),
    )
}

/// LEVI: rows × {in-distribution, out-of-distribution} test AUC / logloss.
fn levi(config: &DistillConfig, out: &Path, dataset: &Dataset, windows: &Windows, student: &StudentSection) -> Result<Value> {
    let spec = &config.teachers[0];
    let (pretrained, seconds) = zoo_teacher(spec, config, out, dataset, windows)?;
    match &config.levi.target_schema {
        None => levi_on(config, student, &pretrained, seconds, dataset, &windows.student.train, &windows.student.test, None),
        Some(path) => {
            let (target, split, name) = transfer_target(path, dataset)?;
            let rows = &split.train[split.train.len().saturating_sub(config.data.max_student_rows.unwrap_or(usize::MAX))..];
            levi_on(config, student, &pretrained, seconds, &target, rows, &split.test, Some(name))
        }
    }
}

/// The transfer target: `schema`'s dataset encoded with the pre-trained dataset's encoder (so
/// the frozen model reads it with its own tables; target-only tokens map to the unknown row),
/// its split, and its name.
fn transfer_target(schema_path: &Path, source: &Dataset) -> Result<(Dataset, Split, String)> {
    let schema = recforge_data::Schema::from_toml_file(schema_path)
        .with_context(|| format!("reading [levi] target_schema {}", schema_path.display()))?;
    let encoder = source.encoder().context("the pre-trained dataset has no fitted encoder")?;
    if !schema.source.path.exists() {
        anyhow::bail!(
            "[levi] target_schema {}: {} is missing (for the ML-100K transfer run `recforge data align-ml100k` first)",
            schema_path.display(),
            schema.source.path.display()
        );
    }
    let options = recforge_data::PrepareOptions::new(recforge_data::paths::prepared_cache_dir());
    let target = recforge_data::encode_file(&schema, encoder, &schema.source.path, &options)
        .with_context(|| format!("encoding {} with {}'s encoder", schema.source.path.display(), source.meta.name))?;
    let split = target.split(&schema.split)?;
    let known = |name: &str| target.categorical(name).map(|ids| ids.iter().filter(|&&id| id != 0).count() as f64 / ids.len().max(1) as f64);
    eprintln!(
        "LEVI transfer target {}: {} rows; known to the pre-trained vocabulary: items {:.1}%, users {:.1}%",
        schema.name,
        target.len(),
        100.0 * known(source.meta.item_feature.as_deref().unwrap_or("item_id")).unwrap_or(0.0),
        100.0 * known(source.meta.user_feature.as_deref().unwrap_or("user_id")).unwrap_or(0.0),
    );
    Ok((target, split, schema.name))
}

/// LEVI's rows (pre-trained as is, small model, head-only, LEVI, full fine-tuning) on the
/// time-ordered task rows `rows` of `dataset`; `later` rows are the time-shift OOD test.
#[allow(clippy::too_many_arguments)]
fn levi_on(
    config: &DistillConfig,
    student: &StudentSection,
    pretrained: &TrainedModel,
    seconds: f64,
    dataset: &Dataset,
    rows: &[usize],
    later: &[usize],
    transfer_to: Option<String>,
) -> Result<Value> {
    let spec = &config.teachers[0];
    // Task split: the student window minus its newest `id_holdout`, which validates (first
    // half) and tests in distribution (second half). OOD: the schema's later test rows (time
    // shift) or, with `held_out_genres`, those genres' rows of the held-out span (genre shift).
    let levi_options = &config.levi;
    let shifted = if levi_options.held_out_genres.is_empty() {
        None
    } else {
        Some(rows_with_values(dataset, &levi_options.genre_feature, &levi_options.held_out_genres)?)
    };
    let is_shifted = |r: usize| shifted.as_ref().is_some_and(|s| s[r]);
    let LeviSplit { task, ood } = levi_split(
        rows,
        later,
        levi_options.id_holdout,
        shifted.as_ref().map(|_| &is_shifted as &dyn Fn(usize) -> bool),
    );
    let ood = &ood;
    let shift = if let Some(target) = &transfer_to {
        format!("transfer to {target}; time: its later test rows")
    } else if levi_options.held_out_genres.is_empty() {
        "time: the schema's later test rows".to_string()
    } else {
        format!("genres {} of the held-out span, never in the task", levi_options.held_out_genres.join(", "))
    };
    eprintln!("LEVI: task {} rows, ID valid {}, ID test {}, OOD test {} ({shift})", task.train.len(), task.valid.len(), task.test.len(), ood.len());
    let eval_batch = student.train.eval_batch_size;
    let metrics = |p: &[f32], r: &[usize]| EvalMetrics::of(p, &labels_of(dataset, r));
    let eval_model = |m: &TrainedModel| {
        let id = recforge_train::predict(&m.model, &m.store, dataset, &task.test, eval_batch, &Device::default());
        let od = recforge_train::predict(&m.model, &m.store, dataset, ood, eval_batch, &Device::default());
        (metrics(&id, &task.test), metrics(&od, ood))
    };
    let mut runs: Vec<(String, u64, EvalMetrics, EvalMetrics, usize, f64)> = Vec::new();
    let (id, od) = eval_model(pretrained);
    runs.push(("pre-trained, no fine-tuning".into(), 0, id, od, 0, 0.0));
    let frozen = FrozenModel::new(pretrained.clone(), dataset, config.levi.layers)?;
    let width = pipeline::student_width(&student.model, &student.train, dataset, &task)?;
    for &seed in &config.seeds {
        let train = TrainConfig { seed, ..student.train.clone() };
        eprintln!("== LEVI rows · seed {seed} ==");
        let started = Instant::now();
        let (r, small) = pipeline::train_student(&student.model, &train, KdMode::None, &student.kd, &[], &HashMap::new(), 0, dataset, &task, true)?;
        let (id, od) = eval_model(&small);
        runs.push(("small model from scratch".into(), seed, id, od, r.parameters, started.elapsed().as_secs_f64()));

        for head_only in [true, false] {
            let started = Instant::now();
            let device = Device::default().autodiff();
            let mut objective = LeviObjective::new(&frozen, dataset, width, head_only, config.levi.clone(), &device);
            let (_, g) = pipeline::fit_and_evaluate(&student.model, &train, dataset, &task, true, &mut objective)?;
            let id = metrics(&objective.predict(&g, &task.test, eval_batch), &task.test);
            let od = metrics(&objective.predict(&g, ood, eval_batch), ood);
            let name = if head_only { "head-only fine-tuning" } else { "LEVI (frozen layers + small model)" };
            let trainable = if head_only { objective.adapters().map_or(0, |a| a.num_params()) } else { g.num_parameters() + objective.adapters().map_or(0, |a| a.num_params()) };
            runs.push((name.into(), seed, id, od, trainable, started.elapsed().as_secs_f64()));
        }

        let started = Instant::now();
        let steps = task.train.len().div_ceil(spec.train.batch_size.max(1));
        let ft_train = TrainConfig { seed, ..spec.train.clone() };
        let tuned = fine_tune(pretrained.clone(), &ft_train, dataset, &task, steps, crate::progress::console())?;
        let (id, od) = eval_model(&tuned);
        runs.push(("full fine-tuning of the pre-trained model".into(), seed, id, od, tuned.num_parameters(), started.elapsed().as_secs_f64()));
    }
    let mut names: Vec<String> = Vec::new();
    for r in &runs {
        if !names.contains(&r.0) {
            names.push(r.0.clone());
        }
    }
    let rows_json: Vec<Value> = names
        .iter()
        .map(|n| {
            let rs: Vec<_> = runs.iter().filter(|r| &r.0 == n).collect();
            let stat = |f: &dyn Fn(&(String, u64, EvalMetrics, EvalMetrics, usize, f64)) -> f64| {
                let (mean, std) = mean_std(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
                json!({"mean": mean, "std": std})
            };
            json!({
                "method": n, "seeds": rs.len(), "trainable_parameters": rs[0].4,
                "id_auc": stat(&|r| r.2.auc), "id_logloss": stat(&|r| r.2.logloss),
                "ood_auc": stat(&|r| r.3.auc), "ood_logloss": stat(&|r| r.3.logloss),
                "seconds": stat(&|r| r.5),
            })
        })
        .collect();
    Ok(json!({
        "pretrained": {"name": spec.name, "model": spec.model.name(), "parameters": pretrained.num_parameters(), "train_seconds": seconds, "layers_read": config.levi.layers},
        "student": {"name": student.name, "model": student.model.name()},
        "shift": shift, "transfer_to": transfer_to, "task_rows": task.train.len(), "id_valid_rows": task.valid.len(), "id_test_rows": task.test.len(), "ood_test_rows": ood.len(),
        "levi": config.levi,
        "rows": rows_json,
    }))
}
