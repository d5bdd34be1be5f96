"""``FeatureBank``: pooled features on disk, one memory-mapped ``.npy`` per ``(block, t)`` plus ``meta.json``.

A bank is identified by a key over everything that determines its values (checkpoint hash, backbone spec,
data config and sample ids, blocks, timesteps, pooling, seed, noise draws, clean mode). Re-running with the
same key reuses the bank; anything else rebuilds it. Extraction streams batches into the memory maps, so peak
memory does not grow with the dataset; the bank is written to a temporary folder and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..utils.dataclass_io import to_dict
from ..utils.io import dumps as strict_dumps

logger = logging.getLogger("medfx")
BANK_FORMAT = "medfx-feature-bank-v1"


def _fname(block: str, t: int) -> str:
    return f"{block.replace('.', '_')}__t{t:04d}.npy"


class FeatureBank(Mapping):
    """Read-only mapping ``(block, t) -> np.ndarray [N, D]`` (memory-mapped) with per-sample metadata."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{self.path}: not a feature bank (no meta.json)")
        self.meta = json.loads(meta_file.read_text())
        self.blocks: list[str] = self.meta["blocks"]
        self.timesteps: list[int] = self.meta["timesteps"]
        self.ids: list[str] = self.meta["ids"]
        self.labels = np.asarray(self.meta["labels"], dtype=np.int64)
        self.split = np.asarray(self.meta["split"])
        self.class_names: list[str] = self.meta["class_names"]
        self.shapes = {(b, t): tuple(self.meta["shapes"][b]) for b in self.blocks for t in self.timesteps}

    def __getitem__(self, key) -> np.ndarray:
        block, t = key
        if block not in self.blocks or t not in self.timesteps:
            raise KeyError(f"{key!r} not in bank {self.path} (blocks {self.blocks}, timesteps {self.timesteps})")
        return np.load(self.path / _fname(block, t), mmap_mode="r")

    def __iter__(self):
        return iter([(b, t) for b in self.blocks for t in self.timesteps])

    def __len__(self):
        return len(self.blocks) * len(self.timesteps)

    def maps(self, key) -> np.ndarray:
        """Features reshaped to their pooled shape ``[N, C, *grid]`` (``[N, D]`` for vector pools)."""
        return np.asarray(self[key]).reshape(len(self.ids), *self.shapes[key])

    def mask(self, split: str) -> np.ndarray:
        return self.split == split


def bank_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _collect(splits: dict) -> tuple[list, list[str], list[str], np.ndarray]:
    order = [s for s in ("train", "val", "test") if s in splits]
    ids, split_of, labels = [], [], []
    for s in order:
        ds = splits[s]
        ids += [str(i) for i in ds.ids]
        split_of += [s] * len(ds)
        labels += list(np.asarray(ds.labels).tolist())
    return order, ids, split_of, np.asarray(labels, dtype=np.int64)


def extract_bank(model, extractor, splits: dict, out_dir: str | Path, settings: dict, batch_size: int = 64,
                 progress: bool = True) -> FeatureBank:
    """Stream every split through ``extractor`` into a bank at ``out_dir`` (reused when ``settings`` match)."""
    from ..data import make_loader
    from ..utils.progress import progress_bar

    out_dir = Path(out_dir)
    order, ids, split_of, labels = _collect(splits)
    settings = {**settings, "ids_sha": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16],
                "blocks": extractor.blocks, "timesteps": extractor.timesteps, "pool": extractor.pool,
                "grid": extractor.grid, "seed": extractor.seed, "noise_draws": extractor.noise_draws,
                "clean": extractor.clean, "diffusion": to_dict(extractor.diffusion)}
    key = bank_key(settings)
    meta_file = out_dir / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if meta.get("key") == key and meta.get("complete"):
            logger.info("reusing feature bank %s", out_dir)
            return FeatureBank(out_dir)
        logger.info("feature bank %s is stale (settings changed); rebuilding", out_dir)

    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = len(ids)
    first = splits[order[0]]
    x0 = first[0][0].unsqueeze(0)
    probe = extractor(x0, [ids[0]])
    shapes = {b: list(probe[(b, extractor.timesteps[0])].shape[1:]) for b in extractor.blocks}
    arrays = {k: np.lib.format.open_memmap(tmp / _fname(*k), mode="w+", dtype=np.float32,
                                           shape=(n, int(np.prod(shapes[k[0]])))) for k in extractor.keys}
    row = 0
    t0 = time.perf_counter()
    bar = progress_bar(total=n, desc="extract", unit="img", enabled=progress)
    for s in order:
        for x, _y, bid in make_loader(splits[s], batch_size=batch_size, shuffle=False, seed=0):
            feats = extractor(x, list(bid))
            b = x.shape[0]
            for k, arr in arrays.items():
                arr[row:row + b] = feats[k].flatten(1).cpu().numpy()
            row += b
            bar.update(b)
    bar.close()
    for arr in arrays.values():
        arr.flush()
    del arrays
    elapsed = time.perf_counter() - t0
    meta = {"format": BANK_FORMAT, "key": key, "complete": True, "settings": settings, "blocks": extractor.blocks,
            "timesteps": extractor.timesteps, "shapes": shapes, "ids": ids, "labels": labels.tolist(),
            "split": split_of, "class_names": list(getattr(first, "class_names", []) or []),
            "samples_per_s": n / max(elapsed, 1e-9), "seconds": elapsed}
    (tmp / "meta.json").write_text(strict_dumps(meta, indent=None))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    logger.info("feature bank %s: %d samples x %d keys in %.1fs (%.1f samples/s)", out_dir, n, len(extractor.keys),
                elapsed, n / max(elapsed, 1e-9))
    return FeatureBank(out_dir)
