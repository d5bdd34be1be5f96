"""The backbone contract shared by every diffusion network in medfx (U-Net, U-ViT).

A backbone predicts noise, ``forward(x, t, y=None) -> Tensor``, and declares its blocks up front
(``feature_info``) so that features can be addressed by stable, readable names. Intermediate
features come from ``forward_blocks`` (features only, stops after the deepest requested block) and
``forward_intermediates`` (prediction and features); their return types never change with a flag.

Conditioning ``y`` is either integer class labels ``[B]`` (``torch.long``) or soft class
probabilities ``[B, K]`` (float), which mix the class embeddings; the soft form lets a gradient
flow from a classifier's probabilities through the frozen diffusion model (D-Cube cycle loss).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class BlockInfo:
    """What one addressable block produces."""

    name: str  # stable readable name, e.g. "down.1", "mid", "up.0", "in.3"
    index: int  # execution order within the forward pass (0 = first block run)
    channels: int  # channels (U-Net) or token width (U-ViT) of the block's output
    reduction: tuple[int, ...]  # per-axis downsampling of the output relative to the input image


class Backbone(nn.Module):
    """Base class: subclasses set ``self.feature_info`` and implement ``_run``."""

    feature_info: list[BlockInfo]
    spatial_dims: int
    num_classes: int | None

    # -- block addressing -------------------------------------------------------------
    def block_names(self) -> list[str]:
        return [b.name for b in self.feature_info]

    def block(self, name: str) -> BlockInfo:
        for b in self.feature_info:
            if b.name == name:
                return b
        raise KeyError(f"unknown block {name!r}; valid blocks: {', '.join(self.block_names())}")

    def resolve_blocks(self, blocks) -> list[str]:
        """Validate names (``"all"`` or None means every block); return them in execution order."""
        if blocks is None or blocks == "all":
            return self.block_names()
        if isinstance(blocks, str):
            blocks = [blocks]
        for name in blocks:
            self.block(name)
        order = {b.name: b.index for b in self.feature_info}
        return sorted(dict.fromkeys(blocks), key=order.__getitem__)

    # -- forward variants ----------------------------------------------------------------
    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out, _ = self._run(x, t, y, blocks=(), stop_early=False)
        return out

    def forward_intermediates(self, x, t, blocks=None, y=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Prediction and a dict ``{block_name: output}`` for the requested blocks."""
        names = self.resolve_blocks(blocks)
        out, feats = self._run(x, t, y, blocks=names, stop_early=False)
        return out, feats

    def forward_blocks(self, x, t, blocks=None, y=None, reduce=None) -> dict[str, torch.Tensor]:
        """Only the features; the pass stops right after the deepest requested block.

        ``reduce(name, map) -> Tensor``, when given, is applied to each block's output the moment it is
        produced (e.g. pooling), so the full map is freed as the pass goes on: peak memory then holds one
        full map at a time instead of every requested block's.
        """
        names = self.resolve_blocks(blocks)
        if reduce is None:
            _, feats = self._run(x, t, y, blocks=names, stop_early=True)
        elif "reduce" in inspect.signature(self._run).parameters:
            _, feats = self._run(x, t, y, blocks=names, stop_early=True, reduce=reduce)
        else:  # a backbone whose _run predates ``reduce``: reduce after the pass
            _, feats = self._run(x, t, y, blocks=names, stop_early=True)
            feats = {name: reduce(name, value) for name, value in feats.items()}
        return feats

    def _run(self, x, t, y, blocks, stop_early, reduce=None) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------
    @staticmethod
    def _timesteps(t: torch.Tensor | int, batch: int, device) -> torch.Tensor:
        t = torch.as_tensor(t, device=device)
        if t.ndim == 0:
            t = t.expand(batch)
        return t.long()

    def _class_embedding(self, embedding: nn.Embedding, y: torch.Tensor) -> torch.Tensor:
        """Embed hard labels ``[B]`` or soft probabilities ``[B, K]`` (a mixture of class embeddings).

        Conditional backbones allocate ``K + 1`` embeddings: row ``K`` is the "no class" token used
        for classifier-free guidance (label dropout). Soft labels cover the K real classes.
        """
        k = embedding.num_embeddings - 1
        if y.dtype.is_floating_point:
            if y.ndim != 2 or y.shape[1] != k:
                raise ValueError(f"soft labels must have shape [B, {k}], got {tuple(y.shape)}")
            return y.to(embedding.weight.dtype) @ embedding.weight[:k]
        return embedding(y.long())
