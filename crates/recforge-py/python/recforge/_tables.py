"""Turning what a user holds (a path, a pandas DataFrame, a pyarrow Table, a dict of columns,
anything with ``__arrow_c_stream__``) into what the native module reads, without copying."""

from __future__ import annotations

import os
from typing import Any, Tuple, Union

import pyarrow as pa

TableLike = Union[str, "os.PathLike[str]", "pa.Table", "pa.RecordBatch", "pa.RecordBatchReader", Any]


def as_stream(data: TableLike) -> Tuple[Any, int, str]:
    """``(stream, total_rows, name)`` for in-memory data; ``total_rows`` is 0 when unknown.
    Paths are not handled here (the native reader streams files itself)."""
    if isinstance(data, pa.Table):
        return data, data.num_rows, "<pyarrow.Table>"
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]), data.num_rows, "<pyarrow.RecordBatch>"
    if isinstance(data, pa.RecordBatchReader):
        return data, 0, "<pyarrow.RecordBatchReader>"
    module = type(data).__module__
    if module.startswith("pandas"):
        table = pa.Table.from_pandas(data, preserve_index=False)
        return table, table.num_rows, "<pandas.DataFrame>"
    if isinstance(data, dict):
        table = pa.table(data)
        return table, table.num_rows, "<dict of columns>"
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data), 0, f"<{type(data).__name__}>"
    raise TypeError(
        f"cannot read rows from a {type(data).__name__}: pass a file path, a pandas DataFrame, "
        "a pyarrow Table/RecordBatch/RecordBatchReader or a dict of columns"
    )


def is_path(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike))
