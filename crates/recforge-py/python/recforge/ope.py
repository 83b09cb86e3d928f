"""Off-policy evaluation on logged bandit data, with the Open Bandit Pipeline's array
conventions: ``reward``, ``action``, ``pscore`` and ``position`` of shape ``(n_rounds,)``,
``action_dist`` and ``estimated_rewards_by_reg_model`` of shape ``(n_rounds, n_actions,
len_list)``.

Estimators: ``ips`` (OBP ``ipw``), ``snips`` (``snipw``), ``dm``, ``dr``, ``replay`` (``rm``).
Point estimates equal OBP 0.4.1's; intervals are percentile bootstrap intervals. With
``estimated_rewards_by_reg_model`` DM/DR use that model unchanged ("reward model fixed");
without it they use the mean logged reward per (action, position), refit on every resample.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np
import pyarrow as pa

from . import _native

#: OBP's estimator names → recforge's.
ALIASES = {"ipw": "ips", "snipw": "snips", "rm": "replay"}


@dataclass(frozen=True)
class Estimate:
    """One estimator's policy value with its bootstrap interval (NaN when undefined)."""

    estimate: float
    lower: float
    upper: float
    #: For dm/dr: ``"fixed (given)"`` or ``"refit per resample"``.
    reward_model: Optional[str] = None
    #: Why the estimate is undefined, or why its interval is partial.
    warning: Optional[str] = None


def _flat(name: str, values, dtype) -> pa.Array:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    # A contiguous array of the right type crosses to Rust without a copy.
    return pa.array(np.ascontiguousarray(array, dtype=dtype).reshape(-1))


def evaluate(
    reward,
    action,
    pscore,
    action_dist,
    position=None,
    estimators: Sequence[str] = ("ips", "snips", "dm", "dr", "replay"),
    *,
    estimated_rewards_by_reg_model=None,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    random_state: int = 0,
) -> Dict[str, Estimate]:
    """Estimate the value of the policy ``action_dist`` from the logged rounds.

    Returns ``{name: Estimate}`` in the order asked, keyed by the names passed (OBP's names
    are accepted). ``alpha`` is 1 − the interval's confidence.

    Raises:
        RecforgeError: mismatched lengths, an action or position out of range, a propensity
            outside (0, 1], an action distribution not summing to 1 (naming array and round).
    """
    dist = np.asarray(action_dist, dtype=np.float64)
    if dist.ndim == 2:
        dist = dist[:, :, np.newaxis]
    if dist.ndim != 3:
        raise ValueError(f"action_dist must have shape (n_rounds, n_actions, len_list), got {dist.shape}")
    q = None
    if estimated_rewards_by_reg_model is not None:
        q = np.asarray(estimated_rewards_by_reg_model, dtype=np.float64)
        if q.ndim == 2:
            q = q[:, :, np.newaxis]
        if q.shape != dist.shape:
            raise ValueError(f"estimated_rewards_by_reg_model has shape {q.shape}, action_dist {dist.shape}")
    names = [ALIASES.get(e.lower(), e.lower()) for e in estimators]
    out = json.loads(
        _native.evaluate(
            _flat("reward", reward, np.float64),
            _flat("action", action, np.int64),
            _flat("pscore", pscore, np.float64),
            pa.array(np.ascontiguousarray(dist).reshape(-1)),
            dist.shape[1],
            dist.shape[2],
            position=None if position is None else _flat("position", position, np.int64),
            estimated_rewards=None if q is None else pa.array(np.ascontiguousarray(q).reshape(-1)),
            estimators=names,
            n_bootstrap=n_bootstrap,
            confidence=1.0 - alpha,
            seed=random_state,
        )
    )
    nan = lambda v: math.nan if v is None else float(v)  # noqa: E731 (JSON null = undefined)
    return {
        asked: Estimate(nan(e["estimate"]), nan(e["lower"]), nan(e["upper"]), e.get("reward_model"), e.get("warning"))
        for asked, e in zip(estimators, out)
    }
