"""Sharded inference over ranks: which batches a rank computes, and moving results to rank 0.

Inference stages (feature extraction, sampling, detector features) cut their work into the SAME batches as one
process would (``batch_ranges``) and deal them out round-robin: in round ``j`` rank ``r`` computes batch
``j * world + r``. Every sample is therefore computed in exactly the batch it would have been in alone, so the
results are bitwise those of one process, whatever the number of ranks; rank 0 receives each round's batches in
order (:func:`gather_round`) and alone writes files.

A failure on any rank reaches every rank at the next :func:`agree` / :func:`gather_round` (each rank reports
its error first), so all ranks stop with the same message and no rank waits forever; rank 0 then never publishes
its output. The functions take a :class:`~medfx.utils.runtime.DistInfo`; with ``world_size == 1`` they are
no-ops and torch.distributed is never touched. The process group is set up by the workflow layer
(``medfx.utils.runtime.init_distributed``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .errors import MedfxError
from .runtime import DistInfo


class RankError(MedfxError, RuntimeError):
    """Another rank (or this one) failed during a sharded stage."""


def batch_ranges(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of consecutive batches over ``n`` items, as an unshuffled loader cuts them."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


@dataclass(frozen=True)
class Round:
    """One round of a sharded loop: ``mine`` is this rank's batch index (None when it has none this round);
    ``batches`` the indices every rank computes in this round, in rank order (what rank 0 receives)."""

    index: int
    mine: int | None
    batches: list[int]


def rounds(num_batches: int, dist: DistInfo | None) -> Iterator[Round]:
    """The rounds of a loop over ``num_batches`` batches dealt out round-robin over ``dist``'s ranks."""
    world, rank = (dist.world_size, dist.rank) if dist is not None else (1, 0)
    for j in range(math.ceil(num_batches / world)):
        batches = [k for k in range(j * world, (j + 1) * world) if k < num_batches]
        k = j * world + rank
        yield Round(j, k if k < num_batches else None, batches)


def _enabled(dist: DistInfo | None) -> bool:
    return dist is not None and dist.enabled


def agree(dist: DistInfo | None, error: BaseException | str | None = None, what: str = "") -> None:
    """A checkpoint every rank passes together: raises :class:`RankError` on every rank when any rank brings an
    ``error`` (naming the rank and its message). One process: raises ``error`` itself, if any."""
    if not _enabled(dist):
        if isinstance(error, BaseException):
            raise error
        if error is not None:
            raise RankError(str(error))
        return
    text = None if error is None else (error if isinstance(error, str) else f"{type(error).__name__}: {error}")
    texts: list = [None] * dist.world_size
    torch.distributed.all_gather_object(texts, text)
    failed = [(r, t) for r, t in enumerate(texts) if t is not None]
    if failed:
        r, t = failed[0]
        where = f" during {what}" if what else ""
        raise RankError(f"rank {r} of {dist.world_size} failed{where}: {t}") from (
            error if isinstance(error, BaseException) else None)


def gather_round(payload, dist: DistInfo | None, error: BaseException | None = None, what: str = "") -> list | None:
    """The payloads of one round on rank 0 (a list in rank order; None elsewhere). Every rank first reports its
    ``error`` (see :func:`agree`). Payloads are pickled: send numpy arrays, not device tensors."""
    agree(dist, error, what)
    if not _enabled(dist):
        return [payload]
    out: list | None = [None] * dist.world_size if dist.is_main else None
    torch.distributed.gather_object(payload, out, dst=0)
    return out


def broadcast(obj, dist: DistInfo | None):
    """``obj`` of rank 0 on every rank (picklable)."""
    if not _enabled(dist):
        return obj
    box = [obj if dist.is_main else None]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(array: np.ndarray, dist: DistInfo | None, device: torch.device | str = "cpu") -> np.ndarray:
    """Element-wise sum of ``array`` over ranks, in the array's dtype (float64 stays float64); ``device`` is
    where the collective runs (the rank's CUDA device under nccl)."""
    if not _enabled(dist):
        return array
    t = torch.from_numpy(np.ascontiguousarray(array)).to(device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t.cpu().numpy()


def collective_device(dist: DistInfo | None) -> torch.device:
    """Where tensors for collectives live: the rank's CUDA device under nccl, else the CPU."""
    if _enabled(dist) and torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
