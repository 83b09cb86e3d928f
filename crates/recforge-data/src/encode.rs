//! The second prepare pass (and evaluation-time encoding): stream the file again and append
//! each row's ids and normalised values straight into column vectors.

use std::path::Path;
use std::sync::Arc;

use crate::PrepareOptions;
use crate::cache::schema_hash;
use crate::dataset::{Column, Dataset, DatasetMeta, label_rate};
use crate::decode::{Decoded, Decoder};
use crate::encoder::{Encoder, FittedFeature};
use crate::error::{DataError, Result};
use crate::join::Tables;
use crate::numeric::normalize;
use crate::reader::{Row, RowReader};
use crate::rows::{Progress, RowSet, Skipped};
use crate::schema::{FeatureKind, Schema};

/// What the second pass knows from the first.
pub(crate) enum Plan<'a> {
    /// Prepare: skip exactly the rows pass 1 skipped, with exact capacities; any new error
    /// means the file changed between the passes.
    Checked {
        bad_rows: &'a RowSet,
        rows_kept: u64,
        bag_values: &'a [u64],
    },
    /// A new file (evaluation): apply the skip policy as rows come.
    Unchecked,
}

/// Encoded rows before they become a [`Dataset`].
pub(crate) struct Encoded {
    pub columns: Vec<Column>,
    pub labels: Vec<f32>,
    pub example_ids: Vec<u64>,
    pub timestamps: Option<Vec<i64>>,
    pub rows_read: u64,
    pub skipped: Skipped,
}

pub(crate) fn encode_rows(
    decoder: &Decoder,
    encoder: &Encoder,
    schema: &Schema,
    reader: &mut dyn RowReader,
    plan: Plan,
    skip_bad_rows: bool,
    progress: &Progress,
) -> Result<Encoded> {
    let rows = match plan {
        Plan::Checked { rows_kept, .. } => rows_kept as usize,
        Plan::Unchecked => 0,
    };
    let mut columns: Vec<Column> = schema
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| match f.kind {
            FeatureKind::Categorical => Column::Categorical(Vec::with_capacity(rows)),
            FeatureKind::Numeric => Column::Numeric(Vec::with_capacity(rows)),
            FeatureKind::MultiCategorical | FeatureKind::Sequence => {
                let values = match plan {
                    Plan::Checked { bag_values, .. } => bag_values[i] as usize,
                    Plan::Unchecked => 0,
                };
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Column::Multi {
                    offsets,
                    values: Vec::with_capacity(values),
                }
            }
        })
        .collect();
    let mut labels = Vec::with_capacity(rows);
    let mut example_ids = Vec::with_capacity(rows);
    let mut timestamps = schema.timestamp.as_ref().map(|_| Vec::with_capacity(rows));
    let mut skipped = Skipped::new(skip_bad_rows);
    let mut row = Row::default();
    let mut decoded = Decoded::default();
    let mut rows_read = 0u64;
    while let Some(result) = reader.read_into(&mut row) {
        let index = rows_read;
        rows_read += 1;
        progress.tick(rows_read, reader.bytes_read());
        if let Plan::Checked { bad_rows, .. } = plan
            && bad_rows.contains(index)
        {
            continue;
        }
        if let Err(e) = result.and_then(|()| decoder.decode(&row, &mut decoded)) {
            match plan {
                Plan::Checked { .. } => {
                    return Err(DataError::format(
                        reader.path(),
                        format!("the file changed while it was being prepared ({e})"),
                    ));
                }
                Plan::Unchecked => {
                    skipped.record(e)?;
                    continue;
                }
            }
        }
        for (i, (column, fitted)) in columns.iter_mut().zip(&encoder.features).enumerate() {
            match (column, fitted) {
                (Column::Numeric(values), FittedFeature::Numeric { stats }) => {
                    values.push(normalize(
                        decoded.numbers[i].value,
                        decoder.slots[i].normalize,
                        stats,
                    ));
                }
                (Column::Categorical(ids), FittedFeature::Tokens { vocab, .. }) => {
                    let mut id = crate::vocab::OOV_ID;
                    decoder.for_each_token(i, &row, &decoded, |t| id = vocab.id(t));
                    ids.push(id);
                }
                (Column::Multi { offsets, values }, FittedFeature::Tokens { vocab, .. }) => {
                    decoder.for_each_token(i, &row, &decoded, |t| values.push(vocab.id(t)));
                    offsets.push(values.len() as u32);
                }
                _ => {
                    return Err(DataError::Invalid(format!(
                        "feature \"{}\": the encoder's fitted kind does not match the schema",
                        schema.features[i].name
                    )));
                }
            }
        }
        labels.push(decoded.label);
        example_ids.push(decoded.example_id.unwrap_or(index));
        if let (Some(ts), Some(t)) = (timestamps.as_mut(), decoded.timestamp) {
            ts.push(t);
        }
    }
    progress.report(rows_read, reader.bytes_read());
    Ok(Encoded {
        columns,
        labels,
        example_ids,
        timestamps,
        rows_read,
        skipped,
    })
}

/// Assembles a dataset from encoded rows.
pub(crate) fn assemble(
    schema: &Schema,
    encoded: Encoded,
    encoder: Arc<Encoder>,
    rows_skipped_before: u64,
    schema_hash: String,
) -> Result<Dataset> {
    let rows = encoded.labels.len();
    if rows == 0 {
        return Err(DataError::Invalid(format!(
            "{}: no usable data rows ({} read, {} skipped)",
            schema.source.path.display(),
            encoded.rows_read,
            encoded.skipped.count + rows_skipped_before
        )));
    }
    let meta = DatasetMeta {
        name: schema.name.clone(),
        rows,
        label_rate: label_rate(&encoded.labels),
        features: encoder.feature_metas(),
        has_timestamp: encoded.timestamps.is_some(),
        user_feature: schema.user.clone(),
        item_feature: schema.item.clone(),
        schema_hash,
        source_rows_read: encoded.rows_read,
        source_rows_skipped: encoded.skipped.count + rows_skipped_before,
    };
    let dataset = Dataset {
        meta,
        columns: encoded.columns,
        labels: encoded.labels,
        example_ids: encoded.example_ids,
        timestamps: encoded.timestamps,
        encoder: Some(encoder),
    };
    dataset.check_consistency().map_err(DataError::Invalid)?;
    Ok(dataset)
}

/// Encodes a new file (an evaluation log) with an already fitted encoder: same
/// vocabularies (unseen tokens → OOV), same numeric statistics, same joins. `schema` says
/// how to read the file (format, joins); its features must match the encoder's.
pub fn encode_file(
    schema: &Schema,
    encoder: &Encoder,
    path: &Path,
    opts: &PrepareOptions,
) -> Result<Dataset> {
    encoder.check_compatible(schema)?;
    let (mut reader, tables) = Tables::open(schema, path)?;
    let mut decoder = Decoder::new(schema, tables)?;
    for (slot, fitted) in decoder.slots.iter_mut().zip(&encoder.features) {
        if let FittedFeature::Tokens { separator, .. } = fitted {
            slot.separator.clone_from(separator);
        }
    }
    let progress = Progress::new(opts.progress);
    let encoded = encode_rows(
        &decoder,
        encoder,
        schema,
        reader.as_mut(),
        Plan::Unchecked,
        opts.skip_bad_rows,
        &progress,
    )?;
    let mut file_schema = schema.clone();
    file_schema.source.path = path.to_path_buf();
    let hash = schema_hash(&file_schema)?;
    assemble(&file_schema, encoded, Arc::new(encoder.clone()), 0, hash)
}
