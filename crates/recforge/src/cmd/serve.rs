//! `recforge serve --bandit CONFIG [--retrieval RUN_DIR]`: the Online Matching bandit and/or
//! multi-interest retrieval over HTTP.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use recforge_serve::{AppState, RetrievalServeConfig, SearchIndex, ServeConfig};

#[derive(ClapArgs)]
pub struct Args {
    /// The service config (TOML: listen, store, token, model or items + clusters, k, alpha,
    /// lambda, request_ttl_s, max_body_bytes, reward_range, snapshot_every, and an optional
    /// [retrieval] table with run, index, ef).
    #[arg(long, required_unless_present = "retrieval")]
    bandit: Option<PathBuf>,
    /// Serve POST /v1/retrieve from this retrieval run directory (written by
    /// `recforge retrieval-zoo`); overrides the config's [retrieval] run.
    #[arg(long)]
    retrieval: Option<PathBuf>,
    /// Top-K search for /v1/retrieve: exact (every item scored) or hnsw (approximate).
    #[arg(long, value_parser = ["exact", "hnsw"])]
    index: Option<String>,
    /// Override the config's listen address (e.g. a second replica's port).
    #[arg(long)]
    listen: Option<String>,
    /// Override the config's store URL (file://DIR or redis://HOST:PORT).
    #[arg(long)]
    store: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let mut config = match (&args.bandit, &args.retrieval) {
        (Some(path), _) => ServeConfig::from_file(path)?,
        (None, Some(run)) => ServeConfig::retrieval_only(run.clone()),
        (None, None) => anyhow::bail!("give --bandit CONFIG and/or --retrieval RUN_DIR"),
    };
    if let Some(run) = args.retrieval {
        match &mut config.retrieval {
            Some(table) => table.run = run,
            None => config.retrieval = Some(RetrievalServeConfig::new(run)),
        }
    }
    if let (Some(index), Some(table)) = (args.index.as_deref(), config.retrieval.as_mut()) {
        table.index = if index == "hnsw" { SearchIndex::Hnsw } else { SearchIndex::Exact };
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(store) = args.store {
        config.store = store;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let state = AppState::from_config(config)?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        };
        recforge_serve::serve(state, shutdown).await
    })?;
    Ok(())
}
