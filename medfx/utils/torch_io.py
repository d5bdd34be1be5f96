"""Loading PyTorch files without running code, with one-line errors that tell a damaged file from an unsafe one."""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import CheckpointError


def safe_torch_load(path: str | Path, what: str = "checkpoint"):
    """``torch.load(weights_only=True)`` with one-line errors that tell a broken file from an unsafe one.

    Never unpickles code: a file holding Python objects other than tensors and plain containers is refused."""
    import pickle
    import zipfile

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: {what} not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: is a folder, not a {what} file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" in text:
            if not zipfile.is_zipfile(path) and not _looks_like_pickle(path):
                raise CheckpointError(f"{path}: is not a valid {what} (not a PyTorch file; damaged or another "
                                      "format)") from None
            detail = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith(("WeightsUnpickler error",
                                                                                           "Unsupported"))), "")
            raise CheckpointError(f"{path}: is not a safe {what}: it holds Python objects that only a full unpickle "
                                  f"could load, which can run code, so medfx refuses it ({detail[:160]})") from None
        raise CheckpointError(f"{path}: is not a valid {what} ({type(e).__name__}: {text.splitlines()[0][:160]})") \
            from None
    except Exception as e:  # noqa: BLE001 - any zip/stream error means a damaged or foreign file
        first = (str(e).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path}: is not a valid {what} (damaged or truncated; {type(e).__name__}: "
                              f"{first[:160]})") from None


def _looks_like_pickle(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5  # pickle protocol 2..5 header
