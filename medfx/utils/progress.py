"""Progress bars that behave in terminals and in log files.

``progress_bar(...)`` is ``tqdm`` with medfx's defaults:

* on a terminal: the usual bar, kept on screen when it finishes (``leave=True``), so each seed's or stage's
  final state stays readable;
* when stderr is not a terminal (SLURM logs, ``> run.log 2>&1``): no ``\\r`` frames; one plain line at most
  every ``mininterval`` seconds (default 60) plus the final line, each ending in a newline;
* ``enabled=False`` (a call site's ``progress`` argument) or the process-wide switch that entry points set with
  :func:`configure` (``medfx --quiet``): no bar at all.

Library functions take ``progress`` and never call :func:`configure`; only entry points (the CLI) do.
"""

from __future__ import annotations

import sys

_STATE = {"enabled": True, "mininterval": 60.0}


def configure(enabled: bool | None = None, mininterval: float | None = None) -> None:
    """Process-wide defaults, for entry points only (``--quiet`` -> ``configure(enabled=False)``)."""
    if enabled is not None:
        _STATE["enabled"] = bool(enabled)
    if mininterval is not None:
        _STATE["mininterval"] = float(mininterval)


def enabled() -> bool:
    """Whether bars are on process-wide (off after ``configure(enabled=False)``)."""
    return _STATE["enabled"]


class _Lines:
    """A file-like wrapper that turns tqdm's ``\\r``-refreshed status into plain lines: the first status, then at
    most one every ``interval`` seconds (forced refreshes such as ``set_postfix`` included), and the final status
    when the bar closes (tqdm ends a kept bar with a newline)."""

    def __init__(self, stream, interval: float):
        import time

        self.stream, self.interval, self._clock = stream, interval, time.monotonic
        self._last, self._pending, self._t = "", "", None

    def _emit(self, text: str) -> None:
        if text and text != self._last:
            self.stream.write(text + "\n")
            self._last = text
        self._pending = ""
        self._t = self._clock()

    def write(self, s: str) -> None:
        text = s.replace("\r", "").strip()
        if text:
            if self._t is None or self._clock() - self._t >= self.interval:
                self._emit(text)
            else:
                self._pending = text
        elif "\n" in s and self._pending:  # the bar was closed: its last state
            self._emit(self._pending)

    def flush(self) -> None:
        self.stream.flush()


def is_tty(stream=None) -> bool:
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A ``tqdm`` bar (see the module docstring); ``kwargs`` go to ``tqdm`` (``total``, ``desc``, ``unit``...)."""
    from tqdm import tqdm

    on = enabled and _STATE["enabled"]
    kwargs.setdefault("leave", True)
    kwargs.setdefault("dynamic_ncols", True)
    stream = kwargs.pop("file", None) or sys.stderr
    if on and not is_tty(stream):
        kwargs.setdefault("mininterval", _STATE["mininterval"])
        kwargs["file"] = _Lines(stream, kwargs["mininterval"])
        kwargs["ncols"] = 100
        kwargs.pop("dynamic_ncols", None)
        kwargs["ascii"] = True
    else:
        kwargs["file"] = stream
    return tqdm(iterable, disable=not on, **kwargs)
