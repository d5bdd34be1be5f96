"""Unlabelled pools: every image of one or more datasets, used without labels (e.g. to pretrain a DDPM).

``load_pool(data_cfg, paths)`` reads EVERY item of each dataset (official splits and labels are ignored, nothing
is carved off for validation or test), preprocessed with ``data_cfg`` (size, intensity), as one dataset whose
labels are all -1. ``pool_overlap`` finds pool images that are identical or nearly identical to given images
(e.g. the target's validation and test images), so they can be dropped before pretraining.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset

from .config import DataConfig
from .datasets import DataError, ImageDataset, load_dataset


class PoolDataset(ImageDataset):
    """Concatenation of datasets, unlabelled (label -1); ids are ``<k>:<id>`` with k the dataset's position."""

    def __init__(self, parts: Sequence[ImageDataset], keep: Sequence[np.ndarray] | None = None):
        parts = list(parts)
        if not parts:
            raise DataError("an unlabelled pool needs at least one dataset")
        sizes = {tuple(p.image_size) for p in parts}
        if len(sizes) != 1:
            raise DataError(f"pool datasets have different image sizes {sorted(sizes)}; set data.size")
        keep = [np.arange(len(p)) for p in parts] if keep is None else [np.asarray(k, dtype=np.int64) for k in keep]
        self.parts, self.keep = parts, keep
        self._index = [(i, int(j)) for i, k in enumerate(keep) for j in k]
        ids = [f"{i}:{parts[i].ids[j]}" for i, j in self._index]
        super().__init__(source=" + ".join(p.source for p in parts), spatial_dims=parts[0].spatial_dims,
                         class_names=[], labels=np.full(len(ids), -1, dtype=np.int64), ids=ids, subjects=None,
                         image_size=parts[0].image_size)

    def __getitem__(self, i: int):
        p, j = self._index[i]
        x, _, _ = self.parts[p][j]
        return x, -1, self.ids[i]

    def without(self, positions: Sequence[int]) -> PoolDataset:
        """The same pool minus the items at ``positions``."""
        drop = set(int(p) for p in positions)
        keep = [[] for _ in self.parts]
        for pos, (p, j) in enumerate(self._index):
            if pos not in drop:
                keep[p].append(j)
        return PoolDataset(self.parts, [np.asarray(k, dtype=np.int64) for k in keep])


def load_pool(data_cfg: DataConfig, paths: Sequence[str]) -> PoolDataset:
    """Every image of every dataset in ``paths`` (preprocessing of ``data_cfg``, no splits, no subsampling)."""
    parts = []
    for path in paths:
        cfg = dataclasses.replace(data_cfg, path=path, max_per_split=None)
        parts.append(load_dataset(cfg))
    return PoolDataset(parts)


def _thumbs(ds: Dataset, size: int = 8) -> np.ndarray:
    """Mean-centred, unit-norm thumbnails ``[N, size^d]`` (a near-duplicate descriptor)."""
    import torch.nn.functional as F

    out = []
    for i in range(len(ds)):
        x = ds[i][0].float()[None]
        d = x.ndim - 2
        t = F.adaptive_avg_pool2d(x, size) if d == 2 else F.adaptive_avg_pool3d(x, size)
        v = t.reshape(-1)
        v = v - v.mean()
        out.append((v / v.norm().clamp_min(1e-8)).numpy())
    return np.stack(out) if out else np.zeros((0, size * size))


def pool_overlap(pool: Dataset, others: Sequence[Dataset], threshold: float = 0.995,
                 chunk: int = 2048) -> np.ndarray:
    """Positions of ``pool`` items identical to, or nearly identical with, any item of ``others``.

    Identical: the preprocessed tensors are equal. Nearly identical: the cosine similarity of mean-centred 8x8
    (8^3) thumbnails is at least ``threshold`` (catches re-encodings and small intensity changes; a heuristic,
    not a guarantee). Returns sorted positions.
    """
    ref = [ds[i][0] for ds in others for i in range(len(ds))]
    if not ref or len(pool) == 0:
        return np.array([], dtype=np.int64)
    exact = {hash(x.numpy().tobytes()) for x in ref}
    hits = {i for i in range(len(pool)) if hash(pool[i][0].numpy().tobytes()) in exact}
    a = _thumbs(pool)
    b = np.concatenate([_thumbs(ds) for ds in others])
    for s in range(0, len(a), chunk):
        sim = a[s:s + chunk] @ b.T
        hits |= set((s + np.flatnonzero(sim.max(1) >= threshold)).tolist())
    return np.array(sorted(hits), dtype=np.int64)
