"""Pooling of block outputs ``[B, C, *spatial]`` (any rank)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

POOLS = ("gap", "avgmax", "grid", "none")


def adaptive_pool(x: torch.Tensor, grid: int | tuple[int, ...]) -> torch.Tensor:
    d = x.ndim - 2
    size = (grid,) * d if isinstance(grid, int) else tuple(grid)
    return (F.adaptive_avg_pool2d if d == 2 else F.adaptive_avg_pool3d)(x, size)


def pool_features(x: torch.Tensor, pool: str, grid: int = 2) -> torch.Tensor:
    """gap: ``[B, C]``; avgmax: ``[B, 2C]`` (mean and max); grid: ``[B, C, g, g(, g)]``; none: the map itself."""
    if pool == "gap":
        return x.flatten(2).mean(-1)
    if pool == "avgmax":
        f = x.flatten(2)
        return torch.cat([f.mean(-1), f.amax(-1)], dim=1)
    if pool == "grid":
        return adaptive_pool(x, grid)
    if pool == "none":
        return x
    raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
