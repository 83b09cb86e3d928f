//! Hiformer's serving optimisations (arXiv 2311.05884, §4.4) as a model-to-model export:
//! every composite Q/K/V projection `Ŵ` is replaced by its rank-r truncated SVD `D U`
//! (`L·d → r → L·d_k`), and the last layer computes outputs for the task tokens only (the
//! only rows the head reads), which is exact. The exported config rebuilds the same shapes.

use crate::ranking::hiformer::{Hiformer, HiformerConfig};

/// Errors of the serving export.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    #[error("rank must be at least 1")]
    ZeroRank,
}

/// The serving form of `model`: Q/K/V factorised to `rank` (None keeps them as they are) and
/// the last layer pruned to the task tokens when `prune_last_layer`. Returns the model and the
/// config that rebuilds its shapes (for saving and loading the export).
pub fn to_serving(
    model: Hiformer,
    config: &HiformerConfig,
    rank: Option<usize>,
    prune_last_layer: bool,
) -> Result<(Hiformer, HiformerConfig), ServingError> {
    if rank == Some(0) {
        return Err(ServingError::ZeroRank);
    }
    let mut exported = config.clone();
    exported.prune_last_layer = prune_last_layer || config.prune_last_layer;
    let layers = match rank {
        Some(r) => {
            let layers: Vec<_> = model.layers.into_iter().map(|layer| layer.low_rank(r)).collect();
            // The rank actually kept (clamped to the matrix size) is what the config must rebuild.
            exported.low_rank = layers.first().and_then(|l| l.composite_rank()).or(Some(r));
            layers
        }
        None => model.layers,
    };
    Ok((Hiformer { layers, prune_last_layer: exported.prune_last_layer, ..model }, exported))
}
