"""One error hierarchy for everything medfx refuses: ``MedfxError`` and its subclasses.

Every message is one line and names the file (or config key) and the problem. The subclasses keep their
historical builtin bases (``ValueError`` / ``RuntimeError``) so that existing ``except ValueError`` code still
works; catch ``MedfxError`` to catch any of them. ``cli.main`` turns them, and OS errors (read-only folder,
not a directory, disk full, permission denied) into one ``medfx: error: ...`` line with exit status 2.
"""

from __future__ import annotations

import errno


class MedfxError(Exception):
    """Base class: a problem with the user's input, files or environment (not a bug in medfx)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(" ".join(str(message).split()))


class ConfigError(MedfxError, ValueError):
    """A configuration problem; the message names the key (and the file)."""


class DataError(MedfxError, ValueError):
    """Bad input data; the message names the file (or key) and the problem."""


class CheckpointError(MedfxError, ValueError):
    """A checkpoint (or weights file) that is missing, unreadable, unsafe or does not fit; names the file."""


class RunError(MedfxError, RuntimeError):
    """A run that cannot start or continue; names the run directory."""


class OutputError(MedfxError, ValueError):
    """An output path medfx refuses to write to (a file, a foreign non-empty folder, outside out_dir)."""


class LockError(MedfxError, RuntimeError):
    """Another medfx process is writing the same run directory, feature bank or stage output."""


_OS_REASONS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOSPC: "no space left on the device (disk full); free space and re-run to resume",
    errno.EDQUOT: "disk quota exceeded; free space and re-run to resume",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
}


def os_error_message(e: OSError) -> str:
    """``OSError`` -> one line: ``PATH: reason``."""
    reason = _OS_REASONS.get(e.errno or -1) or (e.strerror or str(e) or type(e).__name__)
    where = e.filename if e.filename is not None else None
    if where is None:  # torch's writers wrap ENOSPC in RuntimeError text; the path may be missing
        return reason
    return f"{where}: {reason}"


def find_os_error(e: BaseException) -> OSError | None:
    """The ``OSError`` behind ``e`` (itself, or in its cause / context chain), else None."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            return e
        e = e.__cause__ or e.__context__
    return None
