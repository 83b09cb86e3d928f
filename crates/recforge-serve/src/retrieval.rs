//! The retrieval half of the service: a retrieval run (user tower + item vectors) loaded once
//! behind exact or graph (hnsw_rs, USearch) top-K search, answering `POST /v1/retrieve`.

use recforge_models::retrieval::{HnswIndex, HnswParams, MipsIndex, UsearchIndex};
use recforge_train::retrieval::RetrievalRun;
use recforge_train::retrieval::run::{ItemVectors, VECTORS};

use crate::ServeError;
use crate::config::{RetrievalServeConfig, SearchIndex};

/// A loaded retrieval run and the index it searches.
pub struct RetrievalService {
    pub run: RetrievalRun,
    pub index: SearchIndex,
    /// The `[retrieval]` table it was loaded from (its request limits apply).
    pub config: RetrievalServeConfig,
}

impl RetrievalService {
    /// Loads the run the config names and, for `hnsw`, builds the graph over its item vectors.
    pub fn load(config: &RetrievalServeConfig) -> Result<RetrievalService, ServeError> {
        let dir = &config.run;
        let model_error = |message: String| ServeError::Model { path: dir.display().to_string(), message };
        let mut run = RetrievalRun::load(dir).map_err(|e| model_error(format!("not a retrieval run (written by `recforge train` on a sequential config, or `recforge retrieval-zoo`): {e}")))?;
        if config.index != SearchIndex::Exact {
            let path = dir.join(VECTORS);
            if !path.exists() {
                return Err(model_error(format!("{} has no item vectors ({} scores items from the history directly, as EASE does); serve it with the exact index", dir.display(), run.info.model)));
            }
            let bytes = std::fs::read(&path).map_err(|e| model_error(format!("{}: {e}", path.display())))?;
            let vectors: ItemVectors = serde_json::from_slice(&bytes).map_err(|e| model_error(format!("{}: {e}", path.display())))?;
            let params = HnswParams { ef_search: config.ef, ..HnswParams::default() };
            let index: Box<dyn MipsIndex> = match config.index {
                SearchIndex::Usearch => Box::new(UsearchIndex::build(vectors.vectors, vectors.dim, params).map_err(|e| model_error(e.to_string()))?),
                _ => Box::new(HnswIndex::build(vectors.vectors, vectors.dim, params)),
            };
            run.retriever = run.retriever.with_index(index);
        }
        Ok(RetrievalService { run, index: config.index, config: config.clone() })
    }
}
