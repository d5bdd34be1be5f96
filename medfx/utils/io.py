"""Atomic file writes and JSON conversion: the one implementation every package uses.

Every JSON file medfx writes is strict JSON (RFC 8259): ``write_json`` / ``dumps`` turn NaN and +-Inf into
``null`` and call ``json.dumps(..., allow_nan=False)``, so any strict parser (JavaScript's ``JSON.parse``, ``jq``)
reads them. ``readable`` gives a file the usual mode (0644 minus the umask) for writers that create private files.
"""

from __future__ import annotations

import contextlib
import hashlib
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
        return {(k if isinstance(k, (str, int, float, bool)) or k is None else str(k)): jsonable(v, nan_to_none)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, nan_to_none) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # NumPy scalar or array
        return jsonable(obj.tolist(), nan_to_none)
    if isinstance(obj, Path):
        return str(obj)
    if nan_to_none and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``jsonable(obj, nan_to_none=True)`` (anything else as ``str``)."""
    return json.dumps(jsonable(obj, nan_to_none=True), indent=indent, default=str, allow_nan=False)


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Atomically write ``obj`` as strict JSON (NaN/Inf as null; see :func:`dumps`)."""
    text = dumps(obj, indent)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text + "\n")
    return Path(path)


def readable(path: str | Path, mode: int = 0o644) -> Path:
    """Give ``path`` the usual file mode (``mode`` minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)
    return Path(path)


def file_digest(path: str | Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes, streamed in ``chunk``-byte blocks (bounded memory whatever the size)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
