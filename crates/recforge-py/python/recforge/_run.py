"""Training and trained runs: :func:`train` and :class:`Run`."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._progress import ProgressArg, callback
from ._tables import TableLike, as_stream, is_path

PathLike = Union[str, "os.PathLike[str]"]


def _toml_literal(value: Any) -> str:
    """A Python value as a TOML literal, for ``--set``-style overrides."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot express {value!r} ({type(value).__name__}) as a config value")


def overrides_of(overrides: Mapping[str, Any], sets: Optional[Sequence[str]] = None) -> List[str]:
    """``train__lr=0.01`` → ``"train.lr=0.01"`` (``__`` separates table and key), plus any raw
    ``"key.path=value"`` strings."""
    out = list(sets or [])
    out += [f"{key.replace('__', '.')}={_toml_literal(value)}" for key, value in overrides.items()]
    return out


def train(
    config: Union[PathLike, Mapping[str, Any]],
    *,
    seed: Optional[int] = None,
    out: Optional[PathLike] = None,
    epochs: Optional[int] = None,
    skip_bad_rows: bool = False,
    progress: ProgressArg = True,
    set: Optional[Sequence[str]] = None,
    **overrides: Any,
) -> "Run":
    """Train a ranking config and return the trained :class:`Run`, as ``recforge train`` does.

    Args:
        config: a config file (TOML with ``[data] schema``, ``[model]``, ``[train]``) or the same
            tables as a dict (relative paths resolve against the working directory).
        seed: initialisation, shuffling and dropout seed (overrides ``[train] seed``).
        out: the run folder (default ``runs/<config name>``).
        epochs: overrides ``[train] epochs``.
        skip_bad_rows: skip malformed rows while preparing (counted) instead of failing.
        progress: draw a progress bar (True), nothing (False), or call ``f(event, label, done,
            total, unit, note)``.
        set: raw ``"key.path=value"`` overrides, exactly as the CLI's ``--set``.
        **overrides: the same overrides as keywords, ``__`` between table and key:
            ``train__lr=0.01``, ``model__hidden=[64, 32]``.

    Raises:
        RecforgeError: a bad config or data (the message names file, line and field).
        KeyboardInterrupt: Ctrl-C; training stops at the next step and nothing is saved.
    """
    kwargs: Dict[str, Any] = {
        "overrides": overrides_of(overrides, set),
        "seed": seed,
        "epochs": epochs,
        "out": os.fspath(out) if out is not None else None,
        "skip_bad_rows": skip_bad_rows,
        "progress": callback(progress),
    }
    if isinstance(config, Mapping):
        kwargs["config_json"] = json.dumps(config)
    else:
        kwargs["config_path"] = os.fspath(config)
    folder = _native.train(**kwargs)
    return Run.load(folder)


class Run:
    """A trained ranking model folder: scores new rows, evaluates, exports.

    Load one with :meth:`Run.load` (any folder ``recforge train`` wrote, moved anywhere; the
    training data is not needed) or get one from :func:`train`.
    """

    def __init__(self, model: "_native.Model") -> None:
        self._model = model

    @classmethod
    def load(cls, path: PathLike) -> "Run":
        """Load the model folder at ``path``."""
        return cls(_native.Model(os.fspath(path)))

    @property
    def path(self) -> Path:
        """The folder it was loaded from."""
        return Path(self._model.path)

    @property
    def name(self) -> str:
        return self._model.name

    @property
    def kind(self) -> str:
        """The model kind: ``lr``, ``mlp``, ``dcn_v2``, ``autoint``, ``hiformer``, ..."""
        return self._model.kind

    @property
    def metadata(self) -> Dict[str, Any]:
        """``metadata.json``: format, recforge version, git commit, time, host, CPU, profile."""
        return json.loads(self._model.metadata_json)

    @property
    def metrics(self) -> Dict[str, Any]:
        """``metrics.json``: test AUC/logloss/accuracy, best epoch, throughput, sizes (empty
        when the folder holds no training run's metrics)."""
        return self._read_json("metrics.json", {})

    @property
    def history(self) -> List[Dict[str, Any]]:
        """``history.json``: one dict per epoch (train loss, validation metrics, seconds)."""
        return self._read_json("history.json", [])

    def _read_json(self, name: str, default: Any) -> Any:
        path = self.path / name
        if not path.is_file():
            return default
        return json.loads(path.read_text())

    def _score(self, data: TableLike, batch_size: Optional[int], skip_bad_rows: bool, progress: ProgressArg) -> Dict[str, Any]:
        kwargs = {"batch_size": batch_size, "skip_bad_rows": skip_bad_rows, "progress": callback(progress)}
        if is_path(data):
            return self._model.predict_path(os.fspath(data), **kwargs)
        stream, total_rows, name = as_stream(data)
        return self._model.predict_stream(stream, total_rows, name, **kwargs)

    def predict(
        self,
        data: TableLike,
        *,
        batch_size: Optional[int] = None,
        skip_bad_rows: bool = False,
        with_ids: bool = False,
        progress: ProgressArg = False,
    ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """Click probabilities of every row, as a float32 array (no copy from Rust).

        ``data`` is a CSV/TSV/Parquet path, a pandas DataFrame, a pyarrow Table or a dict of
        columns with the schema's raw columns (the label is optional). Tokens never seen in
        training score through the OOV row. A bad row raises :class:`RecforgeError` naming the
        line (row) and field; with ``skip_bad_rows`` it is skipped, so pass ``with_ids=True``
        to get ``(ids, scores)`` and align them (ids are the example-id column, or 0-based row
        numbers).
        """
        result = self._score(data, batch_size, skip_bad_rows, progress)
        scores = result["scores"].to_numpy(zero_copy_only=True)
        if with_ids:
            return result["ids"].to_numpy(zero_copy_only=True), scores
        return scores

    def evaluate(
        self,
        data: TableLike,
        *,
        batch_size: Optional[int] = None,
        skip_bad_rows: bool = False,
        progress: ProgressArg = False,
    ) -> Dict[str, float]:
        """AUC, logloss, accuracy, examples and label rate on labelled rows (the schema's
        label column must be present)."""
        result = self._score(data, batch_size, skip_bad_rows, progress)
        if "metrics" not in result:
            raise _native.RecforgeError("evaluate needs the schema's label column in the data; predict() scores unlabelled rows")
        return dict(result["metrics"])

    def export(self, path: PathLike) -> "Run":
        """Copy the self-contained model folder to the new folder ``path`` and return it
        loaded from there (``recforge predict`` and ``recforge serve --ranker`` read it)."""
        _native.copy_model_folder(os.fspath(self.path), os.fspath(path))
        return Run.load(path)

    def __repr__(self) -> str:
        auc = self.metrics.get("auc")
        shown = f", test auc {auc:.4f}" if isinstance(auc, float) else ""
        return f"Run({self.name!r}, kind={self.kind!r}{shown}, path={str(self.path)!r})"
