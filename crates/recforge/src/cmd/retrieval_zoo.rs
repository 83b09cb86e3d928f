//! `recforge retrieval-zoo`: the multi-interest retrieval experiment of arXiv 2308.01563 on
//! one dataset — popularity, SUR, MUR, MUR + inverse-frequency weights, MUR + IDW and
//! MUR + IDW + calibration — over several seeds, with HR@{10,50,100,200} overall/head/tail
//! under full-corpus ranking and 99 sampled negatives. Writes `results.json`, `table.md`,
//! `report.html` (with tail vs head HR across IDW rounds) and, for the first seed, one
//! retrieval run directory per trained row (loadable by `recforge retrieve`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::Args as ClapArgs;
use rand::SeedableRng;
use rand::rngs::StdRng;
use recforge_data::{Dataset, Schema};
use recforge_models::layers::seed_dropout;
use recforge_models::retrieval::idw::{IdwConfig, example_weights, uniform_weights};
use recforge_models::retrieval::{RetrievalModel, RetrievalModelConfig};
use recforge_train::metrics::mean_std;
use recforge_train::retrieval::run::{ItemVectors, RetrievalRunInfo, save_run};
use recforge_train::retrieval::{
    EvalSplit, IdwRound, RetrievalData, RetrievalMetrics, RetrievalTrainConfig, Selection, Stage, evaluate_model,
    evaluate_popularity, run_idw, train_stage,
};
use serde::{Deserialize, Serialize};


const ML1M: &str = include_str!("../../../../configs/data/ml1m_seq.toml");
const ML100K: &str = include_str!("../../../../configs/data/ml100k_seq.toml");

/// The experiment's rows, in table order.
pub const ROWS: [&str; 6] = ["popularity", "sur", "mur", "mur-invfreq", "mur-idw", "mur-idw-cal"];

#[derive(ClapArgs)]
pub struct Args {
    /// `ml1m`, `ml100k`, or a schema TOML declaring user, item, timestamp and item-side features.
    #[arg(long)]
    dataset: String,
    /// Training seeds (comma-separated); the data split and evaluation negatives do not move.
    #[arg(long, value_delimiter = ',', default_value = "42,43,44")]
    seeds: Vec<u64>,
    /// Output folder (default runs/retrieval-zoo-<dataset>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Maximum epochs of the first training of each model (early stopping on valid HR@200).
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Maximum epochs of each IDW retraining and of calibration.
    #[arg(long, default_value_t = 5)]
    stage_epochs: usize,
    /// Epochs without validation improvement before a stage stops.
    #[arg(long, default_value_t = 2)]
    patience: usize,
    /// At most this many training targets per user per epoch, redrawn each epoch (default all).
    #[arg(long)]
    max_examples_per_user: Option<usize>,
    /// Softmax temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Embedding / user vector width d.
    #[arg(long, default_value_t = 8)]
    dim: usize,
    /// Number of user vectors H of MUR.
    #[arg(long, default_value_t = 3)]
    interests: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Weight of the head-disagreement loss (0 = off).
    #[arg(long, default_value_t = 0.0)]
    disagreement: f64,
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
    /// Train nothing: rewrite table.md and report.html from the results.json already in the
    /// output folder (e.g. of an interrupted run; rows cover the seeds that finished).
    #[arg(long)]
    report_only: bool,
}

/// One row's test metrics for one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowResult {
    pub row: String,
    pub seed: u64,
    pub test: RetrievalMetrics,
    pub seconds: f64,
}

/// Everything `results.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZooResults {
    pub dataset: String,
    pub config: RetrievalTrainConfig,
    pub interests: usize,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    pub results: Vec<RowResult>,
    /// Per seed, the IDW rounds (validation head/tail HR@200).
    pub idw_rounds: BTreeMap<u64, Vec<IdwRound>>,
}

pub(crate) fn load_schema(dataset: &str) -> Result<(String, Schema)> {
    let base = Path::new(".");
    match dataset {
        "ml1m" => Ok(("ml1m".into(), Schema::from_toml_str(ML1M, base)?)),
        "ml100k" => Ok(("ml100k".into(), Schema::from_toml_str(ML100K, base)?)),
        path => {
            let path = Path::new(path);
            if !path.exists() {
                bail!("--dataset {}: expected ml1m, ml100k or a schema TOML file", path.display());
            }
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
            Ok((name, Schema::from_toml_file(path).with_context(|| format!("reading {}", path.display()))?))
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.seeds.is_empty() {
        bail!("--seeds: give at least one seed");
    }
    let (name, schema) = load_schema(&args.dataset)?;
    if args.report_only {
        let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/retrieval-zoo-{name}")));
        let path = out.join("results.json");
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let results: ZooResults = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
        return write_tables(&out, &results);
    }
    let (dataset, _) = recforge_data::prepare(&schema, &recforge_data::TaskOptions::default().prepare_options(crate::progress::console()))?;
    let config = RetrievalTrainConfig {
        epochs: args.epochs,
        stage_epochs: args.stage_epochs,
        patience: args.patience,
        max_examples_per_user: args.max_examples_per_user,
        temperature: args.temperature,
        dim: args.dim,
        lr: args.lr,
        disagreement: args.disagreement,
        ..RetrievalTrainConfig::default()
    };
    let data = RetrievalData::from_dataset(&dataset, &config)?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/retrieval-zoo-{name}")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    println!(
        "{name}: {} users, {} items, {} interactions after {}-core; {} training targets",
        data.sequences.users.len(),
        data.sequences.train_counts.iter().filter(|&&c| c > 0).count(),
        data.sequences.interactions(),
        config.min_interactions,
        data.sequences.train_examples().len()
    );
    let mut results = ZooResults {
        dataset: name.clone(),
        config: config.clone(),
        interests: args.interests,
        users: data.sequences.users.len(),
        items: data.sequences.num_items,
        interactions: data.sequences.interactions(),
        results: Vec::new(),
        idw_rounds: BTreeMap::new(),
    };
    let popularity = evaluate_popularity(&data, EvalSplit::Test);
    for &seed in &args.seeds {
        results.results.push(RowResult { row: "popularity".into(), seed, test: popularity.clone(), seconds: 0.0 });
    }
    let run_context = RunContext { dataset: &dataset, data: &data, name: &name, out: &out, first_seed: args.seeds[0] };
    for &seed in &args.seeds {
        let config = RetrievalTrainConfig { seed, ..config.clone() };
        let ones = vec![1f32; data.sequences.num_items];
        let inverse = example_weights(&uniform_weights(&data.sequences.train_counts), &data.sequences.train_counts);
        let mut rng = StdRng::seed_from_u64(seed);
        for (row, interests, weights) in [("sur", 1, &ones), ("mur", args.interests, &ones), ("mur-invfreq", args.interests, &inverse)] {
            let started = Instant::now();
            let model = fresh_model(&data, &config, interests);
            let stage = Stage {
                name: format!("{row} s{seed}"),
                example_weights: weights,
                lr: config.lr,
                max_epochs: config.epochs,
                freeze_items: false,
                selection: Selection::Overall,
            };
            let (model, _) = train_stage(model, &data, &config, &stage, &mut rng, !args.quiet)?;
            let seconds = started.elapsed().as_secs_f64();
            record(&mut results, &run_context, row, seed, &model, &config, seconds)?;
            if row == "mur" {
                let started = Instant::now();
                let outcome = run_idw(model, &data, &config, &IdwConfig::default(), !args.quiet)?;
                let seconds = started.elapsed().as_secs_f64();
                record(&mut results, &run_context, "mur-idw", seed, &outcome.idw, &config, seconds)?;
                record(&mut results, &run_context, "mur-idw-cal", seed, &outcome.calibrated, &config, seconds)?;
                results.idw_rounds.insert(seed, outcome.rounds);
            }
            write_results(&out, &results)?;
        }
    }
    write_tables(&out, &results)
}

fn write_tables(out: &Path, results: &ZooResults) -> Result<()> {
    let table = markdown_tables(results);
    std::fs::write(out.join("table.md"), &table)?;
    std::fs::write(out.join("report.html"), crate::retrieval_report::render(results, &table))?;
    println!("{table}");
    println!("wrote {}/results.json, table.md, report.html", out.display());
    Ok(())
}

struct RunContext<'a> {
    dataset: &'a Dataset,
    data: &'a RetrievalData,
    name: &'a str,
    out: &'a Path,
    first_seed: u64,
}

fn fresh_model(data: &RetrievalData, config: &RetrievalTrainConfig, interests: usize) -> RetrievalModel {
    let device = Device::default().autodiff();
    device.seed(config.seed);
    seed_dropout(config.seed);
    RetrievalModelConfig::new_default(&data.items, interests, config.dim).init(&device)
}

/// Evaluates `model` on the test targets, stores the row, and saves a run directory for the
/// first seed.
fn record(
    results: &mut ZooResults,
    ctx: &RunContext,
    row: &str,
    seed: u64,
    model: &RetrievalModel,
    config: &RetrievalTrainConfig,
    seconds: f64,
) -> Result<()> {
    let plain = Device::default();
    let model = model.valid();
    let test = evaluate_model(&model, ctx.data, EvalSplit::Test, config.seq_len, &plain);
    println!(
        "{row:<12} seed {seed}: test HR@200 full {:.4} (head {:.4}, tail {:.4}) · sampled HR@10 {:.4} · {seconds:.0}s",
        test.full.get("overall", 200),
        test.full.get("head", 200),
        test.full.get("tail", 200),
        test.sampled.get("overall", 10)
    );
    results.results.push(RowResult { row: row.into(), seed, test, seconds });
    if seed == ctx.first_seed {
        save_model_run(ctx, row, seed, &model, config)?;
    }
    Ok(())
}

fn save_model_run(ctx: &RunContext, row: &str, seed: u64, model: &RetrievalModel, config: &RetrievalTrainConfig) -> Result<()> {
    let plain = Device::default();
    let encoder = ctx.dataset.encoder().context("the prepared dataset carries no encoder")?;
    let vocab = |feature: Option<&str>| feature.and_then(|f| encoder.vocab(f));
    let items_vocab = vocab(ctx.dataset.meta.item_feature.as_deref()).context("no item vocabulary")?;
    let users_vocab = vocab(ctx.dataset.meta.user_feature.as_deref()).context("no user vocabulary")?;
    let items: Vec<String> =
        (0..ctx.data.sequences.num_items as u32).map(|i| items_vocab.token(i).unwrap_or("").to_string()).collect();
    let histories: BTreeMap<String, Vec<u32>> = ctx
        .data
        .sequences
        .users
        .iter()
        .zip(&ctx.data.sequences.histories)
        .map(|(&u, h)| (users_vocab.token(u).unwrap_or("").to_string(), h.clone()))
        .collect();
    let vectors = model.all_item_vectors(&ctx.data.items, &plain);
    let [_, dim] = vectors.dims();
    let interests = model.user.queries.dims()[0];
    let info = RetrievalRunInfo {
        model: row.into(),
        dataset: ctx.name.into(),
        seed,
        seq_len: config.seq_len,
        model_config: RetrievalModelConfig::new_default(&ctx.data.items, interests, config.dim),
        items,
    };
    let item_vectors = ItemVectors { dim, vectors: vectors.into_data().try_to_vec::<f32>().unwrap_or_default() };
    save_run(&ctx.out.join(row), &info, model, &item_vectors, &histories)?;
    Ok(())
}

fn write_results(out: &Path, results: &ZooResults) -> Result<()> {
    let text = serde_json::to_string_pretty(results)?;
    std::fs::write(out.join("results.json"), text).with_context(|| format!("writing {}/results.json", out.display()))
}

/// Two markdown tables (full corpus, sampled negatives): rows × HR@K overall/head/tail.
pub fn markdown_tables(results: &ZooResults) -> String {
    let mut md = format!(
        "{}: {} users, {} interactions; seeds {:?}; d = {}, H = {}, τ = {}; mean ± std over seeds\n",
        results.dataset,
        results.users,
        results.interactions,
        results.idw_rounds.keys().collect::<Vec<_>>(),
        results.config.dim,
        results.interests,
        results.config.temperature
    );
    // With 100 candidates HR@100 and HR@200 are 1 by construction: the sampled table stops at 50.
    for (protocol, title, ks) in [
        ("full", "full-corpus ranking", &recforge_train::retrieval::KS[..]),
        ("sampled", "target + 99 popularity-sampled negatives", &recforge_train::retrieval::KS[..2]),
    ] {
        md += &format!("\n**{title}** (test)\n\n| model | seeds |");
        for k in ks {
            md += &format!(" HR@{k} | head | tail |");
        }
        md += "\n|---|---|";
        md += &"---|".repeat(3 * ks.len());
        md += "\n";
        for row in ROWS {
            let rows: Vec<&RowResult> = results.results.iter().filter(|r| r.row == row).collect();
            if rows.is_empty() {
                continue;
            }
            md += &format!("| {row} | {} |", rows.len());
            for &k in ks {
                for group in ["overall", "head", "tail"] {
                    let values: Vec<f64> = rows
                        .iter()
                        .map(|r| if protocol == "full" { r.test.full.get(group, k) } else { r.test.sampled.get(group, k) })
                        .collect();
                    let (m, s) = mean_std(&values);
                    md += &format!(" {m:.4} ± {s:.4} |");
                }
            }
            md += "\n";
        }
    }
    md
}
