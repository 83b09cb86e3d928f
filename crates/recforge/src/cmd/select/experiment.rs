//! `recforge select corpus` and `recforge select experiment`: the mixed corpus with
//! provenance, and the sampler × fraction grid of small-LM trainings with its table, plot
//! and HTML report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use recforge_select::corpus::{CorpusConfig, CorpusDoc, build_corpus};
use recforge_select::experiment::{ExperimentConfig, ExperimentRow, ScoredSampler, run_experiment as run_grid};
use recforge_select::input::write_jsonl;
use recforge_select::lm::{ByteLmConfig, LmTrainConfig};
use recforge_select::shard::merge_scores;

use recforge_data::paths::data_dir;
use crate::report;

#[derive(clap::Args)]
pub struct CorpusArgs {
    /// Folder of the text packages (default: DATA/text).
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// Output folder: corpus.jsonl (the pool) and heldout.jsonl.
    #[arg(long, default_value = "runs/select")]
    pub out: PathBuf,
    /// Documents are cut to this many bytes.
    #[arg(long, default_value_t = 1200)]
    pub max_bytes: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn run_corpus(args: CorpusArgs) -> Result<()> {
    let text = args.text.unwrap_or_else(|| data_dir().join("text"));
    let config = CorpusConfig { max_bytes: args.max_bytes, seed: args.seed, ..CorpusConfig::default() };
    let corpus = build_corpus(&text, &config).with_context(|| format!("building the corpus from {} (run scripts/fetch-data.sh?)", text.display()))?;
    let pool = args.out.join("corpus.jsonl");
    let held = args.out.join("heldout.jsonl");
    write_jsonl(&pool, corpus.pool.iter().map(CorpusDoc::record).collect::<Vec<_>>().iter())?;
    write_jsonl(&held, corpus.heldout.iter().map(CorpusDoc::record).collect::<Vec<_>>().iter())?;
    let mut counts = std::collections::BTreeMap::<(String, String), usize>::new();
    for d in &corpus.pool {
        *counts.entry((d.source.clone(), d.genre.clone())).or_default() += 1;
    }
    println!("pool: {} documents → {}", corpus.pool.len(), pool.display());
    for ((s, g), n) in counts {
        println!("  {s:8} {g:16} {n}");
    }
    let bytes: usize = corpus.heldout.iter().map(|d| d.text.len()).sum();
    println!("held out: {} documents ({} Brown, {} Wikipedia chunks), {bytes} bytes → {}", corpus.heldout.len(), corpus.heldout.iter().filter(|d| d.source == "brown").count(), corpus.heldout.iter().filter(|d| d.source == "wiki").count(), held.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct ExperimentArgs {
    /// Folder with corpus.jsonl and heldout.jsonl (from `recforge select corpus`); results go
    /// to DIR/experiment/.
    #[arg(long, default_value = "runs/select")]
    pub dir: PathBuf,
    /// Whole-run score files (OUT.scores.jsonl from `recforge select --input DIR/corpus.jsonl`)
    /// or every shard's files for one sampler joined with commas; `NAME=FILE[,FILE...]` names
    /// the row (default: the sampler, e.g. to tell `density-hashed=...` from `density=...`).
    #[arg(long, num_args = 1.., required = true)]
    pub scores: Vec<String>,
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.25,0.5,1.0")]
    pub fractions: Vec<f64>,
    /// LM training seeds; the table shows mean ± std over them.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub seeds: Vec<u64>,
    /// Training steps (the token budget is steps × batch × context bytes for every cell).
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    #[arg(long, default_value_t = 64)]
    pub d_model: usize,
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Seed of the inverse-propensity draws.
    #[arg(long, default_value_t = 0)]
    pub selection_seed: u64,
}

fn read_docs(path: &Path) -> Result<Vec<CorpusDoc>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{} (run `recforge select corpus` first)", path.display()))?;
    text.lines().enumerate().map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))).collect()
}

pub fn run_experiment(args: ExperimentArgs) -> Result<()> {
    let pool = read_docs(&args.dir.join("corpus.jsonl"))?;
    let heldout = read_docs(&args.dir.join("heldout.jsonl"))?;
    let mut samplers = Vec::new();
    for group in &args.scores {
        let (label, files) = match group.split_once('=') {
            Some((label, files)) => (Some(label), files),
            None => (None, group.as_str()),
        };
        let files: Vec<PathBuf> = files.split(',').map(PathBuf::from).collect();
        let (header, features) = merge_scores(&files)?;
        if features.len() != pool.len() {
            bail!("{group}: scores {} documents but the pool has {}; score {}", features.len(), pool.len(), args.dir.join("corpus.jsonl").display());
        }
        let name = label.map_or_else(|| header.sampler.clone(), str::to_string);
        if samplers.iter().any(|s: &ScoredSampler| s.name == name) {
            bail!("two score files are both named {name:?}; name them with NAME=FILE");
        }
        samplers.push(ScoredSampler { name, scores: header.scoring.scores(&features)?, selection: header.default_selection });
    }
    let lm = ByteLmConfig::new().with_context(args.context).with_d_model(args.d_model).with_layers(args.layers);
    let config = ExperimentConfig {
        fractions: args.fractions.clone(),
        seeds: args.seeds.clone(),
        train: LmTrainConfig { steps: args.steps, batch: args.batch, lr: args.lr, seed: 0 },
        selection_seed: args.selection_seed,
    };
    let bar = ProgressBar::new_spinner();
    let started = std::time::Instant::now();
    let rows = run_grid(&pool, &heldout, &samplers, &lm, &config, &mut |m| bar.set_message(m.to_string()))?;
    bar.finish_and_clear();
    let out = args.dir.join("experiment");
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    let table = markdown_table(&rows);
    let setup = format!(
        "pool {} documents, held-out {} documents ({} bytes); byte-level LM d_model {} × {} layers, context {}, {} steps × batch {} = {} training bytes per cell, seeds {:?}; {:.0}s",
        pool.len(),
        heldout.len(),
        heldout.iter().map(|d| d.text.len()).sum::<usize>(),
        args.d_model,
        args.layers,
        args.context,
        args.steps,
        args.batch,
        config.train.tokens(args.context),
        args.seeds,
        started.elapsed().as_secs_f64()
    );
    println!("{setup}\n\n{table}");
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(&serde_json::json!({"setup": setup, "rows": rows}))?)?;
    std::fs::write(out.join("table.md"), format!("{setup}\n\n{table}"))?;
    let svg = plot(&rows);
    std::fs::write(out.join("perplexity.svg"), &svg)?;
    let body = format!("<p>{}</p>{}<h2>Held-out perplexity vs kept fraction</h2>{svg}", report::escape(&setup), html_table(&rows));
    std::fs::write(out.join("report.html"), report::page("data selection", &body))?;
    println!("\n→ {}/{{results.json,table.md,perplexity.svg,report.html}}", out.display());
    Ok(())
}

fn markdown_table(rows: &[ExperimentRow]) -> String {
    let mut s = String::from("| sampler | kept | docs | held-out ppl (bytes) | spam share | genres covered | sources kept |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        let sources: Vec<String> = r.sources.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "| {} | {:.0}% | {} | {:.3} ± {:.3} | {:.1}% | {}/{} | {} |", r.sampler, r.fraction * 100.0, r.kept, r.perplexity_mean, r.perplexity_std, r.spam_share * 100.0, r.genres_covered, r.genres_total, sources.join(", "));
    }
    s
}

fn html_table(rows: &[ExperimentRow]) -> String {
    let mut s = String::from("<table><tr><th>sampler</th><th>kept</th><th>docs</th><th>held-out ppl</th><th>spam share</th><th>genres</th></tr>");
    for r in rows {
        let _ = write!(s, "<tr><td>{}</td><td>{:.0}%</td><td>{}</td><td>{:.3} ± {:.3}</td><td>{:.1}%</td><td>{}/{}</td></tr>", report::escape(&r.sampler), r.fraction * 100.0, r.kept, r.perplexity_mean, r.perplexity_std, r.spam_share * 100.0, r.genres_covered, r.genres_total);
    }
    s + "</table>"
}

/// Perplexity vs fraction per sampler; every curve ends at the shared 100% point.
fn plot(rows: &[ExperimentRow]) -> String {
    let full = rows.iter().find(|r| r.sampler == "full").map(|r| (1.0, r.perplexity_mean));
    let mut names: Vec<&str> = rows.iter().map(|r| r.sampler.as_str()).filter(|n| *n != "full").collect();
    names.dedup();
    let series: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .map(|n| {
            let mut pts: Vec<(f64, f64)> = rows.iter().filter(|r| r.sampler == *n).map(|r| (r.fraction, r.perplexity_mean)).collect();
            pts.extend(full);
            (n.to_string(), pts)
        })
        .collect();
    report::curve_chart("held-out perplexity vs kept fraction", "fraction of the pool kept", "per-byte perplexity", &series)
}
