//! One event = one training example as it happens: example id, timestamp, label and the raw
//! feature values (tokens as strings, numbers before normalisation), so a labeler encodes them
//! with its teacher's own vocabularies.
//!
//! Wire format: JSON with a version field `v` (currently [`EVENT_FORMAT_VERSION`]), e.g.
//! `{"v":1,"id":7,"ts":978300760,"label":1.0,"features":{"user_id":["1"],"genre":["Drama"]}}`.
//! JSON is chosen over a binary encoding because events stay readable with `redis-cli XRANGE`
//! and `strings`, named fields let producers add features without breaking old consumers, and
//! encoding costs about a microsecond per event, far below the teacher's forward pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dataset::{Column, Dataset, DatasetMeta, label_rate};
use crate::encoder::{Encoder, FittedFeature};
use crate::error::{DataError, Result};
use crate::numeric::{normalize, pre_transform};
use crate::schema::{FeatureKind, Normalize};

/// The encoding version this build writes and reads.
pub const EVENT_FORMAT_VERSION: u32 = 1;

/// A raw feature value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureValue {
    /// A numeric feature before normalisation.
    Number(f64),
    /// The tokens of a categorical (one token), multi-categorical or sequence feature.
    Tokens(Vec<String>),
}

/// One training example on the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Encoding version ([`EVENT_FORMAT_VERSION`]).
    pub v: u32,
    /// Example id: the key its teacher label is stored under.
    pub id: u64,
    /// Event time (the data's own timestamp, e.g. seconds since the epoch).
    pub ts: i64,
    /// The hard label (1 = positive).
    pub label: f32,
    /// Raw feature values by feature name.
    pub features: BTreeMap<String, FeatureValue>,
}

impl Event {
    /// Serialises to the wire format.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain maps, strings and finite numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the wire format; `origin` names where the bytes came from for the error.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Event> {
        let event: Event = serde_json::from_slice(bytes)
            .map_err(|e| DataError::Invalid(format!("{origin}: not an event ({e})")))?;
        if event.v != EVENT_FORMAT_VERSION {
            return Err(DataError::Invalid(format!(
                "{origin}: event format version {} but this build reads version {EVENT_FORMAT_VERSION}; upgrade recforge",
                event.v
            )));
        }
        Ok(event)
    }

    /// Row `row` of a prepared dataset turned back into raw values with the dataset's own
    /// encoder (for replaying a dataset as a stream). Out-of-vocabulary ids become no token
    /// (an empty list), which every encoder maps back to OOV; hashed features cannot be
    /// inverted and are sent the same way.
    pub fn from_dataset_row(data: &Dataset, encoder: &Encoder, row: usize) -> Event {
        let mut features = BTreeMap::new();
        for ((spec, fitted), column) in encoder.schema.features.iter().zip(&encoder.features).zip(&data.columns) {
            let value = match (column, fitted) {
                (Column::Numeric(values), FittedFeature::Numeric { stats }) => {
                    FeatureValue::Number(denormalize(values[row], spec.normalize, stats))
                }
                (Column::Categorical(ids), FittedFeature::Tokens { vocab, .. }) => {
                    FeatureValue::Tokens(vocab.token(ids[row]).map(|t| vec![t.to_string()]).unwrap_or_default())
                }
                (Column::Multi { offsets, values }, FittedFeature::Tokens { vocab, .. }) => FeatureValue::Tokens(
                    values[offsets[row] as usize..offsets[row + 1] as usize]
                        .iter()
                        .filter_map(|&id| vocab.token(id).map(str::to_string))
                        .collect(),
                ),
                _ => FeatureValue::Tokens(Vec::new()),
            };
            features.insert(spec.name.clone(), value);
        }
        Event {
            v: EVENT_FORMAT_VERSION,
            id: data.example_ids[row],
            ts: data.timestamps.as_ref().map_or(0, |ts| ts[row]),
            label: data.labels[row],
            features,
        }
    }
}

/// The inverse of [`normalize`] (after [`pre_transform`]).
fn denormalize(y: f32, mode: Normalize, stats: &crate::numeric::NumericStats) -> f64 {
    let y = f64::from(y);
    let std = if stats.std > 0.0 { stats.std } else { 1.0 };
    match mode {
        Normalize::Zscore => y * std + stats.mean,
        Normalize::Log1p => (y * std + stats.mean).exp_m1(),
        Normalize::Minmax => stats.min + y * (stats.max - stats.min),
        Normalize::None => y,
    }
}

/// Encodes events with `encoder` (the teacher's vocabularies and statistics) into a dataset
/// whose features match the encoder's schema: unseen tokens map to OOV, numbers are
/// normalised like at training time. A missing feature or a value of the wrong shape is an
/// error naming the event.
pub fn encode_events(encoder: &Arc<Encoder>, events: &[Event]) -> Result<Dataset> {
    let specs = &encoder.schema.features;
    let mut columns: Vec<Column> = specs
        .iter()
        .map(|f| match f.kind {
            FeatureKind::Categorical => Column::Categorical(Vec::with_capacity(events.len())),
            FeatureKind::Numeric => Column::Numeric(Vec::with_capacity(events.len())),
            FeatureKind::MultiCategorical | FeatureKind::Sequence => Column::Multi { offsets: vec![0], values: Vec::new() },
        })
        .collect();
    for event in events {
        for ((spec, fitted), column) in specs.iter().zip(&encoder.features).zip(columns.iter_mut()) {
            let bad = |what: &str| DataError::Invalid(format!("event {}: feature \"{}\": {what}", event.id, spec.name));
            let value = event.features.get(&spec.name).ok_or_else(|| bad("missing"))?;
            match (column, fitted, value) {
                (Column::Numeric(values), FittedFeature::Numeric { stats }, FeatureValue::Number(x)) => {
                    if !x.is_finite() {
                        return Err(bad("not a finite number"));
                    }
                    let x = pre_transform(*x, spec.normalize).map_err(|e| bad(&e))?;
                    values.push(normalize(x, spec.normalize, stats));
                }
                (Column::Categorical(ids), FittedFeature::Tokens { vocab, .. }, FeatureValue::Tokens(tokens)) => {
                    ids.push(tokens.first().map_or(crate::vocab::OOV_ID, |t| vocab.id(t)));
                }
                (Column::Multi { offsets, values }, FittedFeature::Tokens { vocab, .. }, FeatureValue::Tokens(tokens)) => {
                    let mut ids: Vec<u32> = tokens.iter().map(|t| vocab.id(t)).collect();
                    if let Some(max) = spec.max_len {
                        match spec.kind {
                            FeatureKind::Sequence => ids = ids.split_off(ids.len().saturating_sub(max)),
                            _ => ids.truncate(max),
                        }
                    }
                    values.extend(ids);
                    offsets.push(values.len() as u32);
                }
                (_, _, FeatureValue::Number(_)) => return Err(bad("expected a list of tokens, found a number")),
                (_, _, FeatureValue::Tokens(_)) => return Err(bad("expected a number, found tokens")),
            }
        }
    }
    let labels: Vec<f32> = events.iter().map(|e| e.label).collect();
    let meta = DatasetMeta {
        name: format!("{}-events", encoder.schema.name),
        rows: events.len(),
        label_rate: label_rate(&labels),
        features: encoder.feature_metas(),
        has_timestamp: true,
        user_feature: encoder.schema.user.clone(),
        item_feature: encoder.schema.item.clone(),
        schema_hash: String::new(),
        source_rows_read: events.len() as u64,
        source_rows_skipped: 0,
    };
    Ok(Dataset {
        meta,
        columns,
        labels,
        example_ids: events.iter().map(|e| e.id).collect(),
        timestamps: Some(events.iter().map(|e| e.ts).collect()),
        encoder: Some(encoder.clone()),
    })
}
