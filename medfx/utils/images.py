"""Image grids for 2D images and 3D volumes (three orthogonal middle slices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def to_uint8(x: torch.Tensor | np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    return (np.clip((a - low) / (high - low), 0, 1) * 255).round().astype(np.uint8)


def middle_slices(vol: np.ndarray) -> np.ndarray:
    """``[D, H, W]`` -> the axial, coronal and sagittal middle slices side by side, padded to one height."""
    d, h, w = vol.shape
    views = [vol[d // 2], vol[:, h // 2, :], vol[:, :, w // 2]]
    height = max(v.shape[0] for v in views)
    views = [np.pad(v, ((0, height - v.shape[0]), (0, 1))) for v in views]
    return np.concatenate(views, axis=1)


def make_grid(images: torch.Tensor, ncol: int | None = None, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """``[N, 1, *spatial]`` in [low, high] -> one uint8 grey grid image (3D: middle slices per volume)."""
    arr = to_uint8(images[:, 0], low, high)
    tiles = [middle_slices(a) if a.ndim == 3 else a for a in arr]
    n = len(tiles)
    th, tw = tiles[0].shape
    if ncol is None:
        ncol = max(1, min(n, int(round(np.sqrt(n * th / tw)))))
    nrow = int(np.ceil(n / ncol))
    grid = np.zeros((nrow * (th + 2) + 2, ncol * (tw + 2) + 2), dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncol)
        grid[2 + r * (th + 2): 2 + r * (th + 2) + th, 2 + c * (tw + 2): 2 + c * (tw + 2) + tw] = t
    return grid


def save_grid(images: torch.Tensor, path: str | Path, ncol: int | None = None, scale: int = 0,
              low: float = -1.0, high: float = 1.0) -> Path:
    """Write a grid of ``[N, 1, *spatial]`` images whose values lie in [low, high] (the data range)."""
    from PIL import Image

    grid = make_grid(images, ncol, low, high)
    img = Image.fromarray(grid, mode="L")
    if scale == 0:
        scale = max(1, 256 // max(grid.shape))
    if scale > 1:
        img = img.resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
