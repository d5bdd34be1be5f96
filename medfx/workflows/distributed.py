"""The process group of a command launched by ``torchrun`` (workflow layer: library code only takes a ``DistInfo``).

Commands start the group through ``medfx.utils.runtime.init_distributed`` (gloo on CPU, nccl on CUDA, from the
``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` / ``MASTER_PORT`` variables torchrun sets); ``cli.main`` ends it.
"""

from __future__ import annotations

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
