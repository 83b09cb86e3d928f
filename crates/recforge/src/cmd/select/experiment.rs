//! `recforge select corpus` and `recforge select experiment`: the mixed corpus with
//! provenance, and the sampler × fraction grid of small-LM trainings with its table, plot
//! and HTML report (the use cases are recforge-select's `corpus` and `experiment`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use recforge_select::corpus::{CorpusConfig, write_corpus};
use recforge_select::experiment::{ExperimentConfig, run_experiment_dir};
use recforge_select::lm::{ByteLmConfig, LmTrainConfig};

use recforge_data::paths::data_dir;

#[derive(clap::Args)]
pub struct CorpusArgs {
    /// Folder of the text packages (default: DATA/text).
    #[arg(long, alias = "data")]
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
    let s = write_corpus(&text, &args.out, &config).with_context(|| format!("building the corpus from {} (run scripts/fetch-data.sh?)", text.display()))?;
    println!("pool: {} documents → {}", s.pool, s.pool_path.display());
    for ((source, genre), n) in &s.counts {
        println!("  {source:8} {genre:16} {n}");
    }
    println!("held out: {} documents ({} Brown, {} Wikipedia chunks), {} bytes → {}", s.heldout, s.heldout_brown, s.heldout_wiki, s.heldout_bytes, s.heldout_path.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct ExperimentArgs {
    /// Folder with corpus.jsonl and heldout.jsonl (from `recforge select corpus`); results go
    /// to DIR/experiment/.
    #[arg(long, alias = "data", default_value = "runs/select")]
    pub dir: PathBuf,
    /// Whole-run score files (OUT.scores.jsonl from `recforge select --data DIR/corpus.jsonl`)
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
    #[arg(long = "batch-size", alias = "batch", default_value_t = 16)]
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

pub fn run_experiment(args: ExperimentArgs) -> Result<()> {
    let lm = ByteLmConfig::new().with_context(args.context).with_d_model(args.d_model).with_layers(args.layers);
    let config = ExperimentConfig {
        fractions: args.fractions.clone(),
        seeds: args.seeds.clone(),
        train: LmTrainConfig { steps: args.steps, batch: args.batch, lr: args.lr, seed: 0 },
        selection_seed: args.selection_seed,
    };
    let result = run_experiment_dir(&args.dir, &args.scores, &lm, &config, crate::progress::console())?;
    let out = args.dir.join("experiment");
    result.write(&out)?;
    println!("{}\n\n{}", result.setup, result.markdown_table());
    println!("\n→ {}/{{results.json,table.md,perplexity.svg,report.html}}", out.display());
    Ok(())
}
