"""``recforge serve`` in-process: :func:`serve` and :class:`Server`."""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Sequence, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]


class Server:
    """A running server (bandit, retrieval and/or ranker routes, as ``recforge serve``).

    Use it as a context manager, or call :meth:`stop`. ``url`` is where it listens; with the
    default ``listen="127.0.0.1:0"`` the port is a free one.
    """

    def __init__(self, native: "_native.Server") -> None:
        self._native = native

    @property
    def address(self) -> str:
        return self._native.address

    @property
    def url(self) -> str:
        return f"http://{self._native.address}"

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._native.stop()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Server({self.url!r})"


def serve(
    config: Union[PathLike, Mapping[str, Any], None] = None,
    *,
    ranker: Optional[PathLike] = None,
    retrieval: Optional[PathLike] = None,
    listen: str = "127.0.0.1:0",
    store: Optional[str] = None,
    set: Optional[Sequence[str]] = None,
) -> Server:
    """Start a server in this process (background threads) and return once it accepts
    connections.

    Args:
        config: the bandit service config (a TOML file or the same keys as a dict; see
            docs/http-api.md), or None for a ranker- or retrieval-only server.
        ranker: serve ``POST /v1/score`` from this model folder.
        retrieval: serve ``POST /v1/retrieve`` from this retrieval run.
        listen: address; port 0 picks a free port.
        store: the bandit state store URL (``file://DIR`` or ``redis://HOST:PORT``).
        set: ``"key=value"`` overrides, as ``recforge serve --set``.
    """
    kwargs: dict = {
        "overrides": list(set or []),
        "ranker": os.fspath(ranker) if ranker is not None else None,
        "retrieval": os.fspath(retrieval) if retrieval is not None else None,
        "listen": listen,
        "store": store,
    }
    if isinstance(config, Mapping):
        kwargs["config_json"] = json.dumps(config)
    elif config is not None:
        kwargs["config_path"] = os.fspath(config)
    elif ranker is None and retrieval is None:
        raise ValueError("give a bandit config, ranker= and/or retrieval=")
    return Server(_native.Server(**kwargs))
