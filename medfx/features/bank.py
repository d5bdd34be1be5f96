"""``FeatureBank``: pooled features on disk, one memory-mapped ``.npy`` per ``(block, t)`` plus ``meta.json``.

A bank is identified by a key over everything that determines its values (checkpoint hash, backbone spec,
data config and sample ids, blocks, timesteps, pooling, seed, noise draws, clean mode). Re-running with the
same key reuses the bank; anything else rebuilds it. Extraction streams batches into the memory maps, so peak
memory does not grow with the dataset.

Safety: the bank folder is locked (an OS lock, see ``medfx.utils.fs``) while it is built; the writer fills a
temporary folder of its own (``.<name>.partial-<pid>``) and publishes it complete by renames. ``meta.json`` records
the row count and a SHA-256 of every array file; readers check both, so a half-written or altered bank is never
used. An existing folder that is not a medfx bank is refused, never deleted.
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
from ..utils.errors import DataError
from ..utils.fs import check_writable_target, claim_dir, clean_stale_temp, locked, publish_dir

logger = logging.getLogger("medfx")
BANK_FORMAT = "medfx-feature-bank-v2"  # v2: row count and per-file SHA-256 in meta.json
_OLD_FORMATS = ("medfx-feature-bank-v1",)


def is_legacy_bank(path: Path) -> bool:
    """A bank folder written by a medfx without ownership markers (meta.json of a known format)."""
    try:
        return json.loads((Path(path) / "meta.json").read_text()).get("format") in (BANK_FORMAT, *_OLD_FORMATS)
    except (OSError, ValueError, AttributeError):
        return False


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _fname(block: str, t: int) -> str:
    return f"{block.replace('.', '_')}__t{t:04d}.npy"


class FeatureBank(Mapping):
    """Read-only mapping ``(block, t) -> np.ndarray [N, D]`` (memory-mapped) with per-sample metadata."""

    def __init__(self, path: str | Path, verify: bool = True):
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{self.path}: not a feature bank (no meta.json)")
        try:
            self.meta = json.loads(meta_file.read_text())
        except ValueError as e:
            raise DataError(f"{meta_file}: not a valid feature-bank meta.json ({e})") from None
        if not self.meta.get("complete"):
            raise DataError(f"{self.path}: the feature bank is incomplete (its writer did not finish); re-run to "
                            "rebuild it")
        self.blocks: list[str] = self.meta["blocks"]
        self.timesteps: list[int] = self.meta["timesteps"]
        self.ids: list[str] = self.meta["ids"]
        self.labels = np.asarray(self.meta["labels"], dtype=np.int64)
        self.split = np.asarray(self.meta["split"])
        self.class_names: list[str] = self.meta["class_names"]
        self.shapes = {(b, t): tuple(self.meta["shapes"][b]) for b in self.blocks for t in self.timesteps}
        if verify:
            self.verify(checksums=True)

    def verify(self, checksums: bool = True) -> None:
        """Check every array file: present, ``rows`` rows, and (``checksums``) the SHA-256 in meta.json."""
        rows = self.meta.get("rows", len(self.ids))
        if rows != len(self.ids) or len(self.labels) != rows or len(self.split) != rows:
            raise DataError(f"{self.path}: meta.json lists {len(self.ids)} ids for {rows} rows")
        files = self.meta.get("files") or {}
        for b, t in self:
            name = _fname(b, t)
            f = self.path / name
            if not f.is_file():
                raise DataError(f"{f}: missing from the feature bank; delete {self.path} to rebuild it")
            try:
                arr = np.load(f, mmap_mode="r")
            except Exception as e:  # noqa: BLE001
                raise DataError(f"{f}: unreadable feature array ({type(e).__name__}: {e})") from None
            if arr.shape[0] != rows:
                raise DataError(f"{f}: {arr.shape[0]} rows, the bank has {rows}; delete {self.path} to rebuild it")
            if checksums and name in files and _sha256(f) != files[name]:
                raise DataError(f"{f}: checksum differs from meta.json (the bank was altered or half-written); "
                                f"delete {self.path} to rebuild it")

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
    out_dir = Path(out_dir)
    order, ids, split_of, labels = _collect(splits)
    settings = {**settings, "ids_sha": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16],
                "blocks": extractor.blocks, "timesteps": extractor.timesteps, "pool": extractor.pool,
                "grid": extractor.grid, "seed": extractor.seed, "noise_draws": extractor.noise_draws,
                "clean": extractor.clean, "diffusion": to_dict(extractor.diffusion)}
    key = bank_key(settings)
    check_writable_target(out_dir, "feature bank folder", legacy=is_legacy_bank)
    with locked(out_dir, "feature bank"):
        reused = _reusable(out_dir, key)
        if reused is not None:
            logger.info("reusing feature bank %s", out_dir)
            return reused
        return _extract(extractor, splits, order, ids, split_of, labels, settings, key, first_split_names(splits),
                        out_dir, batch_size, progress)


def first_split_names(splits: dict) -> list[str]:
    first = splits[[s for s in ("train", "val", "test") if s in splits][0]]
    return list(getattr(first, "class_names", []) or [])


def _reusable(out_dir: Path, key: str) -> FeatureBank | None:
    meta_file = out_dir / "meta.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
    except ValueError:
        meta = {}
    if meta.get("key") != key or not meta.get("complete") or meta.get("format") != BANK_FORMAT:
        logger.info("feature bank %s is stale (settings or format changed); rebuilding", out_dir)
        return None
    try:
        return FeatureBank(out_dir, verify=True)
    except DataError as e:
        logger.warning("feature bank %s failed verification (%s); rebuilding", out_dir, e)
        return None


def _extract(extractor, splits, order, ids, split_of, labels, settings, key, class_names, out_dir: Path,
             batch_size: int, progress: bool) -> FeatureBank:
    from tqdm import tqdm

    from ..data import make_loader

    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp(parent, (f".{out_dir.name}.partial-*", f".{out_dir.name}.old-*"))
    tmp = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    claim_dir(tmp, "feature bank folder")
    n = len(ids)
    first = splits[order[0]]
    x0 = first[0][0].unsqueeze(0)
    probe = extractor(x0, [ids[0]])
    shapes = {b: list(probe[(b, extractor.timesteps[0])].shape[1:]) for b in extractor.blocks}
    arrays = {k: np.lib.format.open_memmap(tmp / _fname(*k), mode="w+", dtype=np.float32,
                                           shape=(n, int(np.prod(shapes[k[0]])))) for k in extractor.keys}
    row = 0
    t0 = time.perf_counter()
    bar = tqdm(total=n, desc="extract", unit="img", disable=not progress, dynamic_ncols=True)
    for s in order:
        for x, _y, bid in make_loader(splits[s], batch_size=batch_size, shuffle=False, seed=0):
            feats = extractor(x, list(bid))
            b = x.shape[0]
            for k, arr in arrays.items():
                arr[row:row + b] = feats[k].flatten(1).cpu().numpy()
            row += b
            bar.update(b)
    bar.close()
    if row != n:
        raise DataError(f"{out_dir}: extraction wrote {row} rows for {n} samples")
    for arr in arrays.values():
        arr.flush()
    del arrays
    files = {_fname(*k): _sha256(tmp / _fname(*k)) for k in extractor.keys}
    elapsed = time.perf_counter() - t0
    meta = {"format": BANK_FORMAT, "key": key, "complete": True, "rows": n, "files": files, "settings": settings,
            "blocks": extractor.blocks, "timesteps": extractor.timesteps, "shapes": shapes, "ids": ids,
            "labels": labels.tolist(), "split": split_of, "class_names": class_names,
            "samples_per_s": n / max(elapsed, 1e-9), "seconds": elapsed}
    meta_tmp = tmp / ".meta.json.tmp"
    meta_tmp.write_text(json.dumps(meta))
    os.replace(meta_tmp, tmp / "meta.json")
    publish_dir(tmp, out_dir, legacy=is_legacy_bank)
    logger.info("feature bank %s: %d samples x %d keys in %.1fs (%.1f samples/s)", out_dir, n, len(extractor.keys),
                elapsed, n / max(elapsed, 1e-9))
    return FeatureBank(out_dir, verify=False)
