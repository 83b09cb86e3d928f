"""Data files and schemas: :func:`inspect` a file, :func:`prepare` a schema's dataset."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, NamedTuple, Optional, Union

import pyarrow as pa

from . import _native
from ._progress import ProgressArg, callback

PathLike = Union[str, "os.PathLike[str]"]


def inspect(path: PathLike, schema: Optional[PathLike] = None, max_rows: Optional[int] = None) -> pa.Table:
    """Profile a CSV/TSV/Parquet/RecBole file, as ``recforge data inspect``.

    Returns one row per column: ``name``, ``inferred`` (integer, float, categorical,
    multi_valued, empty), ``distinct`` (``distinct_capped`` when it is a lower bound),
    ``missing``, ``min``/``max``/``mean`` for numbers, ``examples``. The table's schema metadata
    holds ``rows``, ``format`` and the detected ``label`` (JSON).
    """
    report = json.loads(
        _native.inspect(
            os.fspath(path),
            schema=os.fspath(schema) if schema is not None else None,
            max_rows=max_rows,
        )
    )
    columns = report["columns"]
    table = pa.Table.from_pylist(columns) if columns else pa.table({"name": pa.array([], pa.string())})
    metadata = {"rows": str(report["rows"]), "format": json.dumps(report["format"]), "label": json.dumps(report["label"])}
    return table.replace_schema_metadata(metadata)


class Prepared(NamedTuple):
    """A schema's dataset, encoded and split: one pyarrow table per split with a column per
    feature (``uint32`` ids, ``list<uint32>`` bags, ``float32`` normalised numbers), then
    ``__label``, ``__example_id`` and (when the schema has one) ``__timestamp``."""

    train: pa.Table
    valid: pa.Table
    test: pa.Table
    #: Embedding rows per feature (the OOV row 0 included; 0 for numeric features).
    cardinalities: Dict[str, int]


def prepare(
    schema: PathLike,
    *,
    skip_bad_rows: bool = False,
    force: bool = False,
    progress: ProgressArg = True,
) -> Prepared:
    """Prepare (encode and cache, as ``recforge data prepare``) and split the schema's data.

    Preparing reads the files twice (fit vocabularies, then encode) and caches the result; a
    second call with an unchanged schema and files loads the cache (``force=True`` rebuilds).
    """
    out: Dict[str, Any] = _native.prepare(os.fspath(schema), skip_bad_rows=skip_bad_rows, force=force, progress=callback(progress))
    return Prepared(out["train"], out["valid"], out["test"], dict(out["cardinalities"]))
