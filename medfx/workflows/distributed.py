"""The process group of a command launched by ``torchrun`` (workflow layer: library code only takes a ``DistInfo``).

Commands start the group through ``medfx.utils.runtime.init_distributed`` (gloo on CPU, nccl on CUDA, from the
``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` / ``MASTER_PORT`` variables torchrun sets); ``cli.main`` ends it.
``medfx run`` lets rank 0 lead the pipeline while the other ranks follow into its collective stages.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os


def launched_rank() -> int:
    """This process's rank when launched by ``torchrun`` (``RANK``), else 0: ranks other than 0 log warnings only."""
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0


def end_distributed() -> None:
    """Tear down the process group a command started under ``torchrun`` (no-op otherwise)."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


# -- a leader and its followers: `medfx run` under torchrun -------------------------------------------------------
# Rank 0 runs the pipeline; the other ranks wait in `follow` and join every collective stage (DDPM training,
# feature extraction, sampling) rank 0 enters: a function marked `@collective` first tells the followers, by a
# broadcast of its name and arguments, to make the same call. Outside `lead` (e.g. `medfx extract` under torchrun,
# where every rank runs the command itself) a collective function is an ordinary call.
_COLLECTIVES: dict = {}
# the DistInfo rank 0 leads with; inside a collective call; a collective call failed on rank 0 (the followers may
# be anywhere inside it then: they are not released by a broadcast, torchrun or the broken connection ends them)
_STATE = {"leading": None, "inside": False, "broken": False}


def collective(fn):
    """Mark a workflow function every rank must call together (see :func:`lead`)."""
    name = (fn.__module__, fn.__qualname__)
    _COLLECTIVES[name] = fn

    @functools.wraps(fn)
    def call(*args, **kwargs):
        dist = _STATE["leading"]
        if dist is None or _STATE["inside"]:
            return fn(*args, **kwargs)
        from ..utils.distributed import broadcast

        broadcast((name, args, kwargs), dist)
        _STATE["inside"] = True
        try:
            return fn(*args, **kwargs)
        except BaseException:
            _STATE["broken"] = True
            raise
        finally:
            _STATE["inside"] = False

    return call


@contextlib.contextmanager
def lead(dist):
    """Rank 0 runs the block; every ``@collective`` call inside it is joined by the followers. Leaving the block
    (also by an error) releases them."""
    if not dist.enabled:
        yield
        return
    from ..utils.distributed import broadcast

    _STATE.update(leading=dist, broken=False)
    try:
        yield
    except BaseException:
        if not _STATE["broken"]:  # the followers wait for the next call: release them, keep rank 0's error
            with contextlib.suppress(Exception):
                broadcast(None, dist)
        raise
    else:
        broadcast(None, dist)
    finally:
        _STATE.update(leading=None, broken=False)


def follow(dist) -> None:
    """Ranks other than 0: make every collective call rank 0 announces, until it releases them."""
    from ..utils.distributed import broadcast

    while (task := broadcast(None, dist)) is not None:
        name, args, kwargs = task
        importlib.import_module(name[0])  # registers the module's collective functions
        _COLLECTIVES[name](*args, **kwargs)
