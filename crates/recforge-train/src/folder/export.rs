//! Writing the self-contained parts of a model folder (see the [module docs](super)).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use recforge_data::{Encoder, Schema};

use super::metadata::{ModelMetadata, TableMeta};
use super::tensors::{NamedTensor, dense_tensors, write_safetensors};
use super::{DENSE_PREFIX, EMBEDDING_PREFIX, Files};
use crate::run::{RunConfig, RunDir, RunError};
use crate::trainer::TrainedModel;

/// Write `schema.toml` (+ `side/`), `encoder.json`, `model.safetensors` and `metadata.json`
/// into `dir`; returns `config` with its schema path relative to the folder, ready to save
/// as `config.toml`.
pub fn write_model_folder(
    dir: &RunDir,
    config: &RunConfig,
    schema: &Schema,
    encoder: &Arc<Encoder>,
    trained: &TrainedModel,
) -> Result<RunConfig, RunError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, source }
    };
    let mut copied = schema.clone();
    // The main file stays where it is (only `recforge eval` on the training splits reads it):
    // make its path absolute so it still resolves from inside the folder.
    copied.source.path = std::fs::canonicalize(&schema.source.path).unwrap_or_else(|_| {
        std::env::current_dir().map_or_else(|_| schema.source.path.clone(), |cwd| cwd.join(&schema.source.path))
    });
    for (i, join) in copied.joins.iter_mut().enumerate() {
        let file = join.path.file_name().map_or_else(|| format!("join{i}"), |n| n.to_string_lossy().into_owned());
        let side = dir.file(Files::SIDE);
        std::fs::create_dir_all(&side).map_err(io(&side))?;
        let in_folder = join.path.parent().and_then(|p| p.canonicalize().ok()) == side.canonicalize().ok();
        // A re-saved folder's joins already live in its side/ folder.
        let relative = PathBuf::from(Files::SIDE).join(if in_folder { file } else { format!("{i}-{file}") });
        if !in_folder {
            std::fs::copy(&join.path, dir.file(&relative.to_string_lossy())).map_err(io(&join.path))?;
        }
        join.path = relative;
    }
    let text = toml::to_string_pretty(&copied)
        .map_err(|e| RunError::Config { path: dir.file(Files::SCHEMA), message: e.to_string() })?;
    dir.write(Files::SCHEMA, text.as_bytes())?;
    encoder.save(&dir.file(Files::ENCODER))?;

    let mut tensors: Vec<(String, NamedTensor)> = dense_tensors(&trained.model, 1)
        .into_iter()
        .map(|(name, t)| (format!("{DENSE_PREFIX}{name}"), t))
        .collect();
    let layout = encoder_layout(encoder)?;
    let mut tables = Vec::new();
    for (i, spec) in trained.store.specs().iter().enumerate() {
        tensors.push((
            format!("{EMBEDDING_PREFIX}{}", spec.name),
            NamedTensor { shape: vec![spec.rows, spec.dim], values: trained.store.table(i).to_vec() },
        ));
        let bag = layout.sparse.get(i).is_some_and(|f| f.bag);
        tables.push(TableMeta { name: spec.name.clone(), cardinality: spec.cardinality, rows: spec.rows, dim: spec.dim, bag });
    }
    let metadata = ModelMetadata::now(config.name(), trained.config.name(), &layout, tables);
    let header = HashMap::from([
        ("format".to_string(), super::metadata::FORMAT.to_string()),
        ("model".to_string(), metadata.model.clone()),
    ]);
    let weights = dir.file(Files::WEIGHTS);
    write_safetensors(&weights, &tensors, header).map_err(|message| RunError::Weights { path: weights, message })?;
    dir.write_json(Files::METADATA, &metadata)?;
    let mut relative = config.clone();
    relative.data.schema = PathBuf::from(Files::SCHEMA);
    Ok(relative)
}

/// The feature layout a dataset encoded with `encoder` has.
pub(crate) fn encoder_layout(encoder: &Arc<Encoder>) -> Result<recforge_data::FeatureLayout, recforge_data::DataError> {
    Ok(recforge_data::encode_events(encoder, &[])?.layout())
}

/// Copy the model folder `from` to `to` (created; must not exist or be empty): the files
/// scoring needs (schema, `side/`, encoder, weights, metadata, config) plus the run's
/// `metrics.json` and `history.json` when present. The copy loads anywhere.
pub fn copy_model_folder(from: &Path, to: &Path) -> Result<(), RunError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, source }
    };
    if to.exists() && std::fs::read_dir(to).map_err(io(to))?.next().is_some() {
        return Err(RunError::Io {
            path: to.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the destination folder is not empty; pick a new path"),
        });
    }
    std::fs::create_dir_all(to).map_err(io(to))?;
    let required = [Files::SCHEMA, Files::ENCODER, Files::WEIGHTS, Files::METADATA, RunDir::CONFIG];
    for name in required.into_iter().chain([RunDir::METRICS, RunDir::HISTORY]) {
        let source = from.join(name);
        if source.is_file() {
            std::fs::copy(&source, to.join(name)).map_err(io(&source))?;
        } else if required.contains(&name) {
            return Err(RunError::Io { path: source, source: std::io::Error::new(std::io::ErrorKind::NotFound, "missing from the model folder") });
        }
    }
    let side = from.join(Files::SIDE);
    if side.is_dir() {
        let target = to.join(Files::SIDE);
        std::fs::create_dir_all(&target).map_err(io(&target))?;
        for entry in std::fs::read_dir(&side).map_err(io(&side))? {
            let entry = entry.map_err(io(&side))?;
            if entry.path().is_file() {
                std::fs::copy(entry.path(), target.join(entry.file_name())).map_err(io(&entry.path()))?;
            }
        }
    }
    Ok(())
}
