"""Forward hooks for models that do not implement ``forward_blocks`` (foreign networks, reference checks).

``capture`` is a context manager: hooks are removed on exit, also when the forward pass raises.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class StopForward(Exception):
    """Raised by a hook to end a forward pass after the deepest requested module."""


@contextlib.contextmanager
def capture(modules: dict[str, nn.Module], stop_after: str | None = None):
    """Record the outputs of ``modules`` (name -> module) into the yielded dict.

    Tuple outputs (e.g. MONAI down blocks return ``(hidden, residuals)``) keep their first element. With
    ``stop_after``, the hook of that module raises ``StopForward``; call the model inside
    ``contextlib.suppress(StopForward)``."""
    store: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name):
        def hook(_module, _inputs, output):
            store[name] = output[0] if isinstance(output, tuple) else output
            if name == stop_after:
                raise StopForward(name)

        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield store
    finally:
        for h in handles:
            h.remove()


def monai_unet_modules(net) -> dict[str, nn.Module]:
    """medfx block names -> modules of a MONAI ``DiffusionModelUNet`` (``down.i``, ``mid``, ``up.i``)."""
    mods = {f"down.{i}": b for i, b in enumerate(net.down_blocks)}
    mods["mid"] = net.middle_block
    mods.update({f"up.{i}": b for i, b in enumerate(net.up_blocks)})
    return mods
