//! `recforge serve --bandit CONFIG`: the Online Matching bandit over HTTP.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use recforge_serve::{AppState, ServeConfig};

#[derive(ClapArgs)]
pub struct Args {
    /// The bandit service config (TOML: listen, store, token, model or items + clusters, k,
    /// alpha, lambda, request_ttl_s, max_body_bytes, reward_range, snapshot_every).
    #[arg(long)]
    bandit: PathBuf,
    /// Override the config's listen address (e.g. a second replica's port).
    #[arg(long)]
    listen: Option<String>,
    /// Override the config's store URL (file://DIR or redis://HOST:PORT).
    #[arg(long)]
    store: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let mut config = ServeConfig::from_file(&args.bandit)?;
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
