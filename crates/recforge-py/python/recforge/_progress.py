"""A dependency-free progress bar fed by the Rust library's progress events.

The native functions call ``callback(event, label, done, total, unit, note)`` with ``event`` one
of ``begin``, ``update``, ``end`` (updates at most 10 times a second). :class:`Bar` draws one
line per phase on ``sys.stderr`` with carriage returns, which terminals and Jupyter both render
in place, e.g. ``mlp epoch 2/10 ━━━━━━━━━━━━────────  61% 48.2k/79.0k ex 21.3k ex/s loss 0.4412``.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, Union

ProgressArg = Union[bool, Callable[[str, str, int, Optional[int], str, str], None], None]

_WIDTH = 24


def _human(value: float) -> str:
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.1f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


class Bar:
    """Renders progress events as a bar on a stream (default ``sys.stderr``)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = ""
        self.total: Optional[int] = None
        self.unit = ""
        self.started = time.monotonic()
        self.done = 0
        self.note = ""
        self.drawn = False

    def __call__(self, event: str, label: str, done: int, total: Optional[int], unit: str, note: str) -> None:
        if event == "begin":
            self.label, self.total, self.unit = label, total, unit
            self.started, self.done, self.note = time.monotonic(), 0, ""
            self._draw()
        elif event == "update":
            self.done, self.note = done, note
            self._draw()
        elif event == "end":
            if self.drawn:
                self._draw()
                self.stream.write("\n")
                self.stream.flush()
            self.drawn = False

    def _draw(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = f"{_human(self.done / elapsed)} {self.unit}/s" if self.done else ""
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            filled = int(round(fraction * _WIDTH))
            bar = "━" * filled + "─" * (_WIDTH - filled)
            count = f"{_human(self.done)}/{_human(self.total)} {self.unit}"
            line = f"{self.label} {bar} {fraction:4.0%} {count} {rate} {self.note}"
        else:
            line = f"{self.label} {_human(self.done)} {self.unit} {rate} {self.note}"
        self.stream.write("\r" + line.rstrip() + "\x1b[K" if self._is_tty() else "\r" + line.rstrip())
        self.stream.flush()
        self.drawn = True

    def _is_tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())


def callback(progress: ProgressArg):
    """The native progress callback for a ``progress=`` argument: True → a :class:`Bar`,
    False/None → none, a callable → itself."""
    if progress is True:
        return Bar()
    if progress is False or progress is None:
        return None
    if callable(progress):
        return progress
    raise TypeError(f"progress must be True, False or a callable, not {type(progress).__name__}")
