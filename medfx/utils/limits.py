"""Limits checked before allocating memory for untrusted input (declared array / volume sizes, label values)."""

from __future__ import annotations

import os

MAX_CLASSES = 10_000  # label values must be class indices below this (a label of 10**12 is refused, not allocated)
MEMORY_ENV = "MEDFX_MAX_INPUT_BYTES"  # overrides the memory budget for declared input sizes


def available_memory() -> int:
    """Bytes of memory available to this process: MemAvailable, capped by RLIMIT_AS / RLIMIT_DATA when set."""
    env = os.environ.get(MEMORY_ENV)
    if env:
        try:
            return int(float(env))
        except ValueError:
            pass
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 1 << 40
    try:
        import resource

        for lim in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
            soft = resource.getrlimit(lim)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                avail = min(avail, soft)
    except (ImportError, ValueError, OSError):
        pass
    return int(avail)


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"
