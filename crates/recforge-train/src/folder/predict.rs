//! `recforge predict`: stream a CSV, TSV or Parquet file through a [`ScoringModel`] into a
//! scores file (CSV, TSV or Parquet by the output's extension): one row per scored input row,
//! the example id (the schema's example-id column, or the 0-based data row number) and the
//! click probability.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float32Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use recforge_data::{ChunkOptions, ChunkedFile, DataError, Progress};
use serde::{Deserialize, Serialize};

use super::scoring::{ScoringError, ScoringModel};

/// How [`ScoringModel::predict_file`] runs.
#[derive(Debug, Clone, Default)]
pub struct PredictOptions {
    /// Examples per forward pass (default: the run's `eval_batch_size`).
    pub batch_size: Option<usize>,
    /// Skip malformed rows (counted, the first messages reported) instead of failing.
    pub skip_bad_rows: bool,
}

/// What [`ScoringModel::predict_file`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictReport {
    pub model: String,
    pub data: PathBuf,
    pub out: PathBuf,
    /// `example_id` (the file's) or `row` (0-based data row numbers).
    pub id_column: String,
    pub rows_read: u64,
    pub rows_scored: u64,
    pub rows_skipped: u64,
    pub skipped_messages: Vec<String>,
    pub seconds: f64,
    pub rows_per_sec: f64,
}

impl PredictReport {
    /// What `recforge predict` prints: rows scored, speed, where, and the skipped rows.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "scored {} rows of {} with {} ({:.0} rows/s) into {}\n",
            self.rows_scored,
            self.data.display(),
            self.model,
            self.rows_per_sec,
            self.out.display()
        );
        if self.rows_skipped > 0 {
            out += &format!("skipped {} malformed rows; first ones:\n", self.rows_skipped);
            self.skipped_messages.iter().for_each(|m| out += &format!("  {m}\n"));
        }
        out
    }
}

/// Where scores go.
trait ScoreSink {
    fn write(&mut self, ids: &[u64], scores: &[f32]) -> Result<(), String>;
    fn finish(self: Box<Self>) -> Result<(), String>;
}

struct DelimitedSink {
    out: BufWriter<File>,
    delimiter: char,
}

impl ScoreSink for DelimitedSink {
    fn write(&mut self, ids: &[u64], scores: &[f32]) -> Result<(), String> {
        for (id, score) in ids.iter().zip(scores) {
            writeln!(self.out, "{id}{}{score}", self.delimiter).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), String> {
        self.out.flush().map_err(|e| e.to_string())?;
        self.out.get_ref().sync_all().map_err(|e| e.to_string())
    }
}

struct ParquetSink {
    writer: ArrowWriter<File>,
    schema: Arc<ArrowSchema>,
}

impl ScoreSink for ParquetSink {
    fn write(&mut self, ids: &[u64], scores: &[f32]) -> Result<(), String> {
        let columns: Vec<ArrayRef> =
            vec![Arc::new(UInt64Array::from(ids.to_vec())), Arc::new(Float32Array::from(scores.to_vec()))];
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())?;
        self.writer.write(&batch).map_err(|e| e.to_string())
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        self.writer.close().map(|_| ()).map_err(|e| e.to_string())
    }
}

/// A sink for `out`, by its extension; the header names the id column `id_column`.
fn open_sink(out: &Path, id_column: &str) -> Result<Box<dyn ScoreSink>, String> {
    let extension = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let create = || File::create(out).map_err(|e| e.to_string());
    match extension.as_deref() {
        Some("parquet") => {
            let schema = Arc::new(ArrowSchema::new(vec![
                Field::new(id_column, DataType::UInt64, false),
                Field::new("score", DataType::Float32, false),
            ]));
            let writer = ArrowWriter::try_new(create()?, schema.clone(), None).map_err(|e| e.to_string())?;
            Ok(Box::new(ParquetSink { writer, schema }))
        }
        Some(ext @ ("csv" | "tsv")) => {
            let delimiter = if ext == "tsv" { '\t' } else { ',' };
            let mut out = BufWriter::new(create()?);
            writeln!(out, "{id_column}{delimiter}score").map_err(|e| e.to_string())?;
            Ok(Box::new(DelimitedSink { out, delimiter }))
        }
        _ => Err("unknown output format; name the file *.csv, *.tsv or *.parquet".into()),
    }
}

/// The id column of the scores: `example_id` when the data has the schema's example-id
/// column, else `row` (0-based data row numbers).
fn id_column(file: &ChunkedFile) -> &'static str {
    if file.has_example_id() { "example_id" } else { "row" }
}

/// Scores of rows collected in memory ([`ScoringModel::predict_batches`],
/// [`ScoringModel::predict_to_memory`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InMemoryScores {
    /// `example_id` (the data's) or `row` (0-based data row numbers).
    pub id_column: String,
    pub ids: Vec<u64>,
    pub scores: Vec<f32>,
    /// The rows' labels when the data has the schema's label column.
    pub labels: Option<Vec<f32>>,
    pub rows_read: u64,
    pub rows_skipped: u64,
    pub skipped_messages: Vec<String>,
}

impl ScoringModel {
    /// Score rows already in memory as Arrow record batches (a pyarrow table handed over
    /// through the Arrow C data interface), with `name` standing for the data in errors.
    pub fn predict_batches(
        &self,
        name: &Path,
        arrow_schema: &ArrowSchema,
        batches: recforge_data::reader::RecordBatches,
        total_rows: u64,
        options: &PredictOptions,
        progress: &dyn Progress,
    ) -> Result<InMemoryScores, ScoringError> {
        let file = ChunkedFile::from_batches(&self.schema, &self.encoder, name, arrow_schema, batches, total_rows)?;
        self.collect(file, options, progress)
    }

    /// Score every row of the CSV, TSV or Parquet file `data` into memory.
    pub fn predict_to_memory(&self, data: &Path, options: &PredictOptions, progress: &dyn Progress) -> Result<InMemoryScores, ScoringError> {
        let file = ChunkedFile::open(&self.schema, &self.encoder, data)?;
        self.collect(file, options, progress)
    }

    /// Examples per forward pass: the options', else the run's `eval_batch_size`.
    fn batch_size(&self, options: &PredictOptions) -> usize {
        options.batch_size.unwrap_or_else(|| self.default_batch_size()).max(1)
    }

    fn collect(&self, file: ChunkedFile, options: &PredictOptions, progress: &dyn Progress) -> Result<InMemoryScores, ScoringError> {
        let batch_size = self.batch_size(options);
        let id_column = id_column(&file);
        let mut labels = file.has_label().then(Vec::new);
        let mut out = InMemoryScores { id_column: id_column.to_string(), ..Default::default() };
        let chunk = ChunkOptions { chunk_rows: batch_size, skip_bad_rows: options.skip_bad_rows, progress };
        let read = file.run(&chunk, &mut |dataset| {
            out.scores.extend(self.score_dataset(&dataset, batch_size));
            out.ids.extend_from_slice(&dataset.example_ids);
            if let Some(labels) = labels.as_mut() {
                labels.extend_from_slice(&dataset.labels);
            }
            Ok(())
        })?;
        out.labels = labels;
        out.rows_read = read.rows_read;
        out.rows_skipped = read.rows_skipped;
        out.skipped_messages = read.skipped_messages;
        Ok(out)
    }

    /// Score every row of `data` (the schema's raw columns; the label is optional) into `out`.
    pub fn predict_file(
        &self,
        data: &Path,
        out: &Path,
        options: &PredictOptions,
        progress: &dyn Progress,
    ) -> Result<PredictReport, ScoringError> {
        let started = Instant::now();
        let batch_size = self.batch_size(options);
        let file = ChunkedFile::open(&self.schema, &self.encoder, data)?;
        let id_column = id_column(&file);
        let output = |message: String| ScoringError::Output { path: out.to_path_buf(), message };
        let mut sink = open_sink(out, id_column).map_err(output)?;
        let chunk = ChunkOptions { chunk_rows: batch_size, skip_bad_rows: options.skip_bad_rows, progress };
        let mut write_error = None;
        let read = file.run(&chunk, &mut |dataset| {
            let scores = self.score_dataset(&dataset, batch_size);
            sink.write(&dataset.example_ids, &scores).map_err(|message| {
                write_error = Some(message.clone());
                DataError::Invalid(format!("writing {}: {message}", out.display()))
            })
        });
        if let Some(message) = write_error {
            return Err(output(message));
        }
        let read = read?;
        sink.finish().map_err(output)?;
        let seconds = started.elapsed().as_secs_f64();
        Ok(PredictReport {
            model: self.name().to_string(),
            data: data.to_path_buf(),
            out: out.to_path_buf(),
            id_column: id_column.to_string(),
            rows_read: read.rows_read,
            rows_scored: read.rows_encoded,
            rows_skipped: read.rows_skipped,
            skipped_messages: read.skipped_messages,
            seconds,
            rows_per_sec: read.rows_encoded as f64 / seconds.max(1e-9),
        })
    }
}
