"""Torch thread pools for a medfx process (``run.threads``): workflow code owns this process-global setting."""

from __future__ import annotations

import contextlib
import logging

from ..utils.hardware import ThreadPlan, plan_threads

logger = logging.getLogger("medfx")


def apply_threads(plan: ThreadPlan) -> None:
    """Set torch's intra-op and inter-op threads (inter-op can only be set before the first parallel op)."""
    import torch

    torch.set_num_threads(plan.threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(plan.interop)


def apply_run_threads(requested) -> ThreadPlan | None:
    """``run.threads`` (``auto``, N, or 0 = leave torch's default) applied to this process; returns the plan."""
    if requested == 0:
        return None
    plan = plan_threads(requested)
    apply_threads(plan)
    logger.debug("torch threads %d, inter-op %d (%s)", plan.threads, plan.interop, plan.reason)
    return plan
