"""Out-of-memory fallback: run a batch in smaller chunks when the device runs out of memory.

``OOMFallback(what)(fn, n)`` calls ``fn(start, stop)`` over ``[0, n)`` in chunks of at most ``size`` (the whole
range while no OOM has happened); on ``torch.OutOfMemoryError`` (or another ``RuntimeError`` that says "out of
memory": CUDA, MPS, oneDNN) the chunk size is halved, logged, and the failed chunk retried. The reduced size is
kept for later calls, so one object per job (extractor, sampling run) re-learns it at most once. Only work whose
result does not depend on the batch (medfx seeds noise per sample) should be chunked this way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

logger = logging.getLogger("medfx")


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is a device out-of-memory error."""
    return isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError) and
                                                       "out of memory" in str(exc).lower())


class OOMFallback:
    """Chunked calls that halve their chunk size on out-of-memory errors (see module docstring)."""

    def __init__(self, what: str, size: int | None = None):
        self.what = what  # named in the log, e.g. "extraction batch"
        self.size = size  # current chunk size; None = the whole range

    def __call__(self, fn: Callable[[int, int], object], n: int) -> list:
        """``[fn(a, b) for consecutive chunks (a, b) covering [0, n)]``."""
        out, start = [], 0
        while start < n:
            stop = min(n, start + (self.size or n))
            failed = False
            try:
                out.append(fn(start, stop))
            except RuntimeError as e:
                if not is_oom(e) or stop - start == 1:
                    raise
                failed = True  # retried outside the except block, so the traceback's tensors are freed first
            if failed:
                self.size = max(1, (stop - start) // 2)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                logger.warning("%s of %d ran out of device memory; retrying in chunks of %d", self.what,
                               stop - start, self.size)
                continue
            start = stop
        return out
