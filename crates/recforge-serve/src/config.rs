//! The service's TOML config (`recforge serve --bandit CONFIG`).

use std::path::{Path, PathBuf};

use recforge_bandit::{PolicyConfig, SHARED_STATE_POLICIES};
use serde::Deserialize;

/// Everything the service reads at start: the bandit (`model`, or `items` + `clusters`) and/or
/// retrieval (`[retrieval]`).
#[derive(Clone, Deserialize)]
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
    /// Or: the environment variable holding the write token (same as `token_env`).
    #[serde(default)]
    pub write_token_env: Option<String>,
    /// The environment variable holding a read token: when set, recommend, retrieve and score
    /// require `Bearer <read or write token>`; without it they are open.
    #[serde(default)]
    pub read_token_env: Option<String>,
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
    /// File store: also snapshot when the WAL passes this many bytes.
    #[serde(default = "default_snapshot_bytes")]
    pub snapshot_bytes: u64,
    /// File store: also snapshot when the WAL's oldest record is this many seconds old.
    #[serde(default = "default_snapshot_age")]
    pub snapshot_age_s: u64,
    /// File store: most issued requests remembered; the oldest are evicted past it (counted
    /// in `recforge_bandit_requests_evicted_total`).
    #[serde(default = "default_max_live_requests")]
    pub max_live_requests: usize,
    /// Seconds a client may take to send a request's headers (slow clients are cut off).
    #[serde(default = "default_header_timeout")]
    pub header_read_timeout_s: f64,
    /// Seconds a request may take from its headers to its answer, body included; past it the
    /// answer is 503 with `Retry-After`.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_s: f64,
    /// Requests handled at once; more are shed at once with 503 and `Retry-After`.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Open connections at once; more are closed on accept.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Limits on request bodies ([`InputLimits`]).
    #[serde(default)]
    pub limits: InputLimits,
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

/// The `[limits]` table: bounds on what a request may carry, so that no request can put a
/// number into the bandit state that grows it past what f64 holds. Explicit contexts are also
/// scaled to unit L2 norm, so one feedback adds at most 1 to an edge's Σ w².
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputLimits {
    /// Most (cluster, weight) pairs in an explicit `"context"`.
    pub max_context_clusters: usize,
    /// Largest weight of an explicit context (before normalisation).
    pub max_weight: f64,
    /// Largest absolute value of an `"embedding"` component.
    pub max_embedding_abs: f64,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits { max_context_clusters: 64, max_weight: 1e6, max_embedding_abs: 1e6 }
    }
}

/// The `[retrieval]` table: which run serves `POST /v1/retrieve`, over which index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalServeConfig {
    /// A retrieval run directory (`recforge train` on a sequential config, or `recforge retrieval-zoo`).
    pub run: PathBuf,
    /// `auto` (default: exact search up to [`AUTO_EXACT_MAX_ITEMS`] items; above, USearch at
    /// the smallest ef reaching [`AUTO_TARGET_RECALL`], else exact),
    /// `exact` (every item scored), or `hnsw` / `usearch` (approximate graph search, for large
    /// catalogues).
    #[serde(default)]
    pub index: SearchIndex,
    /// Graph search candidate list size for `hnsw` / `usearch` (recall grows with it, speed
    /// falls); `auto` calibrates its own.
    #[serde(default = "default_ef")]
    pub ef: usize,
    /// Most items a request's `"history"` may list (413 past it); a stored user's longer
    /// history is cut to its most recent `max_history` items.
    #[serde(default = "default_max_history")]
    pub max_history: usize,
    /// Largest `"k"` a request may ask for (at most the server-wide 1,000).
    #[serde(default = "default_retrieval_max_k")]
    pub max_k: usize,
}

impl RetrievalServeConfig {
    /// Exact search over `run`'s items.
    pub fn new(run: PathBuf) -> Self {
        RetrievalServeConfig { run, index: SearchIndex::default(), ef: default_ef(), max_history: default_max_history(), max_k: default_retrieval_max_k() }
    }
}

/// The largest catalogue `index = "auto"` always searches exactly: up to here exact search
/// answers a 64-d query in under 0.3 ms on 2 cores, as fast as the USearch graph at the ef its
/// recall needs (`recforge bench retrieval`, docs/results/retrieval.md, "ANN index by
/// measurement").
pub const AUTO_EXACT_MAX_ITEMS: usize = 20_000;
/// Above [`AUTO_EXACT_MAX_ITEMS`], `auto` builds USearch and serves it at the smallest ef that
/// reaches this recall@10 on the catalogue's own vectors; when no ef up to 512 does, exact.
pub const AUTO_TARGET_RECALL: f64 = 0.95;

/// The top-K search behind `POST /v1/retrieve`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchIndex {
    /// Exact search on catalogues up to [`AUTO_EXACT_MAX_ITEMS`] items; above, USearch at the
    /// smallest ef that reaches [`AUTO_TARGET_RECALL`] on the catalogue's own vectors, or exact
    /// search when none does (and for runs without item vectors, as EASE's).
    #[default]
    Auto,
    Exact,
    Hnsw,
    /// USearch's HNSW (C++, SIMD inner products).
    Usearch,
}

impl SearchIndex {
    /// The index `auto` stands for on a catalogue of `items` item vectors (`None`: the run
    /// has none and scores items from the history directly); the others stand for themselves.
    pub fn resolve(self, items: Option<usize>) -> SearchIndex {
        match (self, items) {
            (SearchIndex::Auto, Some(n)) if n > AUTO_EXACT_MAX_ITEMS => SearchIndex::Usearch,
            (SearchIndex::Auto, _) => SearchIndex::Exact,
            (index, _) => index,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SearchIndex::Auto => "auto",
            SearchIndex::Exact => "exact",
            SearchIndex::Hnsw => "hnsw",
            SearchIndex::Usearch => "usearch",
        }
    }
}

fn default_ef() -> usize {
    64
}

fn default_max_history() -> usize {
    1000
}

fn default_retrieval_max_k() -> usize {
    MAX_K
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
fn default_snapshot_bytes() -> u64 {
    64 << 20
}
fn default_snapshot_age() -> u64 {
    3600
}
fn default_max_live_requests() -> usize {
    500_000
}
fn default_header_timeout() -> f64 {
    5.0
}
fn default_request_timeout() -> f64 {
    10.0
}
fn default_max_in_flight() -> usize {
    1024
}
fn default_max_connections() -> usize {
    4096
}
fn default_snapshot_every() -> usize {
    100_000
}

/// Most items one request may ask for.
pub const MAX_K: usize = 1000;

/// Largest |reward| a config may allow: with unit-norm contexts an edge's Σ w·r then grows by
/// at most this per feedback, far from f64's range for any feasible number of updates.
pub const MAX_ABS_REWARD: f64 = 1e9;

/// Largest `limits.max_embedding_abs`: f32 dot products of such embeddings with centroids of
/// a trained model stay finite.
pub const MAX_EMBEDDING_ABS: f64 = 1e12;

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
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        // Relative model and run paths are relative to the config file.
        Self::from_toml_with_overrides(&text, path, path.parent().unwrap_or(Path::new(".")), overrides)
    }

    /// [`ServeConfig::from_file_with_overrides`] on TOML text in memory (e.g. a Python dict):
    /// `origin` names it in errors, relative model and run paths resolve against `base`.
    pub fn from_toml_with_overrides(text: &str, origin: &Path, base: &Path, overrides: &[String]) -> Result<ServeConfig, ConfigError> {
        let path = origin;
        let parse_error = |message: String| ConfigError::Parse { path: path.to_path_buf(), message };
        let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        recforge_data::apply_overrides(&mut table, overrides).map_err(|e| parse_error(e.to_string()))?;
        let mut config: ServeConfig = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
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
        config.apply(cli);
        Ok(config)
    }

    /// The command line's ranker, retrieval run, index, listen address and store replace the
    /// config's.
    pub fn apply(&mut self, cli: ServeOverrides) {
        let config = self;
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

    /// The file store's snapshot and request-cap settings.
    pub fn file_options(&self) -> crate::store::FileOptions {
        crate::store::FileOptions {
            snapshot_every: self.snapshot_every,
            snapshot_bytes: self.snapshot_bytes,
            snapshot_age_s: self.snapshot_age_s,
            max_live_requests: self.max_live_requests,
        }
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
            if retrieval.max_history == 0 {
                return Err("`retrieval.max_history` must be ≥ 1".into());
            }
            if retrieval.max_k == 0 || retrieval.max_k > MAX_K {
                return Err(format!("`retrieval.max_k` must be in 1..={MAX_K}"));
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
        if !(self.reward_range[0] <= self.reward_range[1]) || !self.reward_range.iter().all(|r| r.is_finite() && r.abs() <= MAX_ABS_REWARD) {
            return Err(format!("`reward_range` must be [min, max] with min ≤ max, both within ±{MAX_ABS_REWARD:e}"));
        }
        for (name, value) in [("header_read_timeout_s", self.header_read_timeout_s), ("request_timeout_s", self.request_timeout_s)] {
            if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
                return Err(format!("`{name}` must be in (0, 86400] seconds"));
            }
        }
        if self.max_live_requests == 0 || self.snapshot_every == 0 || self.snapshot_bytes == 0 {
            return Err("`max_live_requests`, `snapshot_every` and `snapshot_bytes` must be ≥ 1".into());
        }
        if self.max_in_flight == 0 || self.max_connections == 0 {
            return Err("`max_in_flight` and `max_connections` must be ≥ 1".into());
        }
        let l = &self.limits;
        if l.max_context_clusters == 0 || !(l.max_weight.is_finite() && l.max_weight > 0.0) || !(l.max_embedding_abs.is_finite() && l.max_embedding_abs > 0.0) {
            return Err("`limits.max_context_clusters` must be ≥ 1, `limits.max_weight` and `limits.max_embedding_abs` finite and > 0".into());
        }
        if l.max_embedding_abs > MAX_EMBEDDING_ABS {
            return Err(format!("`limits.max_embedding_abs` must be ≤ {MAX_EMBEDDING_ABS:e} (larger values overflow the f32 dot product with a centroid)"));
        }
        Ok(())
    }

    /// The write token, from `token` or the variable `token_env` (or `write_token_env`) names.
    pub fn resolve_token(&self) -> Result<String, String> {
        let var = self.write_token_env.as_ref().or(self.token_env.as_ref());
        let token = match (&self.token, var) {
            (Some(t), _) => t.clone(),
            (None, Some(var)) => std::env::var(var).map_err(|_| format!("write_token_env: environment variable {var} is not set"))?,
            (None, None) => return Err("set `token`, `token_env` or `write_token_env`: POST /v1/feedback requires a bearer token".into()),
        };
        if token.trim().is_empty() {
            return Err("the bearer token is empty".into());
        }
        Ok(token)
    }

    /// The read token `read_token_env` names, if any.
    pub fn resolve_read_token(&self) -> Result<Option<String>, String> {
        let Some(var) = &self.read_token_env else {
            return Ok(None);
        };
        let token = std::env::var(var).map_err(|_| format!("read_token_env: environment variable {var} is not set"))?;
        if token.trim().is_empty() {
            return Err(format!("read_token_env: {var} is empty"));
        }
        Ok(Some(token))
    }
}

/// Never prints the tokens, and prints the store URL without its password.
impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("store", &crate::store::redact_url(&self.store))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .field("items", &self.items)
            .field("clusters", &self.clusters)
            .field("policy", &self.policy)
            .field("retrieval", &self.retrieval)
            .finish_non_exhaustive()
    }
}
