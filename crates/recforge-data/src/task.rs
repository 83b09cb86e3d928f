//! [`Task`]: a schema's data prepared (or loaded from the cache), split, and given sampled
//! negatives when the schema asks for them — what every training, evaluation and
//! distillation use case starts from.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::negatives::sample_negatives_into_split;
use crate::prepare::{PrepareOptions, PrepareReport, prepare};
use crate::progress::Progress;
use crate::schema::Schema;
use crate::split::Split;

/// A prepared dataset, its split, and the schema that declared both.
pub struct Task {
    pub schema: Schema,
    pub dataset: Dataset,
    pub split: Split,
    pub prepared: PrepareReport,
}

/// How to prepare a task's data.
#[derive(Debug, Clone)]
pub struct TaskOptions {
    /// Root of the prepared-data cache (default `$RECFORGE_DATA/prepared`).
    pub cache_dir: PathBuf,
    /// Skip malformed rows (counted and reported) instead of failing on the first.
    pub skip_bad_rows: bool,
    /// Rebuild the cache entry even when one exists.
    pub force: bool,
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions { cache_dir: crate::paths::prepared_cache_dir(), skip_bad_rows: false, force: false }
    }
}

impl TaskOptions {
    /// The options as [`prepare`] takes them, reporting to `progress`.
    pub fn prepare_options<'a>(&self, progress: &'a dyn Progress) -> PrepareOptions<'a> {
        PrepareOptions {
            cache_dir: self.cache_dir.clone(),
            skip_bad_rows: self.skip_bad_rows,
            force: self.force,
            progress,
        }
    }
}

impl Task {
    /// Reads the schema at `schema_path`, then [`Task::from_schema`].
    pub fn load(schema_path: &Path, options: &TaskOptions, progress: &dyn Progress) -> Result<Task> {
        let schema = Schema::from_toml_file(schema_path)?;
        Task::from_schema(schema, options, progress)
    }

    /// Prepares (or loads from the cache) the data `schema` declares and splits it; when the
    /// schema asks for sampled negatives they are added per split, after splitting, so no
    /// negative of a test positive leaks into training.
    pub fn from_schema(schema: Schema, options: &TaskOptions, progress: &dyn Progress) -> Result<Task> {
        let (dataset, prepared) = prepare(&schema, &options.prepare_options(progress))?;
        let split = dataset.split(&schema.split)?;
        let (dataset, split) = match &schema.negatives {
            Some(negatives) => sample_negatives_into_split(&dataset, &split, negatives.per_positive, negatives.seed)?,
            None => (dataset, split),
        };
        Ok(Task { schema, dataset, split, prepared })
    }

    /// Writes the part of every row ([`Split::assignment_csv`]) to `path`, so another tool can
    /// train and test on exactly these rows. Refused when preparing skipped source rows or the
    /// schema added sampled negatives: dataset rows would no longer be the file's data rows.
    pub fn write_split_assignment(&self, path: &Path) -> Result<()> {
        let source = &self.schema.source.path;
        if self.dataset.meta.source_rows_skipped > 0 {
            return Err(DataError::format(
                source,
                format!(
                    "{} rows were skipped while preparing, so dataset rows no longer match the file's \
                     rows; fix them (recforge data prepare names them) before exporting the split",
                    self.dataset.meta.source_rows_skipped
                ),
            ));
        }
        if self.schema.negatives.is_some() {
            return Err(DataError::format(
                source,
                "the schema adds sampled negatives, which are not rows of the file; export the split \
                 of a schema without [negatives]",
            ));
        }
        std::fs::write(path, self.split.assignment_csv()).map_err(|e| DataError::io(path, e))
    }
}
