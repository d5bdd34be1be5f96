"""The one JSON writer of medfx: strict JSON (RFC 8259) only.

``NaN`` / ``Inf`` become ``null`` and numpy / torch scalars, arrays, paths and tuples become plain JSON values
before ``json.dumps(..., allow_nan=False)`` runs, so every file medfx writes parses with any strict parser
(JavaScript's ``JSON.parse``, ``jq``, Go's ``encoding/json``). Files are written atomically (temporary file in the
same folder, then ``os.replace``) with mode 0644 (umask applied).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: non-finite floats -> None, numpy/torch -> Python, tuples -> lists,
    paths -> str, dict keys -> str; anything else unknown -> ``str(obj)``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # torch tensors without importing torch
        return to_jsonable(obj.tolist())
    return str(obj)


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj`` (see :func:`to_jsonable`)."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(obj, indent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
    return path


def read_json(path: str | Path) -> Any:
    """Read JSON written by medfx (also accepts files of older versions that hold ``NaN``)."""
    return json.loads(Path(path).read_text())


def readable(path: str | Path, mode: int = 0o644) -> Path:
    """Give ``path`` the usual file mode (``mode`` minus the umask); for writers that create private temp files."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)
    return Path(path)
