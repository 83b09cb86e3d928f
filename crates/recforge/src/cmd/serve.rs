//! `recforge serve --bandit CONFIG [--retrieval RUN_DIR] [--ranker MODEL_DIR]`: the Online
//! Matching bandit, multi-interest retrieval and/or a ranking model over HTTP (recforge-serve).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;
use recforge_serve::{SearchIndex, ServeConfig, ServeOverrides};

#[derive(ClapArgs)]
pub struct Args {
    /// The service config (TOML: listen, store, token, model or items + clusters, k, policy,
    /// alpha, lambda, epsilon, ts_scale, request_ttl_s, max_body_bytes, reward_range,
    /// snapshot_every/_bytes/_age_s, max_live_requests, read_token_env, write_token_env,
    /// header_read_timeout_s, request_timeout_s, max_in_flight, max_connections, a [limits]
    /// table, an optional [retrieval] table with run, index, ef, max_history, max_k and an optional [ranker] table
    /// with dir, max_rows; see docs/http-api.md).
    #[arg(long, required_unless_present_any = ["retrieval", "ranker"])]
    bandit: Option<PathBuf>,
    /// Override a config value, e.g. `--set alpha=0.3` or `--set retrieval.ef=128` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Serve POST /v1/retrieve from this retrieval run directory (written by
    /// `recforge train` on a sequential config, or `recforge retrieval-zoo`); overrides the config's [retrieval] run.
    #[arg(long)]
    retrieval: Option<PathBuf>,
    /// Serve POST /v1/score from this ranking model folder (written by `recforge train`), or
    /// from the sub-folder its CURRENT file names (hot-reloaded when CURRENT changes).
    #[arg(long)]
    ranker: Option<PathBuf>,
    /// Top-K search for /v1/retrieve: auto (exact up to 20,000 items; above, usearch at the smallest
    /// ef reaching recall@10 0.95 on the catalogue, else exact), exact (every item scored), or
    /// hnsw / usearch (approximate graph search at the config's ef).
    #[arg(long, value_parser = ["auto", "exact", "hnsw", "usearch"])]
    index: Option<String>,
    /// Override the config's listen address (e.g. a second replica's port).
    #[arg(long)]
    listen: Option<String>,
    /// Override the config's store URL (file://DIR, redis://HOST:PORT or redis+cluster://HOST:PORT[,HOST:PORT…]).
    #[arg(long)]
    store: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let index = args.index.as_deref().map(|i| match i {
        "hnsw" => SearchIndex::Hnsw,
        "usearch" => SearchIndex::Usearch,
        "exact" => SearchIndex::Exact,
        _ => SearchIndex::Auto,
    });
    let cli = ServeOverrides { retrieval: args.retrieval, ranker: args.ranker, index, listen: args.listen, store: args.store };
    let config = ServeConfig::assemble(args.bandit.as_deref(), &args.set, cli)?;
    recforge_serve::run_until_ctrl_c(config)?;
    Ok(())
}
