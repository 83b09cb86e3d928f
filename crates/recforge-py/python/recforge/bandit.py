"""A client for the bandit service (``recforge serve``): :class:`Client`.

Plain HTTP/JSON with the standard library; see docs/http-api.md for every field and status.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict, Optional, Sequence, Tuple

from ._native import RecforgeError


class ServiceError(RecforgeError):
    """A non-2xx answer: ``status`` and the service's ``{"error": ...}`` message."""

    def __init__(self, status: int, message: str, retry_after: Optional[str] = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after


class Client:
    """Talks to a running service.

    Args:
        url: e.g. ``http://127.0.0.1:8080`` (or ``server.url`` of :func:`recforge.serve`).
        token: the write token (feedback), also sent on reads.
        read_token: a separate read token for recommend/retrieve/score, when configured.
        timeout: seconds per request.
    """

    def __init__(self, url: str, token: Optional[str] = None, *, read_token: Optional[str] = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.read_token = read_token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, token: Optional[str] = None) -> Dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                message = json.loads(text).get("error", text)
            except ValueError:
                message = text
            raise ServiceError(error.code, message, error.headers.get("Retry-After")) from None

    def recommend(
        self,
        *,
        user_id: Optional[str] = None,
        context: Optional[Sequence[Tuple[int, float]]] = None,
        embedding: Optional[Sequence[float]] = None,
        k: Optional[int] = None,
    ) -> Dict[str, Any]:
        """K items for a user (exactly one of ``user_id``, ``context`` as (cluster, weight)
        pairs, ``embedding``): ``{"request_id", "items": [{"item", "index", "score", "mean",
        "bonus", "explored"}], "context"}``."""
        body: Dict[str, Any] = {}
        if user_id is not None:
            body["user_id"] = user_id
        if context is not None:
            body["context"] = [[int(c), float(w)] for c, w in context]
        if embedding is not None:
            body["embedding"] = [float(x) for x in embedding]
        if k is not None:
            body["k"] = int(k)
        return self._call("POST", "/v1/recommend", body, self.read_token or self.token)

    def feedback(self, request_id: str, item: str, reward: float) -> Dict[str, Any]:
        """A reward for one recommended item: ``{"applied", "duplicate"}`` (idempotent per
        request and item)."""
        body = {"request_id": request_id, "item": str(item), "reward": float(reward)}
        return self._call("POST", "/v1/feedback", body, self.token)

    def score(self, rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        """Click probabilities of raw rows from the server's ranker: ``{"scores", "model"}``."""
        return self._call("POST", "/v1/score", {"rows": list(rows)}, self.read_token or self.token)

    def health(self) -> Dict[str, Any]:
        return self._call("GET", "/healthz")
