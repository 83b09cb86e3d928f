//! `recforge eval RUN_DIR [--data FILE] [--split test|valid|train] [--batch-size N] [--resave]`:
//! score a saved run (`recforge_train::Run::evaluate`) and print the metrics as JSON; a
//! sequential run (`recforge_train::retrieval::evaluate_seq_run`) prints HR/Recall/NDCG@{10,50,200}
//! as a table, or as JSON with --json.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args as ClapArgs, ValueEnum};
use recforge_data::TaskOptions;
use recforge_train::retrieval::{EvalSplit, evaluate_seq_run, is_seq_run};
use recforge_train::{EvalTarget, Run};

#[derive(Clone, Copy, ValueEnum)]
enum SplitName {
    Train,
    Valid,
    Test,
}

#[derive(ClapArgs)]
pub struct Args {
    /// A run directory written by `recforge train`.
    run_dir: PathBuf,
    /// Score a new file (same columns as the training data), encoded with the run's vocabularies.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Which split of the training data to score when --data is not given.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitName,
    /// Skip malformed rows of --data (counted and reported).
    #[arg(long)]
    skip_bad_rows: bool,
    /// Examples per forward pass (default: the run's [train] eval_batch_size).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Also write the metrics JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the metrics JSON only (the default output of a ranking run is that JSON already;
    /// a sequential run prints a table without it).
    #[arg(long)]
    json: bool,
    /// Rewrite the run folder in the current self-contained format (schema, vocabularies,
    /// safetensors weights, metadata.json) from its training data, then evaluate.
    #[arg(long)]
    resave: bool,
}

pub fn run(args: Args) -> Result<()> {
    let progress = crate::progress::console();
    if is_seq_run(&args.run_dir) {
        let split = match args.split {
            SplitName::Valid => EvalSplit::Valid,
            SplitName::Test => EvalSplit::Test,
            SplitName::Train => anyhow::bail!("a sequential run is evaluated on --split valid or test (leave-one-out targets)"),
        };
        anyhow::ensure!(args.data.is_none() && !args.resave, "--data and --resave apply to ranking runs only");
        let report = evaluate_seq_run(&args.run_dir, split, progress)?;
        let json = serde_json::to_string_pretty(&report)?;
        if let Some(out) = &args.out {
            std::fs::write(out, &json).map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
        }
        if args.json { println!("{json}") } else { print!("{}", report.table()) }
        return Ok(());
    }
    let (run, task) = Run::open(&args.run_dir, &TaskOptions::default(), progress)?;
    if args.resave {
        run.save(&args.run_dir)?;
    }
    let target = match (args.data, args.split) {
        (Some(path), _) => EvalTarget::File { path, skip_bad_rows: args.skip_bad_rows },
        (None, SplitName::Train) => EvalTarget::Train,
        (None, SplitName::Valid) => EvalTarget::Valid,
        (None, SplitName::Test) => EvalTarget::Test,
    };
    let report = serde_json::to_string_pretty(&run.evaluate(&task, &target, args.batch_size, progress)?)?;
    if let Some(out) = &args.out {
        std::fs::write(out, &report).map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
    }
    println!("{report}");
    Ok(())
}
