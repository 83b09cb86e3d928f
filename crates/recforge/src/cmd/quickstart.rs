//! `recforge quickstart`: fetch MovieLens-1M if missing, train LR and an MLP on it as a CTR task,
//! test both, write `runs/quickstart/` (`recforge_train::quickstart`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;

#[derive(ClapArgs)]
pub struct Args {
    /// Where to write the run.
    #[arg(long, default_value = "runs/quickstart")]
    out: PathBuf,
    /// Override the number of epochs (default: the config's).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the two runs' metrics as JSON only.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let results = recforge_train::quickstart::quickstart(&args.out, args.epochs, args.seed, crate::progress::console())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!("\nMovieLens-1M CTR (label = rating >= 4), test split:");
    println!("{:<6} {:>8} {:>9} {:>14} {:>12}", "model", "AUC", "logloss", "train ex/s", "parameters");
    for m in &results {
        println!("{:<6} {:>8.4} {:>9.4} {:>14.0} {:>12}", m.model, m.auc, m.logloss, m.train_examples_per_sec, m.parameters);
    }
    println!("\nreport: {}", args.out.join("report.html").display());
    Ok(())
}
