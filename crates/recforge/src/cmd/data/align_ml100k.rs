//! `recforge data align-ml100k`: MovieLens-100K rewritten in MovieLens-1M's vocabulary
//! (`recforge_data::align`), for the LEVI transfer from an ML-1M model.

use std::path::PathBuf;

use anyhow::Result;
use recforge_data::align::{STEM, align};
use recforge_data::paths;

#[derive(clap::Args)]
pub struct Args {
    /// Folder of the RecBole ML-100K files (default $RECFORGE_DATA/ml-100k).
    #[arg(long)]
    ml100k: Option<PathBuf>,
    /// Folder of the RecBole ML-1M files, whose item ids are matched (default $RECFORGE_DATA/ml-1m).
    #[arg(long)]
    ml1m: Option<PathBuf>,
    /// Output folder (default $RECFORGE_DATA/ml-100k-ml1m).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the match counts as JSON (and nothing else) on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let data = paths::data_dir();
    let out = args.out.unwrap_or_else(|| data.join(STEM));
    let report = align(&args.ml100k.unwrap_or_else(|| data.join("ml-100k")), &args.ml1m.unwrap_or_else(|| data.join("ml-1m")), &out)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "wrote {}/{STEM}.{{inter,user,item}}: {} of {} items ({:.1}%) and {} of {} ratings ({:.1}%) matched ML-1M ids; {} users",
        out.display(),
        report.items_matched,
        report.items,
        100.0 * report.item_share(),
        report.ratings_matched,
        report.ratings,
        100.0 * report.rating_share(),
        report.users
    );
    Ok(())
}
