//! The service's TOML config (`recforge serve --bandit CONFIG`).

use std::path::{Path, PathBuf};

use recforge_bandit::{PolicyConfig, SHARED_STATE_POLICIES};
use serde::Deserialize;

/// Everything the service reads at start: the bandit (`model`, or `items` + `clusters`) and/or
/// retrieval (`[retrieval]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `file://DIR` (default `file://./state`) or `redis://HOST:PORT[/DB][?prefix=P]`.
    #[serde(default = "default_store")]
    pub store: String,
    /// Bearer token the write endpoint (`POST /v1/feedback`) requires.
    #[serde(default)]
    pub token: Option<String>,
    /// Or: the environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Online Matching artifact (JSON from `recforge bandit simulate --save-model`): users,
    /// centroids and the cluster→item graph. Without it, requests pass their context
    /// explicitly and candidates are items `0..items`.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// Catalogue size when no model is given.
    #[serde(default)]
    pub items: Option<u32>,
    /// Number of clusters explicit contexts may use when no model is given.
    #[serde(default)]
    pub clusters: Option<u32>,
    /// Items per recommendation unless the request asks for another number.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Exploration policy over the shared Diag-LinUCB statistics: `diag_linucb` (UCB, the
    /// default), `egreedy` or `thompson`.
    #[serde(default = "default_policy")]
    pub policy: String,
    /// UCB exploration strength α.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Diag-LinUCB ridge prior λ.
    #[serde(default = "default_lambda")]
    pub lambda: f64,
    /// ε of `policy = "egreedy"`.
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// Posterior scale of `policy = "thompson"`.
    #[serde(default = "default_ts_scale")]
    pub ts_scale: f64,
    /// Seconds a request id accepts feedback.
    #[serde(default = "default_ttl")]
    pub request_ttl_s: u64,
    /// Largest accepted request body.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// Rewards outside `[min, max]` are rejected.
    #[serde(default = "default_reward_range")]
    pub reward_range: [f64; 2],
    /// File store: write a snapshot and start a new WAL after this many feedback records.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: usize,
    /// `POST /v1/retrieve` from a retrieval run directory.
    #[serde(default)]
    pub retrieval: Option<RetrievalServeConfig>,
    /// `POST /v1/score` from a ranking model folder.
    #[serde(default)]
    pub ranker: Option<RankerServeConfig>,
}

/// The `[ranker]` table: which model folder serves `POST /v1/score`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankerServeConfig {
    /// A model folder (`recforge train`'s run folder), or a folder whose `CURRENT` file names
    /// the sub-folder to serve (hot-reloaded when it changes).
    pub dir: PathBuf,
    /// Most rows one request may score.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// How often requests look at the `CURRENT` pointer, in milliseconds.
    #[serde(default = "default_reload_check_ms")]
    pub reload_check_ms: u64,
}

impl RankerServeConfig {
    pub fn new(dir: PathBuf) -> Self {
        RankerServeConfig { dir, max_rows: default_max_rows(), reload_check_ms: default_reload_check_ms() }
    }
}

fn default_max_rows() -> usize {
    1000
}
fn default_reload_check_ms() -> u64 {
    1000
}

/// The `[retrieval]` table: which run serves `POST /v1/retrieve`, over which index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalServeConfig {
    /// A retrieval run directory (`recforge retrieval-zoo` writes one per model).
    pub run: PathBuf,
    /// `exact` (every item scored) or `hnsw` (approximate, for large catalogues).
    #[serde(default)]
    pub index: SearchIndex,
    /// HNSW search candidate list size (recall grows with it, speed falls).
    #[serde(default = "default_ef")]
    pub ef: usize,
}

impl RetrievalServeConfig {
    /// Exact search over `run`'s items.
    pub fn new(run: PathBuf) -> Self {
        RetrievalServeConfig { run, index: SearchIndex::default(), ef: default_ef() }
    }
}

/// The top-K search behind `POST /v1/retrieve`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchIndex {
    #[default]
    Exact,
    Hnsw,
}

impl SearchIndex {
    pub fn name(self) -> &'static str {
        match self {
            SearchIndex::Exact => "exact",
            SearchIndex::Hnsw => "hnsw",
        }
    }
}

fn default_ef() -> usize {
    64
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_store() -> String {
    "file://./state".into()
}
fn default_k() -> usize {
    10
}
fn default_policy() -> String {
    "diag_linucb".into()
}
fn default_alpha() -> f64 {
    PolicyConfig::DEFAULT.alpha
}
fn default_lambda() -> f64 {
    PolicyConfig::DEFAULT.lambda
}
fn default_epsilon() -> f64 {
    PolicyConfig::DEFAULT.epsilon
}
fn default_ts_scale() -> f64 {
    PolicyConfig::DEFAULT.ts_scale
}
fn default_ttl() -> u64 {
    600
}
fn default_body() -> usize {
    64 * 1024
}
fn default_reward_range() -> [f64; 2] {
    [0.0, 1.0]
}
fn default_snapshot_every() -> usize {
    10_000
}

/// Most items one request may ask for.
pub const MAX_K: usize = 1000;

/// Command-line replacements for parts of the config (`recforge serve --retrieval ...`).
#[derive(Debug, Clone, Default)]
pub struct ServeOverrides {
    pub retrieval: Option<PathBuf>,
    pub ranker: Option<PathBuf>,
    pub index: Option<SearchIndex>,
    pub listen: Option<String>,
    pub store: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl ServeConfig {
    /// Reads and checks a config file.
    pub fn from_file(path: &Path) -> Result<ServeConfig, ConfigError> {
        Self::from_file_with_overrides(path, &[])
    }

    /// Reads a config file, applies `--set key.path=value` overrides, then checks it.
    pub fn from_file_with_overrides(path: &Path, overrides: &[String]) -> Result<ServeConfig, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
        recforge_data::apply_overrides(&mut table, overrides).map_err(|e| parse_error(e.to_string()))?;
        let mut config: ServeConfig = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        // Relative model and run paths are relative to the config file.
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(model) = &config.model {
            if model.is_relative() {
                config.model = Some(base.join(model));
            }
        }
        if let Some(retrieval) = &mut config.retrieval {
            if retrieval.run.is_relative() {
                retrieval.run = base.join(&retrieval.run);
            }
        }
        if let Some(ranker) = &mut config.ranker {
            if ranker.dir.is_relative() {
                ranker.dir = base.join(&ranker.dir);
            }
        }
        config.check().map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        Ok(config)
    }

    /// The config `recforge serve` runs: the bandit config file (with `--set` overrides), or a
    /// retrieval-only config; then the command line's retrieval run, index, listen address and
    /// store replace the file's.
    pub fn assemble(bandit: Option<&Path>, overrides: &[String], cli: ServeOverrides) -> Result<ServeConfig, ConfigError> {
        let mut config = match (bandit, &cli.retrieval, &cli.ranker) {
            (Some(path), _, _) => ServeConfig::from_file_with_overrides(path, overrides)?,
            (None, Some(run), _) => ServeConfig::retrieval_only(run.clone()),
            (None, None, Some(dir)) => ServeConfig::ranker_only(dir.clone()),
            (None, None, None) => {
                return Err(ConfigError::Invalid {
                    path: PathBuf::from("(command line)"),
                    message: "give --bandit CONFIG, --retrieval RUN_DIR and/or --ranker MODEL_DIR".into(),
                });
            }
        };
        if let Some(dir) = cli.ranker {
            match &mut config.ranker {
                Some(table) => table.dir = dir,
                None => config.ranker = Some(RankerServeConfig::new(dir)),
            }
        }
        if let Some(run) = cli.retrieval {
            match &mut config.retrieval {
                Some(table) => table.run = run,
                None => config.retrieval = Some(RetrievalServeConfig::new(run)),
            }
        }
        if let (Some(index), Some(table)) = (cli.index, config.retrieval.as_mut()) {
            table.index = index;
        }
        if let Some(listen) = cli.listen {
            config.listen = listen;
        }
        if let Some(store) = cli.store {
            config.store = store;
        }
        Ok(config)
    }

    /// A config that serves only retrieval from `run`, everything else at its default.
    pub fn retrieval_only(run: PathBuf) -> ServeConfig {
        let mut config: ServeConfig = toml::from_str("").expect("every field has a default");
        config.retrieval = Some(RetrievalServeConfig::new(run));
        config
    }

    /// A config that serves only the ranking model folder `dir`, everything else at its default.
    pub fn ranker_only(dir: PathBuf) -> ServeConfig {
        let mut config: ServeConfig = toml::from_str("").expect("every field has a default");
        config.ranker = Some(RankerServeConfig::new(dir));
        config
    }

    /// The exploration parameters of [`recforge_bandit::make_policy_over`].
    pub fn policy_config(&self) -> PolicyConfig {
        PolicyConfig { lambda: self.lambda, alpha: self.alpha, epsilon: self.epsilon, ts_scale: self.ts_scale }
    }

    /// True when the config defines a bandit (its candidate source).
    pub fn bandit_enabled(&self) -> bool {
        self.model.is_some() || (self.items.is_some() && self.clusters.is_some())
    }

    /// Checks ranges and that something is served.
    pub fn check(&self) -> Result<(), String> {
        if !self.bandit_enabled() && self.retrieval.is_none() && self.ranker.is_none() {
            return Err("set `model` (an Online Matching artifact) or both `items` and `clusters` for the bandit, and/or a `[retrieval]` table with `run = \"RUN_DIR\"`, and/or a `[ranker]` table with `dir = \"MODEL_DIR\"`".into());
        }
        if let Some(ranker) = &self.ranker {
            if ranker.max_rows == 0 {
                return Err("`ranker.max_rows` must be ≥ 1".into());
            }
        }
        if let Some(retrieval) = &self.retrieval {
            if retrieval.ef == 0 {
                return Err("`retrieval.ef` must be ≥ 1".into());
            }
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) || !(self.lambda.is_finite() && self.lambda > 0.0) {
            return Err("`alpha` must be ≥ 0 and `lambda` > 0".into());
        }
        if !SHARED_STATE_POLICIES.contains(&self.policy.as_str()) {
            return Err(format!("`policy` {:?} is not one of {}", self.policy, SHARED_STATE_POLICIES.join(", ")));
        }
        if !(0.0..=1.0).contains(&self.epsilon) || !(self.ts_scale.is_finite() && self.ts_scale >= 0.0) {
            return Err("`epsilon` must be in [0, 1] and `ts_scale` ≥ 0".into());
        }
        if self.k == 0 || self.k > MAX_K {
            return Err(format!("`k` must be in 1..={MAX_K}"));
        }
        if !(self.reward_range[0] <= self.reward_range[1]) {
            return Err("`reward_range` must be [min, max] with min ≤ max".into());
        }
        Ok(())
    }

    /// The bearer token, from `token` or the variable `token_env` names.
    pub fn resolve_token(&self) -> Result<String, String> {
        let token = match (&self.token, &self.token_env) {
            (Some(t), _) => t.clone(),
            (None, Some(var)) => std::env::var(var).map_err(|_| format!("token_env: environment variable {var} is not set"))?,
            (None, None) => return Err("set `token` or `token_env`: POST /v1/feedback requires a bearer token".into()),
        };
        if token.trim().is_empty() {
            return Err("the bearer token is empty".into());
        }
        Ok(token)
    }
}
