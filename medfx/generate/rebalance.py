"""Targeted synthetic rebalancing: how many images each class lacks, and real + generated training data.

``medfx.workflows.generate.synthesize`` generates the missing images into a folder.

Only the training split gets synthetic images; validation and test stay real, so any gain measured on
them is a gain on real images.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..data import DataConfig, DataError, FileDataset, ImageDataset
from ..data.datasets import build_catalog
from ..data.splits import split_indices
from .sample import load_generated, read_manifest

logger = logging.getLogger("medfx")


def rebalance_counts(class_counts: Mapping[int, int] | Sequence[int], ratio: float) -> dict[int, int]:
    """Synthetic images needed per class so that every class has at least ``ratio * max_count`` images.

    The target is ``ceil(ratio * max_count)`` with ``ratio`` read as the decimal it is written as (0.7 * 10
    is 7, not 8); a class at or above it needs 0. ``ratio`` in (0, 1]; 1.0 balances fully.
    Example: ``rebalance_counts([100, 10, 40], 0.5) == {0: 0, 1: 40, 2: 10}``."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
    counts = dict(class_counts) if isinstance(class_counts, Mapping) else dict(enumerate(class_counts))
    if not counts:
        raise ValueError("class_counts is empty")
    neg = [c for c, k in counts.items() if int(k) < 0]
    if neg:
        raise ValueError(f"class_counts: negative count {counts[neg[0]]} for class {neg[0]}")
    top = max(int(k) for k in counts.values())
    if top == 0:
        raise ValueError("class_counts: every class is empty")
    target = math.ceil(Fraction(str(float(ratio))) * top)
    return {int(c): max(0, target - int(k)) for c, k in sorted(counts.items())}


def real_train_counts(data_cfg: DataConfig) -> tuple[dict[int, int], list[str]]:
    """Images per class in the training split of ``data_cfg`` (as ``load_splits`` splits), and class names."""
    cat = build_catalog(data_cfg)
    train = split_indices(cat, data_cfg)["train"]
    labels = cat.labels[train]
    if (labels < 0).any():
        raise DataError(f"{data_cfg.path}: rebalancing needs a label for every training image")
    return {c: int((labels == c).sum()) for c in range(len(cat.class_names))}, list(cat.class_names)


class MixedDataset(ImageDataset):
    """Real training images followed by synthetic ones; synthetic ids start with ``synthetic/``."""

    def __init__(self, real: ImageDataset, synthetic: ImageDataset | None) -> None:
        n_syn = 0 if synthetic is None else len(synthetic)
        syn_labels = np.zeros(0, np.int64) if synthetic is None else synthetic.labels
        syn_ids = [] if synthetic is None else [f"synthetic/{i}" for i in synthetic.ids]
        super().__init__(
            source=f"{real.source} + synthetic",
            spatial_dims=real.spatial_dims,
            class_names=real.class_names,
            labels=np.concatenate([real.labels, syn_labels]),
            ids=list(real.ids) + syn_ids,
            subjects=None if real.subjects is None else list(real.subjects) + syn_ids,
            image_size=real.image_size,
        )
        self.real = real
        self.synthetic = synthetic
        self.n_real = len(real)
        self.n_synthetic = n_syn
        self.is_synthetic = np.r_[np.zeros(len(real), bool), np.ones(n_syn, bool)]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        if i < self.n_real:
            return self.real[i]
        x, _, _ = self.synthetic[i - self.n_real]
        return x, int(self.labels[i]), self.ids[i]


def mixed_training_set(
    real_train_ds: ImageDataset, synthetic_dir: str | Path, data_cfg: DataConfig | None = None
) -> MixedDataset:
    """Real training set + the images of a generated folder, for retraining baselines on rebalanced data.

    Synthetic images are resized to the real images' size and scaled like them (``data_cfg``, default the
    real dataset's own config when it has one); their classes are matched to the real ones by name. Use it
    for the training split only: validation and test stay real."""
    synthetic_dir = Path(synthetic_dir)
    rows, names = read_manifest(synthetic_dir)
    if not rows:
        logger.info("%s: no synthetic images; the mixed set is the real set", synthetic_dir)
        return MixedDataset(real_train_ds, None)
    if any(r["class"] is None for r in rows):
        raise ValueError(f"{synthetic_dir}: unconditional samples have no labels to train a classifier on")
    real_names = list(real_train_ds.class_names)
    unknown = sorted({n for n in names or [] if n not in real_names})
    if unknown:
        raise ValueError(
            f"{synthetic_dir}: synthetic classes {unknown} are not among the real classes {real_names}"
        )
    base = data_cfg or (real_train_ds.cfg if isinstance(real_train_ds, FileDataset) else DataConfig())
    cfg = DataConfig(
        path=str(synthetic_dir),
        size=tuple(real_train_ds.image_size),
        resize_mode=base.resize_mode,
        intensity=base.intensity,
        percentiles=base.percentiles,
        intensity_range=base.intensity_range,
    )
    syn = load_generated(synthetic_dir, cfg)
    syn.labels = np.array([real_names.index(names[c]) for c in syn.labels], dtype=np.int64)
    syn.class_names = real_names
    return MixedDataset(real_train_ds, syn)
