"""Pooling of block outputs ``[B, C, *spatial]`` (any rank)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

POOLS = ("gap", "avgmax", "grid", "none")


_ADAPTIVE_POOLS = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


def adaptive_pool(x: torch.Tensor, grid) -> torch.Tensor:
    """Adaptive average pooling of ``[B, C, *spatial]`` (1D, 2D or 3D) to ``grid`` cells per axis (an int or one
    size per axis); a no-op when the map already has that size."""
    d = x.ndim - 2
    size = (int(grid),) * d if isinstance(grid, int) else tuple(int(g) for g in grid)
    if tuple(x.shape[2:]) == size:
        return x
    if d not in _ADAPTIVE_POOLS or len(size) != d:
        raise ValueError(f"cannot pool a {tuple(x.shape)} map to grid {size}")
    return _ADAPTIVE_POOLS[d](x, size)


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
