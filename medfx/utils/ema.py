"""Exponential moving average of model weights."""

from __future__ import annotations

import copy

import torch


class EMA:
    """``ema = EMA(model, decay)``; ``ema.update(model, step)`` after each optimizer step; ``ema.module`` is the
    averaged copy. The decay warms up as ``min(decay, (1 + step) / (10 + step))`` so early weights fade fast."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
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
