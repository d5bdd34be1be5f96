"""Logging set-up of the workflow layer (library code only calls ``logging.getLogger("medfx")``).

``setup_logging`` adds the console handler once and never removes a handler; ``log_to_file`` attaches one
file handler for the duration of a ``with`` block and removes exactly that handler afterwards, so nested
runs (the DDPM stage inside ``medfx run``) write to both ``ddpm/train.log`` and ``pipeline.log``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

LOGGER_NAME = "medfx"
_FILE_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _Console(logging.StreamHandler):
    """A console handler that writes to whatever ``sys.stderr`` is at the time of each message (so a replaced
    stderr, e.g. a test's capture that has since been closed, never breaks logging)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _is_console(h: logging.Handler) -> bool:
    return isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO, main: bool = True) -> None:
    """Console logging for the ``medfx`` logger (other ranks than 0: warnings only), plus an optional file.

    Never removes handlers: a file given here stays attached (use :func:`log_to_file` for a scoped one)."""
    log = logging.getLogger(LOGGER_NAME)
    log.setLevel(level if main else logging.WARNING)
    if not any(_is_console(h) for h in log.handlers):
        h = _Console()
        h.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(h)
    if log_file is not None and main:
        _attach_file(log, Path(log_file))
    log.propagate = False


def _attach_file(log: logging.Logger, path: Path) -> logging.Handler | None:
    target = str(path.resolve())
    if any(isinstance(h, logging.FileHandler) and h.baseFilename == target for h in log.handlers):
        return None  # already logging there
    fh = logging.FileHandler(path)
    fh.setFormatter(logging.Formatter(_FILE_FORMAT))
    log.addHandler(fh)
    return fh


@contextlib.contextmanager
def log_to_file(path: str | Path, main: bool = True):
    """Also write the ``medfx`` logger's records to ``path`` inside the block (INFO and up unless set lower).

    ``main=False`` (ranks other than 0): no file, and only warnings on the console inside the block."""
    log = logging.getLogger(LOGGER_NAME)
    old_level = log.level
    if not main:
        log.setLevel(logging.WARNING)
    elif log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    fh = _attach_file(log, Path(path)) if main else None
    try:
        yield
    finally:
        if fh is not None:
            log.removeHandler(fh)
            fh.close()
        log.setLevel(old_level)
