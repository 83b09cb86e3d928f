//! Training configs (`recforge train CONFIG.toml`) and run directories (`runs/NAME/`).
//!
//! A run directory is self-describing: `config.toml` (the resolved config), `model.bpk` (burn
//! dense weights), `embeddings.bin` (the EmbeddingStore), `metrics.json`, `history.json` and
//! `report.html`. `recforge eval RUN_DIR` needs nothing else.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use recforge_data::Dataset;
use recforge_models::{EmbeddingStore, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::trainer::TrainedModel;

/// Errors reading configs and run directories.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: cannot load model weights ({message}); was this run trained with another model config or data schema?")]
    Weights { path: PathBuf, message: String },
    #[error("training on the data of {}: {source}", .schema.display())]
    Train { schema: PathBuf, source: crate::trainer::TrainError },
    #[error(transparent)]
    Data(#[from] recforge_data::DataError),
    #[error("{path}: the prepared dataset has no fitted encoder; rerun `recforge data prepare --force` on its schema")]
    NoEncoder { path: PathBuf },
}

/// `[data]`: which dataset to train on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// A data schema TOML (relative paths are resolved against the config file).
    pub schema: PathBuf,
}

/// A whole training config: data, model and training tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run name (default: the config file's stem).
    #[serde(default)]
    pub name: Option<String>,
    pub data: DataSection,
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
}

impl RunConfig {
    /// Read a config, resolving the schema path against the config's folder.
    pub fn from_file(path: &Path) -> Result<Self, RunError> {
        Self::from_file_with_overrides(path, &[])
    }

    /// Read a config after applying `--set key.path=value` overrides to its TOML (each
    /// override is validated like the file itself), then resolve the schema path.
    pub fn from_file_with_overrides(path: &Path, overrides: &[String]) -> Result<Self, RunError> {
        let text = std::fs::read_to_string(path).map_err(|source| RunError::Io { path: path.into(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        Self::from_toml_with_overrides(&text, path, base, name, overrides)
    }

    /// [`RunConfig::from_file_with_overrides`] on TOML text already in memory (e.g. a Python
    /// dict): `origin` names it in errors, a relative schema path is resolved against `base`,
    /// and `default_name` is the run name when the config sets none.
    pub fn from_toml_with_overrides(
        text: &str,
        origin: &Path,
        base: &Path,
        default_name: Option<String>,
        overrides: &[String],
    ) -> Result<Self, RunError> {
        let config_error = |message: String| RunError::Config { path: origin.into(), message };
        // Parsed once as written, for errors that point at the line, then as a table that
        // takes the model kind's [train] defaults and the --set overrides.
        toml::from_str::<RunConfig>(text).map_err(|e| config_error(e.to_string()))?;
        let mut table: toml::Table = toml::from_str(text).map_err(|e| config_error(e.to_string()))?;
        crate::config::apply_kind_defaults(&mut table);
        recforge_data::apply_overrides(&mut table, overrides).map_err(|e| config_error(e.to_string()))?;
        let after = if overrides.is_empty() { "" } else { "after --set: " };
        let mut config: RunConfig = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| config_error(format!("{after}{e}")))?;
        if config.data.schema.is_relative() {
            config.data.schema = base.join(&config.data.schema);
        }
        if config.name.is_none() {
            config.name = default_name;
        }
        Ok(config)
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("run")
    }
}

/// A run's folder on disk.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub const CONFIG: &'static str = "config.toml";
    pub const MODEL: &'static str = "model.bpk";
    pub const EMBEDDINGS: &'static str = "embeddings.bin";
    pub const METRICS: &'static str = "metrics.json";
    pub const HISTORY: &'static str = "history.json";
    pub const REPORT: &'static str = "report.html";

    /// Create (or reuse) the folder.
    pub fn create(path: &Path) -> Result<Self, RunError> {
        std::fs::create_dir_all(path).map_err(|source| RunError::Io { path: path.into(), source })?;
        Ok(RunDir { path: path.into() })
    }

    /// Open an existing run, checking it holds a config.
    pub fn open(path: &Path) -> Result<Self, RunError> {
        let config = path.join(Self::CONFIG);
        if !config.is_file() {
            return Err(RunError::Config {
                path: path.into(),
                message: format!("not a run directory (no {}); pass the folder `recforge train` wrote", Self::CONFIG),
            });
        }
        Ok(RunDir { path: path.into() })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn save_config(&self, config: &RunConfig) -> Result<(), RunError> {
        let mut resolved = config.clone();
        if let Ok(absolute) = std::fs::canonicalize(&config.data.schema) {
            resolved.data.schema = absolute;
        }
        let text = toml::to_string_pretty(&resolved).map_err(|e| RunError::Config {
            path: self.file(Self::CONFIG),
            message: e.to_string(),
        })?;
        self.write(Self::CONFIG, text.as_bytes())
    }

    /// Write `config` without resolving its schema path (a model folder's relative
    /// `schema.toml`).
    pub fn save_config_as_is(&self, config: &RunConfig) -> Result<(), RunError> {
        let text = toml::to_string_pretty(config).map_err(|e| RunError::Config {
            path: self.file(Self::CONFIG),
            message: e.to_string(),
        })?;
        self.write(Self::CONFIG, text.as_bytes())
    }

    pub fn load_config(&self) -> Result<RunConfig, RunError> {
        RunConfig::from_file(&self.file(Self::CONFIG))
    }

    /// Write the dense weights and the embedding tables.
    pub fn save_model(&self, trained: &TrainedModel) -> Result<(), RunError> {
        let model_path = self.file(Self::MODEL);
        trained.model.clone().save_file(&model_path).map_err(|e| RunError::Weights {
            path: model_path.clone(),
            message: format!("{e:?}"),
        })?;
        let store_path = self.file(Self::EMBEDDINGS);
        trained.store.save(&store_path).map_err(|e| RunError::Weights { path: store_path, message: e.to_string() })
    }

    /// Rebuild the model for `data`'s layout and load the saved weights into it.
    pub fn load_model(&self, config: &RunConfig, data: &Dataset, device: &Device) -> Result<TrainedModel, RunError> {
        let fresh = TrainedModel::init(&config.model, &config.train, data, device).map_err(|e| RunError::Config {
            path: self.file(Self::CONFIG),
            message: e.to_string(),
        })?;
        let model_path = self.file(Self::MODEL);
        let model = fresh.model.try_load_file(&model_path).map_err(|e| RunError::Weights {
            path: model_path.clone(),
            message: format!("{e:?}"),
        })?;
        let store_path = self.file(Self::EMBEDDINGS);
        let store = EmbeddingStore::load(&store_path).map_err(|e| RunError::Weights {
            path: store_path.clone(),
            message: e.to_string(),
        })?;
        if store.specs().len() != fresh.store.specs().len()
            || store.specs().iter().zip(fresh.store.specs()).any(|(a, b)| a.cardinality != b.cardinality || a.dim != b.dim)
        {
            return Err(RunError::Weights {
                path: store_path,
                message: "embedding tables do not match the dataset's features".into(),
            });
        }
        Ok(TrainedModel { config: config.model.clone(), model, store })
    }

    /// Write `value` as pretty JSON to `name`.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), RunError> {
        let text = serde_json::to_vec_pretty(value).map_err(|e| RunError::Config {
            path: self.file(name),
            message: e.to_string(),
        })?;
        self.write(name, &text)
    }

    /// Write a file atomically (temp file, then rename).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), RunError> {
        let path = self.file(name);
        let tmp = self.file(&format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|source| RunError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| RunError::Io { path, source })
    }
}
