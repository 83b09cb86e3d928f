//! `recforge retrieve RUN_DIR --user ID -k 10`: the top-K items for a user's history (or for
//! an explicit list of item ids), from a run directory written by `recforge train` with a
//! sequential config (sur, mur, sasrec, bpr, ease) or by `recforge retrieval-zoo`
//! ([`recforge_train::retrieval::RetrievalRun::recommend`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use recforge_train::retrieval::RetrievalRun;
use recforge_train::retrieval::run::Query;

#[derive(ClapArgs)]
pub struct Args {
    /// A retrieval run directory (e.g. runs/ml1m_mur or runs/retrieval-zoo-ml1m/mur-idw-cal).
    run_dir: PathBuf,
    /// Original user id whose whole recorded history is the query.
    #[arg(long, required_unless_present = "history")]
    user: Option<String>,
    /// Comma-separated original item ids, oldest first, used instead of a stored user.
    #[arg(long, value_delimiter = ',', conflicts_with = "user")]
    history: Option<Vec<String>>,
    /// How many items to return.
    #[arg(short, long, alias = "limit", default_value_t = 10)]
    k: usize,
    /// Print JSON (model, history_len, items with item and score) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let run = RetrievalRun::load(&args.run_dir)
        .with_context(|| format!("loading the retrieval run {} (written by recforge train with a configs/retrieval/ config, or recforge retrieval-zoo)", args.run_dir.display()))?;
    let query = match (args.user, args.history) {
        (Some(user), _) => Query::User(user),
        (None, Some(items)) => Query::Items(items),
        (None, None) => anyhow::bail!("give --user ID or --history ITEM,ITEM,..."),
    };
    let found = run.recommend(&query, args.k)?;
    if args.json {
        println!("{}", serde_json::to_string(&found)?);
        return Ok(());
    }
    println!("{} ({}), history of {} items; top {}:", found.model, run.info.dataset, found.history_len, found.items.len());
    for (rank, hit) in found.items.iter().enumerate() {
        println!("{:>3}. {:<50} {:.4}", rank + 1, hit.item, hit.score);
    }
    Ok(())
}
