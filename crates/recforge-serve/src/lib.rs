//! recforge-serve: the HTTP service. It serves the Online Matching bandit —
//! `POST /v1/recommend`, `POST /v1/feedback` over a [`BanditStore`] chosen by URL (file WAL +
//! snapshots by default, Redis for several replicas) — and/or multi-interest retrieval —
//! `POST /v1/retrieve` over exact or HNSW top-K search — and/or a ranking model folder —
//! `POST /v1/score`, hot-reloaded from a `CURRENT` pointer — with `GET /healthz` and
//! `GET /metrics`. Routes live one group per file under [`routes`]; a new group is a new
//! file merged in [`routes::router`].

pub mod auth;
pub mod config;
pub mod error;
pub mod loadgen;
pub mod metrics;
pub mod protect;
pub mod ranker;
pub mod retrieval;
pub mod routes;
pub mod store;
pub mod validate;
mod upkeep;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use recforge_bandit::online_matching::OnlineMatching;

pub use config::{InputLimits, RankerServeConfig, RetrievalServeConfig, SearchIndex, ServeConfig, ServeOverrides};
pub use ranker::RankerService;
pub use retrieval::RetrievalService;
pub use routes::router;
pub use store::{BanditStore, DisabledStore, FileStore, RedisStore, open_store};

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("config: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{path}: {message}")]
    Model { path: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Stopped(String),
}

/// What every handler shares.
pub struct AppState {
    pub config: ServeConfig,
    /// Write token (feedback) and optional read token (recommend, retrieve, score).
    pub tokens: auth::Tokens,
    pub store: Arc<dyn BanditStore>,
    /// The Online Matching artifact, when the config names one.
    pub model: Option<OnlineMatching>,
    /// External item id → index.
    pub item_index: HashMap<String, u32>,
    /// The retrieval run behind `POST /v1/retrieve`, when the config names one.
    pub retrieval: Option<RetrievalService>,
    /// The ranking model behind `POST /v1/score`, when the config names one.
    pub ranker: Option<Arc<RankerService>>,
    pub metrics: metrics::Metrics,
    /// Permits for requests in flight ([`protect`]).
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Loads the model and opens the store the config names.
    pub fn from_config(config: ServeConfig) -> Result<Arc<AppState>, ServeError> {
        config.check().map_err(ServeError::Invalid)?;
        if !config.bandit_enabled() {
            // A token is optional without a bandit; when configured, /v1/score requires it.
            let token = if config.token.is_some() || config.token_env.is_some() {
                config.resolve_token().map_err(ServeError::Invalid)?
            } else {
                String::new()
            };
            return Self::with_store(config, token, Arc::new(DisabledStore));
        }
        let token = config.resolve_token().map_err(ServeError::Invalid)?;
        let store: Arc<dyn BanditStore> = Arc::from(open_store(&config.store, config.file_options())?);
        Self::with_store(config, token, store)
    }

    /// As [`AppState::from_config`] with an already opened store (tests, several replicas in
    /// one process).
    pub fn with_store(config: ServeConfig, token: String, store: Arc<dyn BanditStore>) -> Result<Arc<AppState>, ServeError> {
        let model = match &config.model {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| ServeError::Model { path: path.display().to_string(), message: e.to_string() })?;
                let model: OnlineMatching = serde_json::from_slice(&bytes).map_err(|e| ServeError::Model { path: path.display().to_string(), message: format!("not an Online Matching artifact: {e}") })?;
                Some(model)
            }
            None => None,
        };
        let item_index = match &model {
            Some(m) => m.items.iter().enumerate().map(|(i, name)| (name.clone(), i as u32)).collect(),
            None => (0..config.items.unwrap_or(0)).map(|i| (i.to_string(), i)).collect(),
        };
        let retrieval = config.retrieval.as_ref().map(RetrievalService::load).transpose()?;
        let ranker = config.ranker.as_ref().map(RankerService::load).transpose()?.map(Arc::new);
        // Without a bandit there is no write route: a configured `token` guards the read
        // routes (/v1/score, /v1/retrieve) unless a separate read token is set.
        let read = config.resolve_read_token().map_err(ServeError::Invalid)?;
        let read = read.or_else(|| (!config.bandit_enabled() && !token.is_empty()).then(|| token.clone()));
        let tokens = auth::Tokens { write: token, read };
        let in_flight = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight));
        Ok(Arc::new(AppState { config, tokens, store, model, item_index, retrieval, ranker, metrics: metrics::Metrics::default(), in_flight }))
    }

    /// The bandit routes' guard: 404 when this server serves no bandit.
    pub fn require_bandit(&self) -> Result<(), error::ApiError> {
        if self.config.bandit_enabled() {
            Ok(())
        } else {
            Err(error::ApiError::not_found("this server serves no bandit; start it with --bandit CONFIG"))
        }
    }

    /// The read endpoints' guard: open unless a read token is configured.
    pub fn require_read(&self, headers: &axum::http::HeaderMap) -> Result<(), error::ApiError> {
        self.tokens.require(headers, auth::Access::Read)
    }

    /// The write endpoints' guard: the write token.
    pub fn require_write(&self, headers: &axum::http::HeaderMap) -> Result<(), error::ApiError> {
        self.tokens.require(headers, auth::Access::Write)
    }

    /// External id of item `index`.
    pub fn item_name(&self, index: u32) -> String {
        match &self.model {
            Some(m) => m.items.get(index as usize).cloned().unwrap_or_else(|| index.to_string()),
            None => index.to_string(),
        }
    }

    /// Number of clusters contexts may refer to.
    pub fn num_clusters(&self) -> u32 {
        match &self.model {
            Some(m) => m.centroids.len() as u32,
            None => self.config.clusters.unwrap_or(0),
        }
    }
}

/// Serves `state` on its configured address until `shutdown` resolves.
pub async fn serve(state: Arc<AppState>, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
    let addr = state.config.listen.clone();
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|source| ServeError::Listen { addr: addr.clone(), source })?;
    serve_on(listener, state, shutdown).await
}

/// Serves `state` on an already bound `listener` until `shutdown` resolves.
pub async fn serve_on(listener: tokio::net::TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_or_else(|_| state.config.listen.clone(), |a| a.to_string());
    let retrieval = state.retrieval.as_ref().map_or_else(|| "none".to_string(), |r| format!("{} ({} search)", r.run.path.display(), r.index.name()));
    let ranker = state.ranker.as_ref().map_or_else(|| "none".to_string(), |r| format!("{} (version {})", r.config.dir.display(), r.current().version));
    tracing::info!("recforge serve: listening on {addr}, bandit store {}, retrieval {retrieval}, ranker {ranker}", state.store.url());
    let upkeep = upkeep::Upkeep::start(state.store.clone());
    let served = protect::serve_connections(listener, state, shutdown).await.map_err(|source| ServeError::Listen { addr, source });
    drop(upkeep);
    served
}

/// Starts a multi-threaded runtime, builds the state from `config` and serves until Ctrl-C:
/// what `recforge serve` runs.
pub fn run_until_ctrl_c(config: ServeConfig) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Listen { addr: config.listen.clone(), source })?;
    runtime.block_on(async {
        let state = AppState::from_config(config)?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        };
        serve(state, shutdown).await
    })
}

/// A server running on background threads (tests, notebooks, the Python package's
/// `recforge.serve`). Stops on [`RunningServer::stop`] or when dropped.
pub struct RunningServer {
    /// The address it listens on (the real port when the config asked for port 0).
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl RunningServer {
    /// Asks the server to stop, waits for it, and returns how serving ended.
    pub fn stop(mut self) -> Result<(), ServeError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServeError::Stopped("the server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Builds the state from `config`, binds its `listen` address (port 0 picks a free one) and
/// serves on background threads; returns once the server accepts connections.
pub fn spawn(config: ServeConfig) -> Result<RunningServer, ServeError> {
    let listen = config.listen.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("recforge-serve")
        .build()
        .map_err(|source| ServeError::Listen { addr: listen.clone(), source })?;
    let (listener, state) = runtime.block_on(async {
        let state = AppState::from_config(config)?;
        let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|source| ServeError::Listen { addr: listen.clone(), source })?;
        Ok::<_, ServeError>((listener, state))
    })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen { addr: listen.clone(), source })?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("recforge-serve-main".into())
        .spawn(move || {
            runtime.block_on(serve_on(listener, state, async {
                let _ = stopped.await;
            }))
        })
        .map_err(|source| ServeError::Listen { addr: listen, source })?;
    Ok(RunningServer { addr, stop: Some(stop), thread: Some(thread) })
}
