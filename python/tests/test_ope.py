"""Off-policy evaluation: hand-computed values, OBP 0.4.1 parity on the Open Bandit Dataset,
and errors naming the array and the round."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import math
import sys
import types

import numpy as np
import pytest

import recforge


class _Absent(type):
    """A stand-in for any torch name: a class (so OBP can subclass `torch.utils.data.Dataset`)
    whose every attribute is another stand-in, and no array is an instance of."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)  # dataclasses and copy probe dunders with getattr
        return _Absent(name, (), {})


class _TorchStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers `import torch` and `import torch.<anything>` with stand-in modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torch" or fullname.startswith("torch."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda name: _Absent(name, (), {})
        return module

    def exec_module(self, module):
        pass


def _obp_ope():
    """`obp.ope`, importable without torch: OBP imports torch for its tensor API and its neural
    policy learners (type hints, base classes, `isinstance` checks), none of which the numpy
    estimators reach. Without torch installed (scripts/test.sh leaves its 5 GB out), stand-in
    modules answer those names; with torch installed, the real one is used."""
    if importlib.util.find_spec("torch") is None:
        sys.meta_path.append(_TorchStandIn())
    import obp.ope

    return obp.ope


def test_hand_computed_estimates_with_a_fixed_reward_model():
    # Two rounds, two actions, one position. Weights 1/0.5 = 2 and 0.75/0.5 = 1.5.
    estimates = recforge.ope.evaluate(
        reward=[1.0, 0.0],
        action=[0, 1],
        pscore=[0.5, 0.5],
        action_dist=[[1.0, 0.0], [0.25, 0.75]],
        estimated_rewards_by_reg_model=[[0.6, 0.2], [0.4, 0.1]],
        estimators=("ipw", "snips", "dm", "dr"),
        n_bootstrap=50,
    )
    assert list(estimates) == ["ipw", "snips", "dm", "dr"]
    assert estimates["ipw"].estimate == pytest.approx(1.0)
    assert estimates["snips"].estimate == pytest.approx(2.0 / 3.5)
    assert estimates["dm"].estimate == pytest.approx(0.3875)
    assert estimates["dr"].estimate == pytest.approx(0.7125)
    assert estimates["dr"].reward_model == "fixed (given)"
    for e in estimates.values():
        assert e.lower <= e.estimate <= e.upper


def test_replay_with_no_matching_round_is_nan_with_a_warning():
    estimates = recforge.ope.evaluate([1.0, 0.0], [0, 0], [0.5, 0.5], [[0.0, 1.0], [0.0, 1.0]], estimators=("replay",), n_bootstrap=10)
    assert math.isnan(estimates["replay"].estimate)
    assert "undefined" in estimates["replay"].warning


@pytest.mark.parametrize(
    "change, message",
    [
        ({"action": [0, 5]}, r"action\[1\] = 5"),
        ({"pscore": [0.5]}, "pscore has 1 rounds"),
        ({"pscore": [0.5, 0.0]}, "propensity"),
        ({"action_dist": [[0.5, 0.0], [0.5, 0.5]]}, r"action_dist\[0, :, 0\] sums to 0.5"),
    ],
)
def test_bad_arrays_raise_errors_naming_array_and_round(change, message):
    args = {"reward": [1.0, 0.0], "action": [0, 1], "pscore": [0.5, 0.5], "action_dist": [[0.5, 0.5], [0.5, 0.5]]}
    args.update(change)
    with pytest.raises(recforge.RecforgeError, match=message):
        recforge.ope.evaluate(**args, n_bootstrap=10)


def test_unknown_estimator_is_an_error():
    with pytest.raises(recforge.RecforgeError, match='unknown estimator "magic"'):
        recforge.ope.evaluate([1.0], [0], [0.5], [[1.0, 0.0]], estimators=("magic",))


def test_same_numbers_as_obp_on_the_open_bandit_dataset(data_dir):
    """OBP 0.4.1 and recforge on the OBD random/men log (10,000 rounds, 34 actions, 3
    positions) with one stochastic evaluation policy and one fixed reward model."""
    import pandas as pd
    ope_module = _obp_ope()
    DirectMethod, DoublyRobust = ope_module.DirectMethod, ope_module.DoublyRobust
    InverseProbabilityWeighting = ope_module.InverseProbabilityWeighting
    SelfNormalizedInverseProbabilityWeighting = ope_module.SelfNormalizedInverseProbabilityWeighting
    OffPolicyEvaluation = ope_module.OffPolicyEvaluation

    log = data_dir / "obd" / "random" / "men" / "men.csv"
    if not log.is_file():
        pytest.fail(f"the Open Bandit Dataset is not at {log}: run scripts/fetch-data.sh --only obd")
    # OBP's own loader (OpenBanditDataset) calls DataFrame.drop(label, 1), which pandas 3
    # removed; this builds the same bandit_feedback arrays the way it does (rows by time,
    # positions ranked densely from 0).
    frame = pd.read_csv(log, index_col=0).sort_values("timestamp", kind="stable")
    positions = np.unique(frame["position"].to_numpy(), return_inverse=True)[1]
    feedback = {
        "n_rounds": len(frame),
        "action": frame["item_id"].to_numpy(),
        "position": positions,
        "reward": frame["click"].to_numpy(),
        "pscore": frame["propensity_score"].to_numpy(),
    }
    n, n_actions, len_list = feedback["n_rounds"], int(feedback["action"].max()) + 1, int(positions.max()) + 1
    rng = np.random.default_rng(7)
    action_dist = rng.dirichlet(np.ones(n_actions), size=(n, len_list)).transpose(0, 2, 1)
    # A fixed reward model: each (action, position)'s logged click rate, smoothed.
    clicks = np.zeros((n_actions, len_list))
    shown = np.zeros((n_actions, len_list))
    np.add.at(clicks, (feedback["action"], feedback["position"]), feedback["reward"])
    np.add.at(shown, (feedback["action"], feedback["position"]), 1)
    rates = (clicks + 0.5) / (shown + 100)
    q = np.broadcast_to(rates, (n, n_actions, len_list)) + rng.normal(0, 1e-3, (n, n_actions, len_list))

    ope = OffPolicyEvaluation(
        bandit_feedback=feedback,
        ope_estimators=[InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(), DirectMethod(), DoublyRobust()],
    )
    theirs = ope.estimate_policy_values(action_dist=action_dist, estimated_rewards_by_reg_model=q)
    ours = recforge.ope.evaluate(
        reward=feedback["reward"],
        action=feedback["action"],
        pscore=feedback["pscore"],
        action_dist=action_dist,
        position=feedback["position"],
        estimators=("ipw", "snipw", "dm", "dr"),
        estimated_rewards_by_reg_model=q,
        n_bootstrap=100,
    )
    for name in ("ipw", "snipw", "dm", "dr"):
        assert ours[name].estimate == pytest.approx(theirs[name], abs=1e-6), name
