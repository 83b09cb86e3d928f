//! `recforge llm baselines`: popularity, SASRec and a retrieval-zoo MUR run on the LLM
//! evaluation users ([`recforge_llmrec::pipelines::baselines`]).

use std::path::PathBuf;

use anyhow::Result;
use recforge_llmrec::eval_set::{EVAL_SEED, EVAL_USERS};
use recforge_llmrec::pipelines::baselines::{BaselineConfig, markdown, run_baselines};
use recforge_train::sasrec::SasRecTrainConfig;

#[derive(clap::Args)]
pub struct Args {
    /// Dataset of the catalogue, the training split and (without --eval-set) the sample:
    /// `ml-1m`, `ml-100k` (or `ml1m`, `ml100k`), or a schema TOML.
    #[arg(long, default_value = "ml-1m")]
    dataset: String,
    /// The evaluation sample (JSONL of `recforge_llmrec::EvalUser`); default: the fixed sample
    /// (`--eval-users` users, seed 8) drawn afresh.
    #[arg(long)]
    eval_set: Option<PathBuf>,
    /// Users in the default sample.
    #[arg(long, default_value_t = EVAL_USERS)]
    eval_users: usize,
    /// A `recforge retrieval-zoo` model folder (e.g. runs/retrieval-zoo-ml1m/mur) to add as the
    /// multi-interest row.
    #[arg(long)]
    mur_run: Option<PathBuf>,
    /// Output folder: results.json, table.md, and the SASRec model (sasrec.bpk, sasrec.json),
    /// which later runs reuse unless --retrain.
    #[arg(long, default_value = "runs/llm-baselines")]
    out: PathBuf,
    /// Train SASRec again even if the output folder holds one.
    #[arg(long)]
    retrain: bool,
    /// SASRec maximum epochs (early stopping on validation NDCG@10, patience 3).
    #[arg(long, default_value_t = 20)]
    sasrec_epochs: usize,
    /// SASRec embedding width.
    #[arg(long, default_value_t = 50)]
    sasrec_dim: usize,
    /// SASRec history length.
    #[arg(long, default_value_t = 50)]
    sasrec_max_len: usize,
    /// SASRec users per training step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print results.json on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let config = BaselineConfig {
        dataset: args.dataset,
        eval_set: args.eval_set,
        eval_users: args.eval_users,
        eval_seed: EVAL_SEED,
        mur_run: args.mur_run,
        out: args.out,
        retrain: args.retrain,
        sasrec: SasRecTrainConfig {
            dim: args.sasrec_dim,
            max_len: args.sasrec_max_len,
            epochs: args.sasrec_epochs,
            batch_size: args.batch_size,
            seed: args.seed,
            ..SasRecTrainConfig::default()
        },
    };
    let results = run_baselines(&config, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{}", markdown(&results));
        println!("wrote {}/results.json and table.md", config.out.display());
    }
    Ok(())
}
