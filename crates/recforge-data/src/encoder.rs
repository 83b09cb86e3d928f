//! The fitted schema: vocabularies and numeric statistics learnt in the first prepare pass,
//! stored with the dataset (`encoder.json`) so evaluation files are encoded exactly like the
//! training file.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dataset::FeatureMeta;
use crate::error::{DataError, Result};
use crate::numeric::NumericStats;
use crate::schema::{FeatureKind, Schema};
use crate::vocab::Vocab;

/// How one feature's cells become ids or floats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "encoding")]
pub enum FittedFeature {
    /// Categorical, multi-categorical and sequence features.
    Tokens {
        /// Separator between the tokens of a multi-valued cell (resolved from the schema or
        /// the file's format); unused for categorical features.
        separator: String,
        vocab: Vocab,
    },
    Numeric {
        stats: NumericStats,
    },
}

/// The schema plus everything fitted on the prepared file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    /// The schema the encoder was fitted with (paths as resolved at the time).
    pub schema: Schema,
    /// Parallel to `schema.features`.
    pub features: Vec<FittedFeature>,
}

impl Encoder {
    /// The vocabulary of token feature `name`.
    pub fn vocab(&self, name: &str) -> Option<&Vocab> {
        match self.fitted(name)? {
            FittedFeature::Tokens { vocab, .. } => Some(vocab),
            FittedFeature::Numeric { .. } => None,
        }
    }

    /// The statistics of numeric feature `name`.
    pub fn stats(&self, name: &str) -> Option<&NumericStats> {
        match self.fitted(name)? {
            FittedFeature::Numeric { stats } => Some(stats),
            FittedFeature::Tokens { .. } => None,
        }
    }

    fn fitted(&self, name: &str) -> Option<&FittedFeature> {
        let index = self.schema.features.iter().position(|f| f.name == name)?;
        self.features.get(index)
    }

    /// Per-feature metadata for a dataset encoded with this encoder.
    pub fn feature_metas(&self) -> Vec<FeatureMeta> {
        self.schema
            .features
            .iter()
            .zip(&self.features)
            .map(|(spec, fitted)| FeatureMeta {
                name: spec.name.clone(),
                kind: spec.kind,
                cardinality: match fitted {
                    FittedFeature::Tokens { vocab, .. } => vocab.len(),
                    FittedFeature::Numeric { .. } => 0,
                },
                side: spec.side,
                max_len: spec.max_len,
                stats: match fitted {
                    FittedFeature::Numeric { stats } => Some(stats.clone()),
                    FittedFeature::Tokens { .. } => None,
                },
            })
            .collect()
    }

    /// Checks that `schema` declares the same features (names and kinds, in order) as the
    /// one this encoder was fitted with, so its ids mean the same thing.
    pub fn check_compatible(&self, schema: &Schema) -> Result<()> {
        let ours: Vec<(&str, FeatureKind)> = self
            .schema
            .features
            .iter()
            .map(|f| (f.name.as_str(), f.kind))
            .collect();
        let theirs: Vec<(&str, FeatureKind)> = schema
            .features
            .iter()
            .map(|f| (f.name.as_str(), f.kind))
            .collect();
        if ours != theirs || self.features.len() != ours.len() {
            return Err(DataError::Invalid(format!(
                "schema \"{}\" declares features {theirs:?} but the encoder was fitted on {ours:?}",
                schema.name
            )));
        }
        Ok(())
    }

    /// Writes the encoder as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer(&mut out, self).map_err(|e| DataError::format(path, e))?;
        out.flush().map_err(|e| DataError::io(path, e))
    }

    /// Reads an encoder written by [`Encoder::save`].
    pub fn load(path: &Path) -> Result<Encoder> {
        let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        serde_json::from_reader(BufReader::new(file)).map_err(|e| DataError::format(path, e))
    }
}
