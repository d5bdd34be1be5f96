"""Safe output folders: ownership markers, OS-level locks, atomic publication, temp-file clean-up.

* **Ownership.** Every folder medfx writes (run directories, feature banks, probe / KS / sample outputs) carries a
  marker file ``.medfx-owned``. ``claim_dir`` creates a new folder (or adopts an empty one, or one written by an
  older medfx) and refuses an existing folder medfx did not create, and a path that is a file. ``remove_owned``
  deletes only folders that carry the marker: medfx never deletes what it did not create.
* **Locks.** ``locked(path)`` holds ``fcntl.flock`` on ``<parent>/.<name>.lock`` while ``path`` is written. The OS
  drops the lock when the process dies (even on ``kill -9``), so a stale lock never blocks a re-run. A second
  writer stops at once with a ``LockError`` naming the holder's pid, or waits up to ``MEDFX_LOCK_WAIT`` seconds
  (environment variable) first. Re-entrant within one process.
* **Publication.** ``publish_dir`` replaces a finished temporary folder into place with renames, so readers see
  the old complete folder or the new complete one, never a mixture.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import LockError, OutputError

logger = logging.getLogger("medfx")

MARKER = ".medfx-owned"
LOCK_WAIT_ENV = "MEDFX_LOCK_WAIT"
_HELD: dict[str, tuple[int, int]] = {}  # lock file -> (fd, depth) held by this process


# -- ownership ---------------------------------------------------------------------------------------
def is_owned(path: str | Path) -> bool:
    return (Path(path) / MARKER).is_file()


def _mark(path: Path, what: str) -> None:
    (path / MARKER).write_text(json.dumps({"written_by": "medfx", "what": what}) + "\n")


def claim_dir(path: str | Path, what: str = "output folder",
              legacy: Callable[[Path], bool] | None = None) -> Path:
    """Make ``path`` a medfx-owned folder and return it.

    Creates it (with parents) when missing; adopts it when it is empty, already owned, or ``legacy(path)`` says an
    older medfx (before markers) wrote it. Raises ``OutputError`` for a file, or a non-empty folder of the user's.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is a file, not a folder; choose another {what}")
    if path.is_dir():
        if is_owned(path):
            return path
        entries = sorted(p.name for p in path.iterdir())
        if entries and not (legacy is not None and legacy(path)):
            raise OutputError(f"{path}: an existing folder that medfx did not create ({len(entries)} entries, e.g. "
                              f"{entries[0]!r}); medfx never writes into or deletes such folders: choose a new or "
                              f"empty {what}")
    else:
        path.mkdir(parents=True, exist_ok=True)
    _mark(path, what)
    return path


def looks_like_run_dir(path: Path) -> bool:
    """A run directory written by a medfx without ownership markers."""
    path = Path(path)
    return (path / "config.yaml").is_file() and any(
        (path / n).exists() for n in ("last.pt", "done.json", "FAILED", "train.log", "stages", "pipeline.log", "ddpm"))


def check_writable_target(path: str | Path, what: str = "output folder",
                          legacy: Callable[[Path], bool] | None = None) -> None:
    """The checks of ``claim_dir`` without creating anything (run them before long work starts)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is a file, not a folder; choose another {what}")
    if path.is_dir() and not is_owned(path) and any(path.iterdir()) and not (legacy is not None and legacy(path)):
        raise OutputError(f"{path}: an existing folder that medfx did not create; medfx never writes into or "
                          f"deletes such folders: choose a new or empty {what}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{parent}: is a file, not a folder; choose another {what}")


def remove_owned(path: str | Path, legacy: Callable[[Path], bool] | None = None) -> None:
    """Delete a folder medfx created (marker, or ``legacy``); refuse anything else."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir() or not (is_owned(path) or (legacy is not None and legacy(path))):
        raise OutputError(f"{path}: not a folder medfx created; refusing to delete it")
    shutil.rmtree(path)


def publish_dir(tmp: str | Path, dest: str | Path, legacy: Callable[[Path], bool] | None = None) -> Path:
    """Move the finished folder ``tmp`` to ``dest`` (replacing an owned ``dest``) by renames."""
    tmp, dest = Path(tmp), Path(dest)
    old = None
    if dest.exists():
        if not dest.is_dir() or not (is_owned(dest) or (legacy is not None and legacy(dest))):
            raise OutputError(f"{dest}: not a folder medfx created; refusing to replace it")
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest


def clean_stale_temp(folder: str | Path, patterns: tuple[str, ...] = (".*.tmp-*",)) -> list[Path]:
    """Delete temp files left by killed writers (call while holding the folder's lock)."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for pat in patterns:
        for p in folder.glob(pat):
            try:
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
            except OSError:
                pass
    if removed:
        logger.info("removed %d stale temporary file(s) in %s (left by an interrupted run)", len(removed), folder)
    return removed


# -- locks -------------------------------------------------------------------------------------------
def lock_path(path: str | Path) -> Path:
    path = Path(path)
    return path.parent / f".{path.name}.lock"


def _holder(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text() or "{}")
        return f"pid {info.get('pid')}, started {info.get('started')}"
    except (OSError, ValueError):
        return "another process"


def _wait_seconds() -> float:
    raw = os.environ.get(LOCK_WAIT_ENV, "0").strip() or "0"
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise OutputError(f"{LOCK_WAIT_ENV}={raw!r}: expected a number of seconds") from None


@contextlib.contextmanager
def locked(path: str | Path, what: str = "output", wait: float | None = None) -> Iterator[Path]:
    """Hold an exclusive OS lock for writing ``path`` (see the module docstring)."""
    lock = Path(os.path.abspath(lock_path(path)))
    key = str(lock)
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield Path(path)
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    made = [p for p in [lock.parent, *lock.parent.parents] if not p.exists()]
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    wait = _wait_seconds() if wait is None else wait
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait:g} s" if wait else ""
                    raise LockError(f"{path}: the {what} is being written by another medfx process ({_holder(lock)})"
                                    f"{waited}; wait for it to finish (or set {LOCK_WAIT_ENV}=SECONDS to wait)") \
                        from None
                time.sleep(0.2)
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                             "argv": sys.argv[:6]}).encode())
    _HELD[key] = (fd, 1)
    try:
        yield Path(path)
    finally:
        fd, depth = _HELD.pop(key)
        try:
            if made and not Path(path).exists():  # nothing was written: leave no folders behind for the lock
                with contextlib.suppress(OSError):
                    lock.unlink()
                    for p in made:
                        p.rmdir()
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
