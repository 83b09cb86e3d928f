//! The training config of a sequential model (`recforge train configs/retrieval/*.toml`):
//! `[data] schema` (user, item and timestamp declared), `[model] kind` = `sur`, `mur`,
//! `sasrec`, `bpr` or `ease` with that family's sizes, and `[train]` =
//! [`RetrievalTrainConfig`] (width d, learning rate, batch, epochs, early-stopping patience,
//! history length, k-core, seed).

use std::path::Path;

use recforge_models::retrieval::RetrievalModelConfig;
use recforge_models::sequential::{BprConfig, EaseConfig};
use serde::{Deserialize, Serialize};

use super::architecture::Architecture;
use super::config::RetrievalTrainConfig;
use super::data::RetrievalData;
use crate::run::{DataSection, RunError};
use crate::sasrec::SasRecTrainConfig;

/// The `[model] kind`s trained as sequential models.
pub const SEQUENTIAL_KINDS: [&str; 5] = ["sur", "mur", "sasrec", "bpr", "ease"];

/// `[model]`: the family and its own sizes (the width d is `[train] dim`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SeqModelSpec {
    /// Single-representation two towers (one user vector). (Braces, not a unit variant, so
    /// unknown keys are rejected.)
    Sur {},
    /// Multi-interest two towers with `interests` user vectors.
    Mur {
        #[serde(default = "default_interests")]
        interests: usize,
    },
    /// SASRec; its history length is `[train] seq_len`.
    Sasrec {
        #[serde(default = "default_blocks")]
        blocks: usize,
        #[serde(default = "default_heads")]
        heads: usize,
        #[serde(default = "default_dropout")]
        dropout: f64,
    },
    Bpr {},
    /// EASE with ridge `lambda` (closed form: `[train]` epochs and learning rate do not apply).
    Ease {
        #[serde(default = "default_lambda")]
        lambda: f64,
    },
}

fn default_interests() -> usize {
    3
}
fn default_blocks() -> usize {
    SasRecTrainConfig::default().blocks
}
fn default_heads() -> usize {
    SasRecTrainConfig::default().heads
}
fn default_dropout() -> f64 {
    SasRecTrainConfig::default().dropout
}
/// Steck's ML-20M optimum is λ = 500; smaller catalogues prefer less (tune on validation).
fn default_lambda() -> f64 {
    500.0
}

impl SeqModelSpec {
    /// The kind's name, as `[model] kind` spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            SeqModelSpec::Sur {} => "sur",
            SeqModelSpec::Mur { .. } => "mur",
            SeqModelSpec::Sasrec { .. } => "sasrec",
            SeqModelSpec::Bpr {} => "bpr",
            SeqModelSpec::Ease { .. } => "ease",
        }
    }

    /// SASRec's training config from `[model]` and `[train]`.
    pub fn sasrec(&self, train: &RetrievalTrainConfig) -> SasRecTrainConfig {
        let base = SasRecTrainConfig::default();
        let (blocks, heads, dropout) = match *self {
            SeqModelSpec::Sasrec { blocks, heads, dropout } => (blocks, heads, dropout),
            _ => (base.blocks, base.heads, base.dropout),
        };
        SasRecTrainConfig {
            dim: train.dim,
            max_len: train.seq_len,
            blocks,
            heads,
            dropout,
            batch_size: train.batch_size,
            lr: train.lr,
            epochs: train.epochs,
            patience: train.patience,
            seed: train.seed,
        }
    }

    /// The sizes a run folder records for this family on `data`.
    pub fn architecture(&self, data: &RetrievalData, train: &RetrievalTrainConfig) -> Architecture {
        let items = data.sequences.num_items;
        match *self {
            SeqModelSpec::Sur {} => Architecture::TwoTower(RetrievalModelConfig::new_default(&data.items, 1, train.dim)),
            SeqModelSpec::Mur { interests } => Architecture::TwoTower(RetrievalModelConfig::new_default(&data.items, interests.max(1), train.dim)),
            SeqModelSpec::Sasrec { .. } => Architecture::Sasrec(self.sasrec(train).model_config(items)),
            SeqModelSpec::Bpr {} => Architecture::Bpr(BprConfig::new(data.sequences.users.len(), items).with_dim(train.dim)),
            SeqModelSpec::Ease { lambda } => Architecture::Ease(EaseConfig::new(items).with_lambda(lambda)),
        }
    }
}

/// A whole sequential training config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeqRunConfig {
    /// Run name (default: the config file's stem).
    #[serde(default)]
    pub name: Option<String>,
    pub data: DataSection,
    pub model: SeqModelSpec,
    #[serde(default)]
    pub train: RetrievalTrainConfig,
}

impl SeqRunConfig {
    /// Reads a config after applying `--set key.path=value` overrides; a relative schema path
    /// is resolved against the config's folder.
    pub fn from_file_with_overrides(path: &Path, overrides: &[String]) -> Result<Self, RunError> {
        let config_error = |message: String| RunError::Config { path: path.into(), message };
        let text = std::fs::read_to_string(path).map_err(|source| RunError::Io { path: path.into(), source })?;
        // Parsed once as written, for errors that point at the line, then with the overrides.
        toml::from_str::<SeqRunConfig>(&text).map_err(|e| config_error(e.to_string()))?;
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| config_error(e.to_string()))?;
        recforge_data::apply_overrides(&mut table, overrides).map_err(|e| config_error(e.to_string()))?;
        let mut config: SeqRunConfig =
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| config_error(format!("after --set: {e}")))?;
        if config.data.schema.is_relative() {
            config.data.schema = path.parent().unwrap_or(Path::new(".")).join(&config.data.schema);
        }
        if config.name.is_none() {
            config.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(config)
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("run")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_with_their_defaults_and_unknown_keys_are_errors() {
        let parse = |model: &str| toml::from_str::<SeqRunConfig>(&format!("[data]\nschema = \"s.toml\"\n[model]\n{model}\n"));
        assert_eq!(parse("kind = \"mur\"").unwrap().model, SeqModelSpec::Mur { interests: 3 });
        assert_eq!(parse("kind = \"ease\"\nlambda = 50.0").unwrap().model, SeqModelSpec::Ease { lambda: 50.0 });
        assert_eq!(parse("kind = \"bpr\"").unwrap().train, RetrievalTrainConfig::default());
        assert!(parse("kind = \"bpr\"\nlambda = 1.0").is_err());
        assert!(parse("kind = \"knn\"").is_err());
    }

    #[test]
    fn every_shipped_retrieval_config_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/retrieval");
        let mut kinds = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let config = SeqRunConfig::from_file_with_overrides(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(config.data.schema.is_file(), "{}: schema {} missing", path.display(), config.data.schema.display());
            kinds.push(config.model.kind());
        }
        for kind in SEQUENTIAL_KINDS {
            assert_eq!(kinds.iter().filter(|&&k| k == kind).count(), 2, "{kind}: one config per dataset");
        }
    }
}
