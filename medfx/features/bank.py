"""``FeatureBank``: pooled features on disk, one memory-mapped ``.npy`` per ``(block, t)`` plus ``meta.json``.

A bank is identified by a key over everything that determines its values (checkpoint hash, backbone spec,
data config and sample ids, blocks, timesteps, pooling, seed, noise draws, clean mode). Re-running with the
same key reuses the bank, and so does any request whose keys ``(block, t)`` are a subset of a stored bank's
with otherwise equal settings (``covering_bank``; the bank is then a view on those keys); anything else rebuilds
it. ``extract_banks`` writes several poolings of the same forward passes (e.g. the pooled vectors of the probe
grid and the grid maps of the heads) as separate banks, one forward pass per (image, t). Extraction streams batches into the memory maps, so peak
memory does not grow with the dataset.

Safety: every output folder is locked (an OS lock, see ``medfx.utils.fs``) while it is built; the writer fills a
temporary folder of its own (``.<name>.partial-<pid>``) and publishes it complete by renames. ``meta.json`` records
the row count and a SHA-256 of every array file; readers check both, so a half-written or altered bank is never
used. An existing folder that is not a medfx bank is refused, never deleted.

Under ``torchrun`` (``extract_banks(dist=...)``) the batches are dealt out over the ranks and gathered on rank 0,
which alone locks, writes and publishes; each sample stays in the batch it has in one process, so the bank is
bitwise the same for any number of ranks, and a failing rank stops every rank before anything is published.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..data.rows import NpyRows
from ..utils.dataclass_io import to_dict
from ..utils.errors import DataError
from ..utils.fs import check_writable_target, claim_dir, clean_stale_temp, locked, publish_dir
from ..utils.io import dumps as strict_dumps
from ..utils.io import file_digest
from ..utils.progress import progress_bar

logger = logging.getLogger("medfx")
BANK_FORMAT = "medfx-feature-bank-v2"  # v2: row count and per-file SHA-256 in meta.json
_OLD_FORMATS = ("medfx-feature-bank-v1",)


def is_legacy_bank(path: Path) -> bool:
    """A bank folder written by a medfx without ownership markers (meta.json of a known format)."""
    try:
        return json.loads((Path(path) / "meta.json").read_text()).get("format") in (BANK_FORMAT, *_OLD_FORMATS)
    except (OSError, ValueError, AttributeError):
        return False


def _fname(block: str, t: int) -> str:
    return f"{block.replace('.', '_')}__t{t:04d}.npy"


class FeatureBank(Mapping):
    """Read-only mapping ``(block, t) -> np.ndarray [N, D]`` (memory-mapped) with per-sample metadata.

    ``blocks`` / ``timesteps`` restrict the view to a subset of the stored keys (a bank that holds more than a
    stage asks for is reused as it is); ``key`` then names the requested subset (``meta["key"]``), and
    ``meta["stored_key"]`` the bank on disk. ``verify`` checks the row count and SHA-256 of the files in view."""

    def __init__(self, path: str | Path, blocks=None, timesteps=None, key: str | None = None, verify: bool = True):
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
        self.meta["stored_key"] = self.meta.get("key")
        stored_blocks, stored_ts = list(self.meta["blocks"]), [int(t) for t in self.meta["timesteps"]]
        missing = [b for b in (blocks or ()) if b not in stored_blocks] + \
            [t for t in (timesteps or ()) if int(t) not in stored_ts]
        if missing:
            raise KeyError(f"{self.path}: the bank does not hold {missing}")
        self.blocks: list[str] = [b for b in stored_blocks if blocks is None or b in set(blocks)]
        self.timesteps: list[int] = [t for t in stored_ts if timesteps is None or t in {int(x) for x in timesteps}]
        if key is not None:
            self.meta["key"] = key
        self.ids: list[str] = self.meta["ids"]
        self.labels = np.asarray(self.meta["labels"], dtype=np.int64)
        self.split = np.asarray(self.meta["split"])
        self.class_names: list[str] = self.meta["class_names"]
        self.shapes = {(b, t): tuple(self.meta["shapes"][b]) for b in self.blocks for t in self.timesteps}
        if verify:
            self.verify(checksums=True)

    def verify(self, checksums: bool = True) -> None:
        """Check every array file in view: present, ``rows`` rows, and (``checksums``) its SHA-256 in meta.json."""
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
            if checksums and name in files and file_digest(f) != files[name]:
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

    def rows(self, key) -> NpyRows:
        """The maps of ``key`` (``[N, C, *grid]``, as :meth:`maps`) read on demand: indexing reads only those rows
        and keeps nothing mapped afterwards (``medfx.data.rows.NpyRows``); ``.take(rows)`` restricts it."""
        self[key]  # a clear KeyError for a key outside the view
        return NpyRows(self.path / _fname(*key), self.shapes[key])

    def mask(self, split: str) -> np.ndarray:
        return self.split == split


def bank_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _comparable(settings: dict) -> str:
    """Everything but the keys (blocks, timesteps); ``grid`` only matters for ``pool="grid"``."""
    s = {k: v for k, v in settings.items() if k not in ("blocks", "timesteps")}
    if s.get("pool") != "grid":
        s.pop("grid", None)
    return json.dumps(s, sort_keys=True, default=str)


def covering_bank(path: str | Path, settings: dict) -> FeatureBank | None:
    """The complete bank at ``path`` as a view on the keys ``settings`` asks for, when its keys are a superset
    of them and its other settings are the same (checkpoint, data and ids, pooling, seed, noise, schedule);
    else ``None``."""
    meta_file = Path(path) / "meta.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
    except ValueError:
        return None
    stored = meta.get("settings")
    if not meta.get("complete") or not isinstance(stored, dict) or meta.get("format") != BANK_FORMAT:
        return None
    if meta.get("key") != bank_key(stored):  # a hand-edited or foreign meta.json
        return None
    if _comparable(stored) != _comparable(settings):
        return None
    if not (set(settings["blocks"]) <= set(meta["blocks"]) and
            {int(t) for t in settings["timesteps"]} <= {int(t) for t in meta["timesteps"]}):
        return None
    try:
        return FeatureBank(path, blocks=settings["blocks"], timesteps=settings["timesteps"], key=bank_key(settings))
    except DataError as e:
        logger.warning("feature bank %s failed verification (%s); rebuilding", path, e)
        return None


def _collect(splits: dict) -> tuple[list, list[str], list[str], np.ndarray]:
    order = [s for s in ("train", "val", "test") if s in splits]
    ids, split_of, labels = [], [], []
    for s in order:
        ds = splits[s]
        ids += [str(i) for i in ds.ids]
        split_of += [s] * len(ds)
        labels += list(np.asarray(ds.labels).tolist())
    return order, ids, split_of, np.asarray(labels, dtype=np.int64)


def bank_settings(settings: dict, extractor, ids: list[str], pool: str | None = None, grid: int | None = None) -> dict:
    """The settings (and so the key) of the bank ``extractor`` writes with ``pool`` / ``grid`` (default: its own)."""
    return {**settings, "ids_sha": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16],
            "blocks": extractor.blocks, "timesteps": extractor.timesteps,
            "pool": extractor.pool if pool is None else pool, "grid": extractor.grid if grid is None else int(grid),
            "seed": extractor.seed, "noise_draws": extractor.noise_draws, "clean": extractor.clean,
            "diffusion": to_dict(extractor.diffusion),
            # settings added later enter the key only when used, so older banks keep their keys
            **({"random_t": True} if getattr(extractor, "random_t", False) else {}),
            **({"flip_axis": extractor.flip_axis} if getattr(extractor, "flip_axis", None) is not None else {})}


def extract_bank(model, extractor, splits: dict, out_dir: str | Path, settings: dict, batch_size: int = 64,
                 progress: bool = True, reuse_from=()) -> FeatureBank:
    """Stream every split through ``extractor`` into a bank at ``out_dir``; a complete bank at ``out_dir`` (or
    at one of ``reuse_from``) whose keys cover the request with otherwise equal ``settings`` is reused."""
    return extract_banks(model, extractor, splits, [(out_dir, extractor.pool, extractor.grid)], settings,
                         batch_size=batch_size, progress=progress, reuse_from=reuse_from)[0]


def extract_banks(model, extractor, splits: dict, outputs, settings: dict, batch_size: int = 64,
                  progress: bool = True, reuse_from=(), ride_along=(), dist=None) -> list[FeatureBank | None]:
    """Several banks from ONE set of forward passes: ``outputs`` is a list of ``(out_dir, pool, grid)``, each
    written as an ordinary bank (own key and settings) of ``extractor``'s blocks x timesteps. Every output
    that an existing bank already covers (same folder or ``reuse_from``; see :func:`covering_bank`) is reused;
    the others are extracted together, one forward pass per (batch, timestep, noise draw).

    ``ride_along`` (same form) are written only when ``outputs`` need a pass anyway (or reused when covered);
    otherwise their entry in the returned list (after those of ``outputs``) is ``None``: a later, smaller
    request can then extract just the keys it needs.

    ``dist`` (a :class:`~medfx.utils.runtime.DistInfo` of an initialised process group): every rank calls this
    with the same arguments; the batches are dealt out over the ranks (``medfx.utils.distributed``), rank 0
    alone decides what to reuse, holds the locks and writes, and the banks are bitwise those of one process.
    Ranks other than 0 return ``None`` for every entry."""
    from ..utils.distributed import agree, broadcast

    main = dist is None or dist.is_main
    dirs = [Path(o[0]) for o in [*outputs, *ride_along]]
    with contextlib.ExitStack() as stack:
        plan, err = None, None
        if main:
            try:
                for d in dirs:  # refuse a file or a foreign folder before any work
                    check_writable_target(d, "feature bank folder", legacy=is_legacy_bank)
                for d in dirs:
                    stack.enter_context(locked(d, "feature bank"))
                plan = _plan_banks(extractor, splits, outputs, settings, reuse_from, ride_along)
                tmps = _temp_dirs(plan[1])
            except Exception as e:  # noqa: BLE001 - every rank learns of it (agree) before anyone waits
                err = e
        agree(dist, err, "feature-bank set-up")
        pools = broadcast([pg for _, _, pg, _ in plan[1]] if main else None, dist)
        if not main:
            if pools:
                _extract_rows(extractor, splits, batch_size, pools, dist, None, progress=False)
            return [None] * len(dirs)
        result, todo = plan
        if not todo:
            return result
        return _write_banks(extractor, splits, result, todo, tmps, batch_size, progress, dist)


def _plan_banks(extractor, splits, outputs, settings, reuse_from, ride_along):
    """``(result, todo)``: the reused banks (None where there is work) and the outputs to extract
    (``(index, out_dir, (pool, grid), settings)``); ``todo`` is empty when only ride-along outputs lack."""
    _, ids, _, _ = _collect(splits)
    result: list[FeatureBank | None] = []
    todo, optional = [], []
    for j, (out_dir, pool, grid) in enumerate([*outputs, *ride_along]):
        out_dir = Path(out_dir)
        st = bank_settings(settings, extractor, ids, pool, grid)
        found = None
        for cand in (out_dir, *[Path(p) for p in reuse_from]):
            found = covering_bank(cand, st)
            if found is not None:
                logger.info("reusing feature bank %s%s", cand,
                            "" if len(found) == len(found.meta["blocks"]) * len(found.meta["timesteps"])
                            else f" ({len(found)} of its keys)")
                break
        if found is None and (out_dir / "meta.json").is_file():
            logger.info("feature bank %s is stale (settings changed); rebuilding", out_dir)
        result.append(found)
        if found is None:
            (todo if j < len(outputs) else optional).append((len(result) - 1, out_dir, (pool, int(grid)), st))
    return result, (todo + optional if todo else [])


def _batches(splits: dict, batch_size: int) -> list[tuple[str, int, int, int]]:
    """Every batch of the extraction, in bank-row order: ``(split, start, stop, first row)`` (the batches of an
    unshuffled loader over each split in turn, so the batch composition is the same for any number of ranks)."""
    from ..utils.distributed import batch_ranges

    out, row = [], 0
    for s in _collect(splits)[0]:
        for a, b in batch_ranges(len(splits[s]), batch_size):
            out.append((s, a, b, row))
            row += b - a
    return out


def _extract_rows(extractor, splits, batch_size, pools, dist, write, progress: bool) -> int:
    """Run every batch (this rank's share under ``dist``) through ``extractor``; on rank 0 ``write(row, feats)``
    gets every batch's ``{(pool, grid): {(block, t): np.ndarray}}`` in row order. Returns the rows written."""
    from torch.utils.data import default_collate

    from ..utils.distributed import gather_round, rounds

    batches = _batches(splits, batch_size)
    n = batches[-1][2] - batches[-1][1] + batches[-1][3] if batches else 0
    if n == 0:
        raise ValueError("no samples to extract: every split is empty")
    bar = progress_bar(total=n, desc="extract", unit="img", enabled=progress)
    written = 0
    for rnd in rounds(len(batches), dist):
        payload, err = None, None
        if rnd.mine is not None:
            s, a, b, _ = batches[rnd.mine]
            try:
                x, _y, bid = default_collate([splits[s][i] for i in range(a, b)])
                feats = extractor.extract_pools(x, list(bid), pools)
                payload = {pg: {k: v.cpu().numpy() for k, v in f.items()} for pg, f in feats.items()}
            except Exception as e:  # noqa: BLE001 - reported to every rank by gather_round
                err = e
        got = gather_round(payload, dist, err, "feature extraction")
        if got is None:  # not rank 0
            continue
        for k, feats in zip(rnd.batches, got):
            s, a, b, row = batches[k]
            write(row, feats)
            written += b - a
            bar.update(b - a)
    bar.close()
    return written


def _temp_dirs(todo) -> dict:
    """A fresh temporary folder of this process next to every output of ``todo`` (published when complete)."""
    tmps = {}
    for i, out_dir, _, _ in todo:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temp(out_dir.parent, (f".{out_dir.name}.partial-*", f".{out_dir.name}.old-*"))
        tmp = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)  # our own pid's leftover
        claim_dir(tmp, "feature bank folder")
        tmps[i] = tmp
    return tmps


def _write_banks(extractor, splits, result, todo, tmps, batch_size, progress, dist):
    order, ids, split_of, labels = _collect(splits)
    n = len(ids)
    first = splits[order[0]]
    pools = [pg for _, _, pg, _ in todo]
    files, shapes = {}, {}  # per output: {key: (.npy path, data offset, row width)}

    def write(row, feats):
        for i, _, pg, _ in todo:
            if i not in files:  # the .npy files are sized from the first batch (no extra forward pass)
                shapes[i] = {blk: list(feats[pg][(blk, extractor.timesteps[0])].shape[1:])
                             for blk in extractor.blocks}
                files[i] = {}
                for k in extractor.keys:
                    path = tmps[i] / _fname(*k)
                    dim = int(np.prod(shapes[i][k[0]]))
                    header = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
                    files[i][k] = (path, int(header.offset), dim)
                    del header  # unmapped: rows are written with plain file writes, so the pages a growing
                    # bank has written do not stay mapped in (and counted to) this process's resident set
            for k, (path, offset, dim) in files[i].items():
                f = np.ascontiguousarray(np.asarray(feats[pg][k]).reshape(-1, dim), dtype=np.float32)
                with open(path, "r+b") as fh:
                    fh.seek(offset + row * dim * 4)
                    fh.write(f.tobytes())

    t0, c0 = time.perf_counter(), time.process_time()
    row = _extract_rows(extractor, splits, batch_size, pools, dist, write, progress)
    if row != n:
        raise DataError(f"extraction wrote {row} rows for {n} samples")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    world = dist.world_size if dist is not None else 1
    for i, out_dir, _pg, st in todo:
        files = {_fname(*k): file_digest(tmps[i] / _fname(*k)) for k in extractor.keys}
        meta = {"format": BANK_FORMAT, "key": bank_key(st), "complete": True, "rows": n, "files": files,
                "settings": st,
                "blocks": extractor.blocks, "timesteps": extractor.timesteps, "shapes": shapes[i], "ids": ids,
                "labels": labels.tolist(), "split": split_of,
                "class_names": list(getattr(first, "class_names", []) or []),
                "samples_per_s": n / max(elapsed, 1e-9), "seconds": elapsed, "cpu_seconds": cpu,
                "written_with": [str(o) for _, o, _, _ in todo], **({"ranks": world} if world > 1 else {})}
        meta_tmp = tmps[i] / ".meta.json.tmp"
        meta_tmp.write_text(strict_dumps(meta, indent=None))
        os.replace(meta_tmp, tmps[i] / "meta.json")
        publish_dir(tmps[i], out_dir, legacy=is_legacy_bank)
        result[i] = FeatureBank(out_dir, verify=False)
    logger.info("feature banks %s: %d samples x %d keys in one pass, %.1fs (%.1f samples/s; %.1f s CPU time%s)",
                ", ".join(str(o) for _, o, _, _ in todo), n, len(extractor.keys), elapsed, n / max(elapsed, 1e-9),
                cpu, f" on rank 0 of {world}" if world > 1 else "")
    return result
