"""What ran, where, on what software: ``versions()`` (environment capture) and ``done_record()``.

Written into every run directory as ``versions.json`` (and summarised in ``done.json``): the small capture below
plus, under ``"environment"``, the fuller report of ``medfx env`` (``medfx.utils.hardware.environment_report``:
CPU capability, bf16 support, thread plan, GPUs, the precision ``auto`` picks). Returns values, touches no
global state.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from datetime import datetime, timezone
from importlib import metadata


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    want = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in want if w in have]
    except OSError:
        pass
    return []


def versions() -> dict:
    """Software and hardware of this process: medfx, Python, torch, MONAI, numpy, scikit-learn, scipy; device,
    CPU model and flags, host, threads, platform, UTC time."""
    import medfx

    info = {
        "medfx": getattr(medfx, "__version__", None) or _version("medfx"),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in ("torch", "monai", "numpy", "scikit-learn", "scipy",
                                                      "matplotlib", "safetensors", "jinja2")},
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cpu_count": os.cpu_count(),
        "env_threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        "executable": sys.executable,
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.version.cuda
        info["devices"] = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                           if torch.cuda.is_available() else ["cpu"])
    except Exception:  # noqa: BLE001 - capture must never fail a run
        pass
    try:  # the fuller `medfx env` report (imported here: this module imports no torch, and capture never fails)
        from .hardware import environment_report

        info["environment"] = environment_report()
    except Exception:  # noqa: BLE001
        pass
    return info


def git_revision(path=None) -> str | None:
    """The git commit of the medfx source tree, if it is a checkout (else None)."""
    import subprocess
    from pathlib import Path

    import medfx

    root = Path(path or Path(medfx.__file__).resolve().parent.parent)
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None
