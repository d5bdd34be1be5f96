"""Atomic file writes and JSON conversion: the one implementation every package uses."""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to ``path``; when the block succeeds it is renamed onto ``path``, so a reader
    never sees a half-written file (and a failed write leaves the old file alone)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def jsonable(obj: Any, nan_to_none: bool = False) -> Any:
    """Plain-Python copy of ``obj`` for JSON: NumPy scalars and arrays, tuples and paths converted;
    with ``nan_to_none``, NaN and +-Inf become None (strict JSON)."""
    if isinstance(obj, dict):
        return {k: jsonable(v, nan_to_none) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, nan_to_none) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # NumPy scalar or array
        return jsonable(obj.tolist(), nan_to_none)
    if isinstance(obj, Path):
        return str(obj)
    if nan_to_none and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | Path, obj: Any, indent: int = 2, nan_to_none: bool = False) -> Path:
    """Atomically write ``jsonable(obj)`` (anything else as ``str``)."""
    text = json.dumps(jsonable(obj, nan_to_none), indent=indent, default=str)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)
