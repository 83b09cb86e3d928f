//! `recforge retrieve RUN_DIR --user ID -k 10`: the top-K items for a user's history (or
//! for an explicit list of item ids), from a retrieval run directory written by
//! `recforge retrieval-zoo`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use recforge_train::retrieval::RetrievalRun;

#[derive(ClapArgs)]
pub struct Args {
    /// A retrieval run directory (e.g. runs/retrieval-zoo-ml1m/mur-idw-cal).
    run_dir: PathBuf,
    /// Original user id whose whole recorded history is the query.
    #[arg(long, required_unless_present = "history")]
    user: Option<String>,
    /// Comma-separated original item ids, oldest first, used instead of a stored user.
    #[arg(long, value_delimiter = ',', conflicts_with = "user")]
    history: Option<Vec<String>>,
    /// How many items to return.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let run = RetrievalRun::load(&args.run_dir)
        .with_context(|| format!("loading the retrieval run {} (written by recforge retrieval-zoo)", args.run_dir.display()))?;
    let history: Vec<u32> = match (&args.user, &args.history) {
        (Some(user), _) => match run.histories.get(user) {
            Some(h) => h.clone(),
            None => bail!("user \"{user}\" is not in {} (it has {} users)", args.run_dir.display(), run.histories.len()),
        },
        (None, Some(items)) => {
            let mut ids = Vec::new();
            for token in items {
                match run.item_id(token) {
                    Some(id) => ids.push(id),
                    None => bail!("item \"{token}\" is not in the run's item vocabulary"),
                }
            }
            ids
        }
        (None, None) => bail!("give --user ID or --history ITEM,ITEM,..."),
    };
    let hits = run.retriever.retrieve(&history, args.k);
    if args.json {
        let items: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| serde_json::json!({"item": run.item_token(h.item), "score": h.score}))
            .collect();
        println!("{}", serde_json::json!({"model": run.info.model, "history_len": history.len(), "items": items}));
        return Ok(());
    }
    println!("{} ({}), history of {} items; top {}:", run.info.model, run.info.dataset, history.len(), hits.len());
    for (rank, hit) in hits.iter().enumerate() {
        println!("{:>3}. {:<50} {:.4}", rank + 1, run.item_token(hit.item), hit.score);
    }
    Ok(())
}
