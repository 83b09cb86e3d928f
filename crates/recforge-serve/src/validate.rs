//! Request validation that keeps the bandit state finite: every context a request can reach
//! the store with has distinct clusters, finite non-negative weights within the configured
//! bounds, and (for explicit contexts) unit L2 norm, so one feedback adds at most 1 to an
//! edge's Σ w² and at most |reward| to its Σ w·r. The store checks again before it writes
//! ([`crate::store::check_finite`]); this module is what turns bad input into a 422 that names
//! the offending field.

use recforge_bandit::ClusterContext;

use crate::config::InputLimits;
use crate::error::ApiError;

/// An explicit `"context"`: `[[cluster, weight], ...]` → a unit-norm [`ClusterContext`].
pub fn explicit_context(pairs: &[(u32, f64)], num_clusters: u32, limits: &InputLimits) -> Result<ClusterContext, ApiError> {
    if pairs.is_empty() {
        return Err(ApiError::unprocessable("\"context\" is empty"));
    }
    if pairs.len() > limits.max_context_clusters {
        return Err(ApiError::unprocessable(format!("\"context\" has {} pairs; at most {} (limits.max_context_clusters)", pairs.len(), limits.max_context_clusters)));
    }
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    for (i, &(cluster, weight)) in pairs.iter().enumerate() {
        if cluster >= num_clusters {
            return Err(ApiError::unprocessable(format!("context[{i}]: cluster {cluster} does not exist (0..{num_clusters})")));
        }
        if !seen.insert(cluster) {
            return Err(ApiError::unprocessable(format!("context[{i}]: cluster {cluster} is repeated; give each cluster once")));
        }
        if !weight.is_finite() || weight < 0.0 || weight > limits.max_weight {
            return Err(ApiError::unprocessable(format!("context[{i}]: weight {weight} must be finite, ≥ 0 and ≤ {} (limits.max_weight)", limits.max_weight)));
        }
    }
    // Scale by the largest weight first so that neither tiny nor large weights over- or
    // underflow in the norm.
    let largest = pairs.iter().map(|p| p.1).fold(0.0f64, f64::max);
    if largest <= 0.0 {
        return Err(ApiError::unprocessable("\"context\" weights are all 0; at least one must be > 0"));
    }
    let norm = largest * pairs.iter().map(|p| (p.1 / largest).powi(2)).sum::<f64>().sqrt();
    let context = ClusterContext::new(pairs.iter().map(|&(c, w)| (c, w / norm)));
    check_context(&context)?;
    Ok(context)
}

/// An `"embedding"` of a model with dimension `dim`.
pub fn embedding(values: &[f32], dim: usize, limits: &InputLimits) -> Result<(), ApiError> {
    if values.len() != dim {
        return Err(ApiError::unprocessable(format!("\"embedding\" must hold {dim} finite numbers, got {}", values.len())));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite() || f64::from(v.abs()) > limits.max_embedding_abs) {
        return Err(ApiError::unprocessable(format!(
            "\"embedding\" must hold {dim} finite numbers with |value| ≤ {} (limits.max_embedding_abs); [{i}] is {}",
            limits.max_embedding_abs, values[i]
        )));
    }
    Ok(())
}

/// Any context about to be used for scoring and stored with a request: distinct clusters and
/// finite weights in [0, 1] (what unit-norm and softmax contexts satisfy).
pub fn check_context(context: &ClusterContext) -> Result<(), ApiError> {
    let distinct = context.clusters.windows(2).all(|w| w[0] < w[1]);
    let finite = context.weights.iter().all(|w| w.is_finite() && (0.0..=1.0 + 1e-9).contains(w));
    if context.clusters.is_empty() || !distinct || !finite || context.clusters.len() != context.weights.len() {
        return Err(ApiError::unprocessable("the user's context is not usable (empty, repeated clusters or weights outside [0, 1]); check the embedding"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_contexts_are_checked_and_scaled_to_unit_norm() {
        let limits = InputLimits::default();
        let ctx = explicit_context(&[(2, 3.0), (0, 4.0)], 4, &limits).unwrap();
        assert_eq!(ctx.clusters, vec![0, 2]);
        assert!((ctx.weights[0] - 0.8).abs() < 1e-15 && (ctx.weights[1] - 0.6).abs() < 1e-15);
        // Neither the smallest positive double nor the largest allowed weight break the norm.
        let tiny = explicit_context(&[(1, 5e-324)], 4, &limits).unwrap();
        assert_eq!(tiny.weights, vec![1.0]);
        let big = explicit_context(&[(1, 1e6), (3, 1e6)], 4, &limits).unwrap();
        assert!((big.weights[0] - 0.5f64.sqrt()).abs() < 1e-15);
        for (pairs, needle) in [
            (vec![(0, 1.7e308), (0, 1.7e308)], "limits.max_weight"),
            (vec![(0, 0.5), (0, 0.5)], "repeated"),
            (vec![(0, 1e200)], "limits.max_weight"),
            (vec![(0, -0.0), (1, 0.0)], "all 0"),
            (vec![(0, f64::NAN)], "finite"),
            (vec![(7, 1.0)], "does not exist"),
        ] {
            let err = explicit_context(&pairs, 4, &limits).unwrap_err();
            assert!(err.message.contains(needle), "{pairs:?}: {}", err.message);
        }
        let many: Vec<(u32, f64)> = (0..65).map(|c| (c, 1.0)).collect();
        assert!(explicit_context(&many, 100, &limits).unwrap_err().message.contains("max_context_clusters"));
    }

    #[test]
    fn embeddings_must_be_finite_and_bounded() {
        let limits = InputLimits { max_embedding_abs: 10.0, ..InputLimits::default() };
        assert!(embedding(&[1.0, -10.0], 2, &limits).is_ok());
        assert!(embedding(&[1.0, 10.5], 2, &limits).unwrap_err().message.contains("[1] is 10.5"));
        assert!(embedding(&[f32::INFINITY, 0.0], 2, &limits).is_err());
        assert!(embedding(&[1.0], 2, &limits).is_err());
    }
}
