"""Console lines of ``medfx run``: numbered stage headers with elapsed time and ETA, per-seed results."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("medfx")


def fmt_s(seconds: float | None) -> str:
    """``75.3 -> "1m15s"``; ``None -> "?"``."""
    if seconds is None:
        return "?"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f}s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class StageHeaders:
    """``[k/N] stage`` lines. ``previous``: stage times of an earlier session of this run (``stages/*.json``),
    used for the ETA of the stages still to come; without them the ETA is left out rather than guessed."""

    def __init__(self, planned: list[str], previous: dict[str, float] | None = None):
        self.planned = planned
        self.previous = previous or {}
        self.t0 = time.perf_counter()

    def start(self, name: str, what: str = "") -> None:
        if name not in self.planned:
            return
        k = self.planned.index(name) + 1
        rest = self.planned[k - 1:]
        known = [self.previous.get(s) for s in rest]
        eta = f", ETA ~{fmt_s(sum(known))} (times of the previous session)" if known and all(
            v is not None for v in known) else ""
        logger.info("[%d/%d] %s%s (elapsed %s%s)", k, len(self.planned), name, f": {what}" if what else "",
                    fmt_s(time.perf_counter() - self.t0), eta)


class SeedETA:
    """ETA of the remaining (method, seed) fits from the times measured so far (same method first)."""

    def __init__(self, plan: list[tuple[str, int]]):
        self.plan = list(plan)
        self.times: dict[str, list[float]] = {}

    def done(self, method: str, seconds: float) -> None:
        self.times.setdefault(method, []).append(seconds)

    def remaining(self, after: int) -> float | None:
        rest = self.plan[after:]
        if not rest:
            return 0.0
        every = [t for ts in self.times.values() for t in ts]
        if not every:
            return None
        total = 0.0
        for m, _ in rest:
            ts = self.times.get(m)
            total += sum(ts) / len(ts) if ts else sum(every) / len(every)
        return total
