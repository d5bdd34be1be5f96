"""Train / val / test splits: official ones where the data has them, seeded stratified ones otherwise."""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

from medfx.data.config import DataConfig
from medfx.data.datasets import Catalog, DataError, ImageDataset, build_catalog, make_dataset

log = logging.getLogger(__name__)


def _can_stratify(y: np.ndarray, n_holdout: int) -> bool:
    counts = np.unique(y, return_counts=True)[1]
    return counts.min() >= 2 and n_holdout >= len(counts) and len(y) - n_holdout >= len(counts)


def holdout(
    index: np.ndarray, labels: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``index`` into (keep, held out) with about ``fraction`` held out.

    Stratified by label (unlabelled items form their own stratum); with ``groups``, no group is
    on both sides (StratifiedGroupKFold, one fold held out; GroupShuffleSplit if that is impossible).
    """
    y = labels[index]
    if groups is None:
        n_hold = max(1, round(fraction * len(index)))
        if n_hold >= len(index):
            raise DataError(f"cannot hold out {fraction:.0%} of only {len(index)} items")
        stratify = y if _can_stratify(y, n_hold) else None
        keep, hold = train_test_split(
            index, test_size=n_hold, random_state=seed, shuffle=True, stratify=stratify
        )
        return np.sort(keep), np.sort(hold)
    g = groups[index]
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise DataError(f"cannot hold out {fraction:.0%} of a single subject")
    n_splits = max(2, round(1.0 / fraction))
    if n_groups >= n_splits and np.unique(y, return_counts=True)[1].min() >= n_splits:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            keep, hold = next(cv.split(index, y, g))
    else:
        cv = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        keep, hold = next(cv.split(index, y, g))
    if len(hold) == 0 or len(keep) == 0:
        raise DataError(f"cannot hold out {fraction:.0%} of {n_groups} subjects")
    return np.sort(index[keep]), np.sort(index[hold])


def subsample(index: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Seeded stratified subsample of ``n`` items of ``index`` (all of them if fewer)."""
    if len(index) <= n:
        return index
    y = labels[index]
    stratify = y if _can_stratify(y, len(index) - n) and n >= len(np.unique(y)) else None
    keep, _ = train_test_split(index, train_size=n, random_state=seed, shuffle=True, stratify=stratify)
    return np.sort(keep)


def split_indices(cat: Catalog, cfg: DataConfig) -> dict[str, np.ndarray]:
    """Indices of the catalogue items in each split.

    Official splits are kept. A missing ``test`` is carved from the training pool (train plus
    items without a split) with ``test_fraction``, then a missing ``val`` from what is left, so that
    both fractions are of the pool (``val_fraction`` is of the official train set when only test is
    official). A fraction of 0 leaves that split out.
    """
    names = np.array([s if s is not None else "" for s in cat.splits])
    groups = np.asarray(cat.subjects) if cat.subjects is not None else None
    out = {s: np.flatnonzero(names == s) for s in ("train", "val", "test") if (names == s).any()}
    pool = np.flatnonzero(names == "")
    if "train" in out:
        pool = np.sort(np.concatenate([pool, out.pop("train")]))
    if groups is not None:
        for s, idx in out.items():
            clash = set(groups[idx]) & set(groups[pool])
            if clash:
                raise DataError(f"{cat.source}: subject {min(clash)} appears in split '{s}' and in train")
    if len(pool) == 0:
        raise DataError(f"{cat.source}: no training data")
    carved_test = "test" not in out and cfg.test_fraction > 0
    if carved_test:
        pool, out["test"] = holdout(pool, cat.labels, groups, cfg.test_fraction, cfg.split_seed)
    if "val" not in out and cfg.val_fraction > 0:
        frac = cfg.val_fraction / (1.0 - cfg.test_fraction) if carved_test else cfg.val_fraction
        pool, out["val"] = holdout(pool, cat.labels, groups, frac, cfg.split_seed + 1)
    out["train"] = pool
    if cfg.max_per_split is not None:
        out = {s: subsample(idx, cat.labels, cfg.max_per_split, cfg.split_seed) for s, idx in out.items()}
    return {s: out[s] for s in ("train", "val", "test") if s in out}


def load_splits(cfg: DataConfig) -> dict[str, ImageDataset]:
    """Datasets for 'train' and, where present or requested, 'val' and 'test'; class names are shared."""
    cat = build_catalog(cfg)
    index = split_indices(cat, cfg)
    for s, idx in index.items():
        values, counts = np.unique(cat.labels[idx], return_counts=True)
        named = {cat.class_names[c] if c >= 0 else "unlabelled": int(n) for c, n in zip(values, counts)}
        log.debug("%s split %s: %d items %s", cat.source, s, len(idx), named)
    return {s: make_dataset(cat, idx, cfg) for s, idx in index.items()}
