//! The second prepare pass (and evaluation-time encoding): stream the file again and append
//! each row's ids and normalised values straight into column vectors. Scoring streams a file
//! in chunks instead ([`ChunkedFile`]), so a file larger than memory scores in bounded
//! space.

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
#[derive(Clone, Copy)]
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
    mut chunks: Option<(usize, &mut dyn FnMut(Encoded) -> Result<()>)>,
) -> Result<Encoded> {
    let rows = match plan {
        Plan::Checked { rows_kept, .. } => rows_kept as usize,
        Plan::Unchecked => 0,
    };
    let new_columns = |rows: usize| -> Vec<Column> {
        schema
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
        .collect()
    };
    let mut columns = new_columns(rows);
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
        progress.tick(rows_read, reader.bytes_read(), reader.path())?;
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
        if let Some((size, sink)) = chunks.as_mut()
            && labels.len() >= *size
        {
            let full = *size;
            sink(Encoded {
                columns: std::mem::replace(&mut columns, new_columns(full)),
                labels: std::mem::replace(&mut labels, Vec::with_capacity(full)),
                example_ids: std::mem::replace(&mut example_ids, Vec::with_capacity(full)),
                timestamps: timestamps.as_mut().map(|ts| std::mem::replace(ts, Vec::with_capacity(full))),
                rows_read,
                skipped: Skipped::new(skip_bad_rows),
            })?;
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
        None,
    )?;
    let mut file_schema = schema.clone();
    file_schema.source.path = path.to_path_buf();
    let hash = schema_hash(&file_schema)?;
    assemble(&file_schema, encoded, Arc::new(encoder.clone()), 0, hash)
}

/// How [`ChunkedFile::run`] reads a file to score.
pub struct ChunkOptions<'a> {
    /// Rows per chunk handed to the caller.
    pub chunk_rows: usize,
    /// Skip malformed rows (counted, first messages kept) instead of failing on the first.
    pub skip_bad_rows: bool,
    /// Told the bytes read every ~64k rows.
    pub progress: &'a dyn crate::progress::Progress,
}

/// What [`ChunkedFile::run`] read.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChunkReport {
    /// Data rows read from the file, kept or skipped.
    pub rows_read: u64,
    /// Rows handed to the caller.
    pub rows_encoded: u64,
    /// Malformed rows skipped (only with `skip_bad_rows`).
    pub rows_skipped: u64,
    /// The first skipped rows' errors (file, line, field).
    pub skipped_messages: Vec<String>,
}

/// A file opened for scoring: the schema's raw columns read in chunks through a fitted
/// encoder ([`ChunkedFile::run`]), so a file larger than memory scores in bounded space. The
/// label, the timestamp and the example id are optional (read when the file has them);
/// unseen tokens map to OOV; joins come from the schema. A malformed row is an error naming
/// the file, line and field unless the caller asks to skip it.
pub struct ChunkedFile {
    schema: Schema,
    encoder: Arc<Encoder>,
    reader: Box<dyn RowReader>,
    decoder: Decoder,
}

impl ChunkedFile {
    /// Open `path` as the main file of `schema` (whose features must match `encoder`'s).
    pub fn open(schema: &Schema, encoder: &Arc<Encoder>, path: &Path) -> Result<ChunkedFile> {
        encoder.check_compatible(schema)?;
        let mut schema = schema.clone();
        schema.source.path = path.to_path_buf();
        // Rows to score may come as CSV, TSV or Parquet whatever the training file was: the
        // extension decides among those three (RecBole and OBD files keep their format).
        let generic = [crate::reader::Format::Auto, crate::reader::Format::Csv, crate::reader::Format::Tsv, crate::reader::Format::Parquet];
        if generic.contains(&schema.source.format)
            && let Ok(format) = crate::reader::Format::Auto.resolve(path)
            && generic.contains(&format)
        {
            if format != schema.source.format {
                schema.source.delimiter = None;
            }
            schema.source.format = format;
        }
        let (reader, tables) = Tables::open(&schema, path)?;
        Self::with_tables(schema, encoder, reader, tables)
    }

    /// Rows already in memory as Arrow record batches (e.g. a pyarrow table), with `name`
    /// standing for the file in error messages; the batches carry the schema's raw columns
    /// (the label and example id are optional).
    pub fn from_batches(
        schema: &Schema,
        encoder: &Arc<Encoder>,
        name: &Path,
        arrow_schema: &arrow_schema::Schema,
        batches: crate::reader::RecordBatches,
        total_rows: u64,
    ) -> Result<ChunkedFile> {
        encoder.check_compatible(schema)?;
        let reader = crate::reader::ArrowRowReader::from_batches(name, arrow_schema, batches, total_rows, &schema.source.read_options())?;
        let tables = Tables::for_reader(schema, &reader)?;
        Self::with_tables(schema.clone(), encoder, Box::new(reader), tables)
    }

    fn with_tables(mut schema: Schema, encoder: &Arc<Encoder>, reader: Box<dyn RowReader>, tables: Tables) -> Result<ChunkedFile> {
        // Scoring needs the features only: the other special columns are read when present.
        if schema.label.as_ref().is_some_and(|l| tables.resolve(&l.column).is_err()) {
            schema.label = None;
        }
        schema.timestamp = None;
        if schema.example_id.as_ref().is_some_and(|c| tables.resolve(c).is_err()) {
            schema.example_id = None;
        }
        let mut decoder = Decoder::new(&schema, tables)?;
        for (slot, fitted) in decoder.slots.iter_mut().zip(&encoder.features) {
            if let FittedFeature::Tokens { separator, .. } = fitted {
                slot.separator.clone_from(separator);
            }
        }
        Ok(ChunkedFile { schema, encoder: encoder.clone(), reader, decoder })
    }

    /// Whether the file has the schema's example-id column; otherwise chunks carry 0-based
    /// data row numbers as example ids.
    pub fn has_example_id(&self) -> bool {
        self.schema.example_id.is_some()
    }

    /// Whether the file has the schema's label column; otherwise chunks carry 0 labels.
    pub fn has_label(&self) -> bool {
        self.schema.label.is_some()
    }

    /// Stream the file, calling `sink` with each chunk of `opts.chunk_rows` encoded rows (the
    /// last may be shorter) as a [`Dataset`].
    pub fn run(mut self, opts: &ChunkOptions, sink: &mut dyn FnMut(Dataset) -> Result<()>) -> Result<ChunkReport> {
        let path = self.reader.path().to_path_buf();
        let _phase = crate::progress::Phase::begin(
            opts.progress,
            &format!("scoring {}", path.display()),
            Some(self.reader.total_bytes()),
            crate::progress::Unit::Bytes,
        );
        let progress = Progress::new(opts.progress);
        let (schema, encoder) = (&self.schema, &self.encoder);
        let mut rows_encoded = 0u64;
        let mut forward = |encoded: Encoded| -> Result<()> {
            if encoded.labels.is_empty() {
                return Ok(());
            }
            rows_encoded += encoded.labels.len() as u64;
            sink(chunk_dataset(schema, encoder, encoded))
        };
        let mut rest = encode_rows(
            &self.decoder,
            encoder,
            schema,
            self.reader.as_mut(),
            Plan::Unchecked,
            opts.skip_bad_rows,
            &progress,
            Some((opts.chunk_rows.max(1), &mut forward)),
        )?;
        let rows_read = rest.rows_read;
        let skipped = std::mem::take(&mut rest.skipped);
        forward(rest)?;
        Ok(ChunkReport {
            rows_read,
            rows_encoded,
            rows_skipped: skipped.count,
            skipped_messages: skipped.messages,
        })
    }
}

/// One chunk of encoded rows as a dataset (no consistency checks beyond the encoder's).
fn chunk_dataset(schema: &Schema, encoder: &Arc<Encoder>, encoded: Encoded) -> Dataset {
    let rows = encoded.labels.len();
    Dataset {
        meta: DatasetMeta {
            name: schema.name.clone(),
            rows,
            label_rate: label_rate(&encoded.labels),
            features: encoder.feature_metas(),
            has_timestamp: false,
            user_feature: schema.user.clone(),
            item_feature: schema.item.clone(),
            schema_hash: String::new(),
            source_rows_read: encoded.rows_read,
            source_rows_skipped: 0,
        },
        columns: encoded.columns,
        labels: encoded.labels,
        example_ids: encoded.example_ids,
        timestamps: None,
        encoder: Some(encoder.clone()),
    }
}
