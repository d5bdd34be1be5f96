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
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, sd: dict) -> None:
        self.module.load_state_dict(sd)
