//! `recforge._native.evaluate`: off-policy estimates on OBP-style arrays
//! (`recforge_bandit::ope::arrays`), handed over as flat pyarrow arrays.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, make_array};
use arrow_pyarrow::FromPyArrow;
use pyo3::prelude::*;
use recforge_bandit::ope::arrays::{ArrayLog, evaluate_arrays};
use recforge_bandit::ope::protocol::BootstrapOptions;

use crate::errors::to_py;

fn array(name: &str, value: &Bound<'_, PyAny>) -> PyResult<ArrayRef> {
    let data = arrow_data::ArrayData::from_pyarrow_bound(value)?;
    let array = make_array(data);
    if array.null_count() > 0 {
        return Err(to_py(anyhow::anyhow!("{name} has missing values (NaN/None); every round needs one")));
    }
    Ok(array)
}

/// A float64 pyarrow array, borrowed (no copy).
fn floats(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Float64Array> {
    let array = array(name, value)?;
    match array.as_primitive_opt::<Float64Type>() {
        Some(a) => Ok(a.clone()),
        None => Err(to_py(anyhow::anyhow!("{name} must be float64, got {}", array.data_type()))),
    }
}

/// An int64 pyarrow array, borrowed (no copy).
fn ints(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Int64Array> {
    let array = array(name, value)?;
    match array.as_primitive_opt::<Int64Type>() {
        Some(a) => Ok(a.clone()),
        None => Err(to_py(anyhow::anyhow!("{name} must be int64, got {}", array.data_type()))),
    }
}

/// Every requested estimator with its bootstrap interval, as JSON text (a list of
/// `{estimator, estimate, lower, upper, reward_model?, warning?}`).
#[pyfunction]
#[pyo3(signature = (reward, action, pscore, action_dist, n_actions, len_list, position=None, estimated_rewards=None, estimators=Vec::new(), n_bootstrap=1000, confidence=0.95, seed=0))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    py: Python<'_>,
    reward: &Bound<'_, PyAny>,
    action: &Bound<'_, PyAny>,
    pscore: &Bound<'_, PyAny>,
    action_dist: &Bound<'_, PyAny>,
    n_actions: usize,
    len_list: usize,
    position: Option<&Bound<'_, PyAny>>,
    estimated_rewards: Option<&Bound<'_, PyAny>>,
    estimators: Vec<String>,
    n_bootstrap: usize,
    confidence: f64,
    seed: u64,
) -> PyResult<String> {
    let reward = floats("reward", reward)?;
    let action = ints("action", action)?;
    let pscore = floats("pscore", pscore)?;
    let action_dist = floats("action_dist", action_dist)?;
    let position = position.map(|p| ints("position", p)).transpose()?;
    let estimated = estimated_rewards.map(|q| floats("estimated_rewards_by_reg_model", q)).transpose()?;
    let options = BootstrapOptions { resamples: n_bootstrap, confidence, seed };
    py.detach(|| {
        let log = ArrayLog {
            reward: reward.values(),
            action: action.values(),
            pscore: pscore.values(),
            action_dist: action_dist.values(),
            n_actions,
            len_list,
            position: position.as_ref().map(|p| &p.values()[..]),
            estimated_rewards: estimated.as_ref().map(|q| &q.values()[..]),
        };
        let estimates = evaluate_arrays(&log, &estimators, options)?;
        Ok::<_, anyhow::Error>(serde_json::to_string(&estimates)?)
    })
    .map_err(to_py)
}
