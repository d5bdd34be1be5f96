"""Exponential moving average of model weights."""

from __future__ import annotations

import copy

import torch


class EMA:
    """``ema = EMA(model, decay)``; ``ema.update(model, step)`` after each optimizer step; ``ema.module`` is the
    averaged copy.

    With ``warmup=True`` (default) the decay used at step ``s`` is ``min(decay, (1 + s) / (10 + s))`` so the
    random initial weights fade fast. It reaches 0.999 only after ~9,000 steps: about 0.96 after 250 steps and
    0.985 after 600, so short runs (the classifier heads) average over the last ~25-70 steps, not ~1,000.
    ``warmup=False`` uses ``decay`` from the first step. :func:`effective_decay` gives the value per step."""

    def __init__(self, model: torch.nn.Module, decay: float, warmup: bool = True):
        self.decay = decay
        self.warmup = warmup
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = effective_decay(self.decay, step, self.warmup)
        ema_params = list(self.module.parameters())
        params = [p.detach() for p in model.parameters()]
        if ema_params:
            torch._foreach_lerp_(ema_params, params, 1 - d)  # one fused update instead of a Python loop
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, sd: dict) -> None:
        self.module.load_state_dict(sd)


def effective_decay(decay: float, step: int, warmup: bool = True) -> float:
    """The decay :class:`EMA` applies at optimizer step ``step`` (0-based)."""
    return min(decay, (1 + step) / (10 + step)) if warmup else decay
