//! The retrieval half of the service: a retrieval run (user tower + item vectors) loaded once
//! behind exact or graph (hnsw_rs, USearch) top-K search, answering `POST /v1/retrieve`.

use recforge_models::retrieval::search::calibrated;
use recforge_models::retrieval::{HnswIndex, HnswParams, MipsIndex, UsearchIndex};
use recforge_train::retrieval::RetrievalRun;
use recforge_train::retrieval::run::{ItemVectors, VECTORS};

use crate::ServeError;
use crate::config::{AUTO_TARGET_RECALL, RetrievalServeConfig, SearchIndex};

/// A loaded retrieval run and the index it searches.
pub struct RetrievalService {
    pub run: RetrievalRun,
    pub index: SearchIndex,
    /// The `[retrieval]` table it was loaded from (its request limits apply).
    pub config: RetrievalServeConfig,
}

impl RetrievalService {
    /// Loads the run the config names and, for a graph index (`hnsw`, `usearch`, or `auto` on a
    /// large catalogue), builds the graph over its item vectors.
    pub fn load(config: &RetrievalServeConfig) -> Result<RetrievalService, ServeError> {
        let dir = &config.run;
        let model_error = |message: String| ServeError::Model { path: dir.display().to_string(), message };
        let mut run = RetrievalRun::load(dir).map_err(|e| model_error(format!("not a retrieval run (written by `recforge train` on a sequential config, or `recforge retrieval-zoo`): {e}")))?;
        let path = dir.join(VECTORS);
        let vectors = if config.index == SearchIndex::Exact || !path.exists() {
            None
        } else {
            let bytes = std::fs::read(&path).map_err(|e| model_error(format!("{}: {e}", path.display())))?;
            Some(serde_json::from_slice::<ItemVectors>(&bytes).map_err(|e| model_error(format!("{}: {e}", path.display())))?)
        };
        let mut index = config.index.resolve(vectors.as_ref().map(|v| v.vectors.len() / v.dim.max(1)));
        let params = HnswParams { ef_search: config.ef, ..HnswParams::default() };
        let graph: Option<Box<dyn MipsIndex>> = match (index, vectors) {
            (SearchIndex::Exact | SearchIndex::Auto, _) => None,
            (_, None) => {
                return Err(model_error(format!("{} has no item vectors ({} scores items from the history directly, as EASE does); serve it with the exact index", dir.display(), run.info.model)));
            }
            // `auto` on a large catalogue: USearch at the smallest ef that reaches the target
            // recall on the catalogue's own vectors, else exact search.
            (SearchIndex::Usearch, Some(v)) if config.index == SearchIndex::Auto => {
                let (graph, calibration) = calibrated(v.vectors, v.dim, params, AUTO_TARGET_RECALL).map_err(|e| model_error(e.to_string()))?;
                match calibration.ef {
                    Some(ef) => {
                        tracing::info!("index auto: usearch at ef {ef} (recall@10 {:.3} on 200 item probes)", calibration.recall);
                        Some(Box::new(graph))
                    }
                    None => {
                        tracing::info!("index auto: exact search (usearch reached recall@10 {:.3} < {AUTO_TARGET_RECALL} at ef 512)", calibration.recall);
                        index = SearchIndex::Exact;
                        None
                    }
                }
            }
            (SearchIndex::Usearch, Some(v)) => Some(Box::new(UsearchIndex::build(v.vectors, v.dim, params).map_err(|e| model_error(e.to_string()))?)),
            (SearchIndex::Hnsw, Some(v)) => Some(Box::new(HnswIndex::build(v.vectors, v.dim, params))),
        };
        if let Some(graph) = graph {
            run.retriever = run.retriever.with_index(graph);
        }
        Ok(RetrievalService { run, index, config: config.clone() })
    }
}
