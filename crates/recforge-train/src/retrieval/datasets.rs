//! The sequence datasets the retrieval and LLM-recommendation experiments run on by name
//! (`ml-1m`, `ml-100k`; the old spellings `ml1m`, `ml100k` still accepted), or any schema TOML
//! declaring user, item, timestamp and item-side features.

use std::path::{Path, PathBuf};

use recforge_data::Schema;

const ML1M: &str = include_str!("../../../../configs/data/ml1m_seq.toml");
const ML100K: &str = include_str!("../../../../configs/data/ml100k_seq.toml");

/// A sequence dataset resolved from `--dataset`.
#[derive(Debug, Clone)]
pub struct SequenceDataset {
    /// Canonical name: `ml-1m`, `ml-100k`, or the schema file's stem.
    pub name: String,
    /// The name in output folders (`runs/retrieval-zoo-<stem>`): `ml1m` and `ml100k` for the
    /// named datasets, as the folders README documents.
    pub folder_stem: String,
    pub schema: Schema,
}

/// Why `--dataset` could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("--dataset {0}: expected ml-1m, ml-100k or a schema TOML file (no such file)")]
    Unknown(PathBuf),
    #[error(transparent)]
    Schema(#[from] recforge_data::DataError),
}

impl SequenceDataset {
    /// `ml-1m`/`ml1m`, `ml-100k`/`ml100k`, or the path of a schema TOML.
    pub fn resolve(dataset: &str) -> Result<Self, DatasetError> {
        let named = |name: &str, stem: &str, toml: &str| -> Result<Self, DatasetError> {
            Ok(SequenceDataset { name: name.into(), folder_stem: stem.into(), schema: Schema::from_toml_str(toml, Path::new("."))? })
        };
        match dataset {
            "ml-1m" | "ml1m" => named("ml-1m", "ml1m", ML1M),
            "ml-100k" | "ml100k" => named("ml-100k", "ml100k", ML100K),
            path => {
                let path = Path::new(path);
                if !path.is_file() {
                    return Err(DatasetError::Unknown(path.into()));
                }
                let stem = recforge_data::paths::stem_name(path);
                Ok(SequenceDataset { name: stem.clone(), folder_stem: stem, schema: Schema::from_toml_file(path)? })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_name_the_same_dataset() {
        for (given, name, stem) in [("ml-1m", "ml-1m", "ml1m"), ("ml1m", "ml-1m", "ml1m"), ("ml100k", "ml-100k", "ml100k")] {
            let d = SequenceDataset::resolve(given).unwrap();
            assert_eq!((d.name.as_str(), d.folder_stem.as_str()), (name, stem));
        }
        let error = SequenceDataset::resolve("no/such.toml").unwrap_err().to_string();
        assert!(error.contains("expected ml-1m, ml-100k"), "{error}");
    }
}
