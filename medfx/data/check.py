"""``check_data``: exact and near duplicates, split leaks and broken files, before they inflate a result.

Every item of a dataset (and of each ``against`` dataset) is decoded once through the medfx data layer
(``read_image`` for files, the raw arrays of an ``.npz``) to grey intensities, and reduced to

- a **content hash**: sha1 of the decoded grey array (rounded to 1e-3, with its shape), so two files with
  the same pixels match whatever their bytes (RGB vs L copies, PNG vs lossless re-save);
- a **perceptual hash** (``imagehash``): the image is min-max scaled to 8 bits (intensity scaling drops
  out) and hashed with pHash (``hash_size**2`` bits: 256 by default), which survives re-encoding,
  resizing and shifts of a few pixels. A **volume** gets three such hashes, one per mean-intensity
  projection along each axis, concatenated (3 x 256 bits);
- intensity statistics (min, max, mean, std, fraction of pixels above 10 % of the range).

Two items are **near duplicates** when their perceptual hashes differ in at most ``threshold`` bits
(per 2D hash; three times that for volumes). The search is exact but not all-pairs: multi-index hashing
cuts the (randomly permuted) bits into ``m`` chunks; two hashes within ``t`` bits are within ``t // m`` bits
on some chunk (pigeonhole), so with ``t // m <= 1`` each item only looks up its own chunk values and those
one bit away in sorted tables, and only those candidates are compared (vectorised popcounts). Near groups are connected components (single linkage) of near pairs.

Hashes are cached in a SQLite file under ``cache_dir``, keyed by the sha1 of each file's bytes (of the
whole array for ``.npz``) and the hash settings, so a second check reads files but decodes nothing.
Files are streamed: only hashes and statistics are kept in memory.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from medfx.data.config import DataConfig
from medfx.data.datasets import Catalog, DataError, _one_line, build_catalog
from medfx.data.splits import split_indices
from medfx.data.transforms import read_image, rgb_to_grey
from medfx.utils.io import file_digest

from ..utils.io import write_json

HASHES = ("phash", "dhash", "whash", "ahash")
SPLIT_ORDER = ("train", "val", "test")
NEAR_POLICIES = ("move", "drop")
_VERSION = 1  # bump when decoding or hashing changes: old cache entries are then ignored
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_BATCH = 1 << 18  # candidate pairs verified per vectorised call


@dataclass
class CheckConfig:
    """Settings of ``check_data`` (thresholds are documented in the README, section "Data hygiene")."""

    hash: str = "phash"  # imagehash function: phash | dhash | whash | ahash
    hash_size: int = 16  # bits per 2D hash = hash_size**2 (whash: a power of 2)
    threshold: int = 32  # near duplicate: Hamming distance <= threshold per 2D hash (3x for volumes)
    near: bool = True  # False: exact duplicates only (no perceptual hashes)
    empty_fraction: float = 0.005  # near-empty: fewer pixels than this above 10 % of the image's range
    outlier_z: float = 10.0  # intensity outlier: robust z (median / MAD over the dataset) of min, max, mean, std
    imbalance_ratio: float = 10.0  # class balance warning: largest / smallest class of a split
    max_pairs: int = 40  # closest cross-split pairs shown in the HTML page (and listed in the JSON)

    def __post_init__(self) -> None:
        if self.hash not in HASHES:
            raise ValueError(f"CheckConfig.hash: {self.hash!r} is not one of {', '.join(HASHES)}")
        if self.hash_size < 2 or (self.hash == "whash" and self.hash_size & (self.hash_size - 1)):
            raise ValueError(f"CheckConfig.hash_size: {self.hash_size} is too small (or not a power of 2 for whash)")
        if not 0 <= self.threshold < self.hash_size**2 // 2:
            raise ValueError(
                f"CheckConfig.threshold: {self.threshold} must be in [0, {self.hash_size**2 // 2}) "
                f"for {self.hash_size**2}-bit hashes"
            )
        if not 0 <= self.empty_fraction < 1 or self.outlier_z <= 0 or self.imbalance_ratio < 1:
            raise ValueError("CheckConfig: empty_fraction in [0, 1), outlier_z > 0, imbalance_ratio >= 1")

    @property
    def tag(self) -> str:
        return f"v{_VERSION}-{self.hash}{self.hash_size if self.near else 'exact'}"


def default_cache_dir() -> Path:
    """``$MEDFX_CACHE_DIR`` or ``$XDG_CACHE_HOME/medfx`` (``~/.cache/medfx``), plus ``data_check``."""
    root = os.environ.get("MEDFX_CACHE_DIR")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medfx"
    return Path(root) / "data_check"


# ----------------------------------------------------------------------------------------------
# Hashing one decoded image


def _to_uint8(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.shape, dtype=np.uint8)
    return np.round((x - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def content_hash(x: np.ndarray) -> str:
    """sha1 of a decoded grey image or volume (rounded to 1e-3, so RGB and L copies of one image agree)."""
    x = np.ascontiguousarray(np.round(np.asarray(x, dtype=np.float64), 3).astype(np.float32))
    h = hashlib.sha1(repr(x.shape).encode())
    h.update(x.tobytes())
    return h.hexdigest()


def perceptual_bits(x: np.ndarray, cfg: CheckConfig) -> np.ndarray:
    """Packed perceptual hash of a grey image (one hash) or volume (one per mean projection, concatenated)."""
    import imagehash
    from PIL import Image

    fn = getattr(imagehash, cfg.hash)
    planes = [x] if x.ndim == 2 else [x.mean(axis=a) for a in range(x.ndim)]
    bits = [np.asarray(fn(Image.fromarray(_to_uint8(p)), hash_size=cfg.hash_size).hash, dtype=bool).ravel()
            for p in planes]
    return np.packbits(np.concatenate(bits))


def image_stats(x: np.ndarray) -> np.ndarray:
    """min, max, mean, std and the fraction of pixels above 10 % of the range (0 for a constant image)."""
    lo, hi = float(x.min()), float(x.max())
    fg = float((x > lo + 0.1 * (hi - lo)).mean()) if hi > lo else 0.0
    return np.array([lo, hi, float(x.mean()), float(x.std()), fg], dtype=np.float64)


def _hash_one(x: np.ndarray, cfg: CheckConfig) -> dict:
    x = np.asarray(x, dtype=np.float32)
    return {
        "content": content_hash(x),
        "bits": perceptual_bits(x, cfg).tobytes().hex() if cfg.near else "",
        "stats": image_stats(x).tolist(),
        "shape": list(x.shape),
    }


class HashCache:
    """SQLite store ``key -> value`` under ``cache_dir`` (None: a no-op cache)."""

    def __init__(self, cache_dir: str | Path | None) -> None:
        self.conn = None
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(Path(cache_dir) / "hashes.sqlite"), timeout=60)
            self.conn.execute("CREATE TABLE IF NOT EXISTS h (key TEXT PRIMARY KEY, value BLOB)")
        self.pending: list[tuple[str, bytes]] = []
        self.hits = 0
        self.misses = 0
        self.items_cached = 0  # items whose hashes came from the cache

    def get(self, key: str) -> bytes | None:
        if self.conn is None:
            self.misses += 1
            return None
        row = self.conn.execute("SELECT value FROM h WHERE key = ?", (key,)).fetchone()
        self.hits += row is not None
        self.misses += row is None
        return None if row is None else row[0]

    def put(self, key: str, value: bytes) -> None:
        if self.conn is not None:
            self.pending.append((key, value))
            if len(self.pending) >= 1000:
                self.flush()

    def flush(self) -> None:
        if self.conn is not None and self.pending:
            with self.conn:
                self.conn.executemany("INSERT OR REPLACE INTO h VALUES (?, ?)", self.pending)
            self.pending = []

    def close(self) -> None:
        self.flush()
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _decode(cat: Catalog, k: int) -> np.ndarray:
    """Grey spatial array of catalogue item ``k`` (raw intensities)."""
    if cat.arrays is not None:
        x = cat.arrays[k]
        return rgb_to_grey(x) if cat.rgb else np.asarray(x, dtype=np.float32)
    return read_image(cat.paths[k])[0].numpy()


class DecodedHashes:
    """Hash images decoded elsewhere into the check's cache, so that a later check (and ``write_split_manifest``)
    of the same files reads them from the cache instead of decoding them again.

    Use as ``validate(ds, on_decoded=DecodedHashes(cache_dir, configs))`` and ``close()`` it afterwards. Only for
    files decoded as the check decodes them (no ``data.orientation`` / ``data.spacing``): the records are then the
    very ones the check computes."""

    def __init__(self, cache_dir: str | Path | None, configs=(CheckConfig(),)) -> None:
        self.cache, self.configs = HashCache(cache_dir), tuple(configs)

    def __call__(self, path, image) -> None:
        x = np.asarray(image[0], dtype=np.float32)
        digest = file_digest(path, "sha1")
        for cfg in self.configs:
            self.cache.put(f"{cfg.tag}:file:{digest}", json.dumps(_hash_one(x, cfg)).encode())

    def close(self) -> None:
        self.cache.close()


def _hash_catalog(cat: Catalog, cfg: CheckConfig, cache: HashCache, progress: bool,
                  index: list[int] | None = None) -> dict[int, dict | None]:
    """Record of each item in ``index`` (default: all); None where the file cannot be read (the reason goes
    to ``cat.errors``)."""
    from tqdm.auto import tqdm

    index = list(range(len(cat.ids))) if index is None else list(index)
    errors = cat.errors if cat.errors is not None else {}
    cat.errors = errors
    if cat.arrays is not None:
        sub = cat.arrays[index]
        h = hashlib.sha1(f"{sub.shape}{sub.dtype}{cat.rgb}".encode())
        h.update(np.ascontiguousarray(sub).data)
        key = f"{cfg.tag}:array:{h.hexdigest()}"
        blob = cache.get(key)
        if blob is not None:
            cache.items_cached += len(index)
            return dict(zip(index, json.loads(blob)))
        recs = [_hash_one(_decode(cat, k), cfg) for k in tqdm(index, disable=not progress, desc="hashing")]
        cache.put(key, json.dumps(recs).encode())
        return dict(zip(index, recs))
    out: dict[int, dict | None] = {}
    for k in tqdm(index, disable=not progress, desc="hashing"):
        if k in errors:
            out[k] = None
            continue
        try:
            key = f"{cfg.tag}:file:{file_digest(cat.paths[k], 'sha1')}"
            blob = cache.get(key)
            if blob is not None:
                out[k] = json.loads(blob)
                cache.items_cached += 1
                continue
            x = _decode(cat, k)
            if x.ndim != cat.spatial_dims:
                raise ValueError(f"expected a {cat.spatial_dims}D image, got shape {x.shape}")
            if not np.isfinite(x).all():
                raise ValueError("image has NaN or Inf values")
            rec = _hash_one(x, cfg)
        except Exception as exc:  # noqa: BLE001 - any decoding failure is reported, not raised
            errors[k] = f"cannot load image ({_one_line(exc)})"
            out[k] = None
            continue
        cache.put(key, json.dumps(rec).encode())
        out[k] = rec
    return out


# ----------------------------------------------------------------------------------------------
# Near-duplicate search: multi-index hashing


def _popcount_rows(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).sum(axis=1, dtype=np.int64)
    return _POPCOUNT[x].sum(axis=1, dtype=np.int64)


def near_pairs(packed: np.ndarray, nbits: int, threshold: int, seed: int = 0,
               block: int = 8192) -> tuple[np.ndarray, ...]:
    """All pairs ``(a < b, distance)`` of rows of ``packed`` (uint8 packed bits) within ``threshold`` bits.

    Exact multi-index hashing: the randomly permuted bits are cut into ``m`` chunks with ``threshold // m <= 1``;
    by pigeonhole two hashes within the threshold are within ``threshold // m`` bits on some chunk, so each
    item looks up, per chunk, its own chunk value and (when that radius is 1) every value one bit away, in a
    sorted table (``searchsorted``). The candidate pairs are verified with vectorised popcounts.
    """
    n = len(packed)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if n < 2:
        return empty
    bits = np.unpackbits(packed, axis=1)[:, :nbits]
    m = max(threshold // 2 + 1, -(-nbits // 62))  # chunks of <= 62 bits (int64 keys), radius <= 1
    radius = threshold // m
    perm = np.random.default_rng(seed).permutation(nbits)
    found = []
    for chunk in np.array_split(perm, m):
        key = bits[:, chunk].astype(np.int64) @ (np.int64(1) << np.arange(len(chunk), dtype=np.int64))
        order = np.argsort(key, kind="stable")
        sk = key[order]
        masks = [0] + ([1 << j for j in range(len(chunk))] if radius >= 1 else [])
        for mask in masks:
            for s in range(0, n, block):
                q = key[s : s + block] ^ np.int64(mask)
                lo = np.searchsorted(sk, q, "left")
                cnt = np.searchsorted(sk, q, "right") - lo
                total = int(cnt.sum())
                if total == 0:
                    continue
                src = np.repeat(np.arange(s, s + len(q)), cnt)
                offs = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
                dst = order[np.repeat(lo, cnt) + offs]
                keep = src < dst
                src, dst = src[keep], dst[keep]
                for b in range(0, len(src), _BATCH):
                    a_, b_ = src[b : b + _BATCH], dst[b : b + _BATCH]
                    d = _popcount_rows(packed[a_] ^ packed[b_])
                    ok = d <= threshold
                    if ok.any():
                        found.append((a_[ok], b_[ok], d[ok]))
    if not found:
        return empty
    a, b, d = (np.concatenate(v) for v in zip(*found))
    _, first = np.unique(a * n + b, return_index=True)
    return a[first], b[first], d[first]


# ----------------------------------------------------------------------------------------------
# The check


@dataclass
class _Items:
    """Column store of every item of every dataset."""

    ds: list[int] = field(default_factory=list)
    k: list[int] = field(default_factory=list)  # index in its catalogue
    ids: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # file, or source.npz#id
    splits: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # class name, "" if unlabelled
    subjects: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)  # "" if unreadable
    shapes: list[tuple] = field(default_factory=list)


@dataclass
class CheckResult:
    """What ``check_data`` found. ``to_dict()`` is the JSON report (schema in the README)."""

    config: CheckConfig
    datasets: list[dict]  # per dataset: path, format, dims, items, class names, counts per split
    exact_groups: list[dict]  # identical decoded content
    near_groups: list[dict]  # connected components of near pairs spanning >= 2 distinct contents
    pairs: list[dict]  # closest cross-split / cross-dataset pairs (distance, two items)
    leaks: dict  # split of the checked dataset -> counts of items with copies elsewhere
    issues: list[dict]  # unreadable, constant, near_empty, intensity_outlier, split and label problems
    timing: dict
    items: _Items = field(repr=False, default_factory=_Items)
    near_edges: tuple = field(repr=False, default=())  # (a, b, distance) item indices
    _catalogs: list = field(repr=False, default_factory=list)
    leaked_ids: dict = field(repr=False, default_factory=dict)  # split -> ids of items with a copy elsewhere

    # -- summaries ---------------------------------------------------------------------------
    def leaked_items(self) -> int:
        """Val/test items of the checked dataset with an exact or near copy in another split or dataset."""
        return sum(v["leaked"] for s, v in self.leaks.items() if s in ("val", "test"))

    def leak_message(self) -> str | None:
        parts = []
        for s in ("test", "val"):
            v = self.leaks.get(s)
            if v and v["leaked"]:
                where = ", ".join(f"{n} in {t}" for t, n in v["copies_in"].items() if n)
                parts.append(f"{v['leaked']} of {v['items']} {s} images have a copy elsewhere ({where})")
        if not parts:
            return None
        return (f"{self.datasets[0]['path']}: data leak: " + "; ".join(parts)
                + " (exact or near duplicates; see data_check.json)")

    def to_dict(self) -> dict:
        return {
            "schema": "medfx.data_check/1",
            "config": asdict(self.config),
            "datasets": self.datasets,
            "leaks": self.leaks,
            "exact_groups": self.exact_groups,
            "near_groups": self.near_groups,
            "closest_pairs": self.pairs,
            "issues": self.issues,
            "timing": self.timing,
            "summary": self.summary_counts(),
        }

    def summary_counts(self) -> dict:
        def by_scope(groups):
            return dict(Counter(g["scope"] for g in groups))

        return {
            "items": len(self.items.ids),
            "exact_groups": len(self.exact_groups),
            "exact_files": sum(g["size"] for g in self.exact_groups),
            "exact_groups_by_scope": by_scope(self.exact_groups),
            "near_groups": len(self.near_groups),
            "near_files": sum(g["size"] for g in self.near_groups),
            "near_groups_by_scope": by_scope(self.near_groups),
            "near_pairs": int(len(self.near_edges[0])) if self.near_edges else 0,
            "leaked_val_test_items": self.leaked_items(),
            "issues": dict(Counter(i["kind"] for i in self.issues)),
        }

    def to_text(self) -> str:
        c = self.summary_counts()
        cfg = self.config
        lines = []
        for d in self.datasets:
            role = "checked" if d["index"] == 0 else "against"
            sizes = ", ".join(f"{s} {sum(v.values())}" for s, v in d["counts"].items())
            lines.append(f"{role:8s} {d['path']} ({d['format']}, {d['spatial_dims']}D, {d['items']} items: {sizes})")
        t = self.timing
        lines.append(f"hashing  {t['items']} items in {t['hash_s']:.1f} s ({t['items_per_s']:.0f}/s, "
                     f"{t['cached']} from cache); near search {t['search_s']:.2f} s")
        lines.append("")
        near = (f"{cfg.hash} {cfg.hash_size**2} bits, distance <= {cfg.threshold}" if cfg.near else "off")
        lines.append(f"exact duplicates  {c['exact_groups']} groups, {c['exact_files']} files "
                     f"({_scopes(c['exact_groups_by_scope'])})")
        lines.append(f"near duplicates   {c['near_groups']} groups, {c['near_files']} files, "
                     f"{c['near_pairs']} pairs ({_scopes(c['near_groups_by_scope'])}) [{near}]")
        for s, v in self.leaks.items():
            lines.append(f"{s:5s} copies     {v['leaked']} of {v['items']} items have a copy in another split/dataset: "
                         f"{v['exact']} exact, {v['near_only']} near only; by place: "
                         + (", ".join(f"{k} {n}" for k, n in v["copies_in"].items()) or "-"))
        d0 = self.datasets[0]
        if d0["class_names"]:
            lines.append("")
            lines.append("class balance    " + " | ".join(
                f"{s}: " + ", ".join(f"{k} {n}" for k, n in v.items()) for s, v in d0["counts"].items()))
        kinds = Counter(i["kind"] for i in self.issues)
        lines.append("")
        lines.append("issues           " + (", ".join(f"{k} {n}" for k, n in kinds.items()) or "none"))
        for i in self.issues[:15]:
            lines.append(f"  [{i['severity']}] {i['kind']}: {i['message']}")
        if len(self.issues) > 15:
            lines.append(f"  ... {len(self.issues) - 15} more in the JSON report")
        return "\n".join(lines)

    # -- reports -----------------------------------------------------------------------------
    def write_json(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict(), indent=1)  # strict JSON (NaN -> null)

    def write_csv(self, path: str | Path) -> Path:
        """One row per member of every group: group, kind, scope, dataset, split, id, path, label, content,
        distance to the closest other member (0 for exact copies)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cols = ["group", "kind", "scope", "size", "dataset", "split", "id", "path", "label", "subject",
                "content_sha1", "nearest_distance"]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for g in self.exact_groups + self.near_groups:
                for m in g["members"]:
                    w.writerow({"group": g["group"], "kind": g["kind"], "scope": g["scope"], "size": g["size"],
                                **{k: m.get(k, "") for k in cols[4:]}})
        return path

    def thumbnail(self, i: int, size: int = 128) -> str:
        """Base64 PNG of item ``i`` (a volume shows its three mean projections side by side)."""
        from PIL import Image

        cat = self._catalogs[self.items.ds[i]]
        x = _decode(cat, self.items.k[i])
        planes = [x] if x.ndim == 2 else [x.mean(axis=a) for a in range(3)]
        tiles = []
        for p in planes:
            img = Image.fromarray(_to_uint8(p))
            img.thumbnail((size, size))
            tiles.append(np.asarray(img))
        h = max(t.shape[0] for t in tiles)
        row = np.concatenate([np.pad(t, ((0, h - t.shape[0]), (0, 2))) for t in tiles], axis=1)
        buf = io.BytesIO()
        Image.fromarray(row).save(buf, format="PNG")
        return base64.b64encode(buf.getvalue()).decode()

    def write_html(self, path: str | Path, size: int = 128) -> Path:
        """Self-contained page: summary, then the closest cross-split / cross-dataset pairs side by side."""
        import html

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        esc = html.escape
        rows = []
        for p in self.pairs:
            cells = []
            for m in (p["a"], p["b"]):
                try:
                    img = f'<img src="data:image/png;base64,{self.thumbnail(m["item"], size)}">'
                except Exception as exc:  # noqa: BLE001
                    img = f"<i>{esc(_one_line(exc))}</i>"
                cells.append(f"<td>{img}<br><small>{esc(m['dataset_name'])} · <b>{esc(m['split'])}</b> · "
                             f"{esc(m['label'] or '-')}<br>{esc(m['id'])}</small></td>")
            rows.append(f"<tr><td>{p['distance']}<br><small>{esc(p['kind'])}<br>{esc(p['scope'])}</small></td>"
                        + "".join(cells) + "</tr>")
        issues = "".join(f"<li>[{esc(i['severity'])}] {esc(i['kind'])}: {esc(i['message'])}</li>"
                         for i in self.issues[:200])
        body = f"""<!doctype html><html><head><meta charset="utf-8"><title>medfx data check</title>
<style>body{{font-family:sans-serif;margin:2em}}td{{vertical-align:top;padding:4px 8px;border-bottom:1px solid #ddd}}
img{{image-rendering:pixelated;background:#000}}pre{{background:#f6f6f6;padding:1em}}</style></head><body>
<h1>medfx data check</h1><pre>{esc(self.to_text())}</pre>
<h2>Closest pairs across splits and datasets ({len(self.pairs)})</h2>
<table><tr><th>distance</th><th>item</th><th>item</th></tr>{''.join(rows) or '<tr><td>none</td></tr>'}</table>
<h2>Issues</h2><ul>{issues or '<li>none</li>'}</ul></body></html>"""
        path.write_text(body)
        return path

    def write_all(self, out_dir: str | Path) -> dict[str, Path]:
        out = Path(out_dir)
        return {"json": self.write_json(out / "data_check.json"), "csv": self.write_csv(out / "groups.csv"),
                "html": self.write_html(out / "data_check.html")}

    # -- de-duplicated manifest ---------------------------------------------------------------
    def write_dedup_manifest(self, out_csv: str | Path, near_policy: str = "move",
                             group_subjects: bool = False) -> dict:
        """Leakage-free manifest of the checked dataset (readable as ``data.path``); returns what changed.

        1. Each exact-duplicate group keeps one member: train before val before test, then by id.
        2. Items linked by near pairs (and, with ``group_subjects``, by subject) form components; a
           component in several splits is put in its earliest split (``move``: train first) or loses its
           members outside that split (``drop``).
        3. Val/test items with an exact or near copy in an ``against`` dataset are dropped.
        Unreadable files are left out. Every row has an explicit split (a seeded split is fixed here).
        """
        if near_policy not in NEAR_POLICIES:
            raise ValueError(f"near_policy: {near_policy!r} is not one of {', '.join(NEAR_POLICIES)}")
        it = self.items
        prim = [i for i in range(len(it.ids)) if it.ds[i] == 0 and it.content[i]]
        order = {s: n for n, s in enumerate(SPLIT_ORDER)}
        rank = lambda i: (order.get(it.splits[i], 9), it.ids[i])  # noqa: E731
        keep, stats = set(prim), Counter()
        by_content = defaultdict(list)
        for i in prim:
            by_content[it.content[i]].append(i)
        for members in by_content.values():
            for i in sorted(members, key=rank)[1:]:
                keep.discard(i)
                stats["dropped_exact"] += 1
        parent = {i: i for i in keep}

        def find(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        def union(a, b):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        rep = {c: sorted(m, key=rank)[0] for c, m in by_content.items()}
        if self.near_edges:
            for a, b in zip(*self.near_edges[:2]):
                a, b = rep.get(it.content[a]), rep.get(it.content[b])
                if a is not None and b is not None and a in keep and b in keep:
                    union(a, b)
        if group_subjects:
            first = {}
            for i in sorted(keep):
                s = it.subjects[i]
                if s:
                    union(i, first.setdefault(s, i))
        comps = defaultdict(list)
        for i in keep:
            comps[find(i)].append(i)
        split = {i: it.splits[i] for i in keep}
        for members in comps.values():
            target = min((it.splits[i] for i in members), key=lambda s: order.get(s, 9))
            for i in members:
                if it.splits[i] != target:
                    if near_policy == "move":
                        split[i] = target
                        stats["moved"] += 1
                    else:
                        keep.discard(i)
                        stats["dropped_near"] += 1
        against = self._against_matches()
        for i in list(keep):
            if split[i] in ("val", "test") and i in against:
                keep.discard(i)
                stats["dropped_against"] += 1
        has_subject = any(it.subjects[i] for i in keep)
        cols = ["path", "label", "split"] + (["subject"] if has_subject else []) + ["id", "content_sha1"]
        out_csv = Path(out_csv)
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        rows = sorted(keep, key=lambda i: (order.get(split[i], 9), i))
        with open(out_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for i in rows:
                w.writerow([it.paths[i], it.labels[i], split[i]] + ([it.subjects[i]] if has_subject else [])
                           + [it.ids[i], it.content[i]])
        counts = Counter(split[i] for i in keep)
        return {"path": str(out_csv), "kept": len(keep), "unreadable_left_out": sum(
            1 for i in range(len(it.ids)) if it.ds[i] == 0 and not it.content[i]),
            **{k: stats[k] for k in ("dropped_exact", "moved", "dropped_near", "dropped_against")},
            "splits": {s: counts[s] for s in SPLIT_ORDER if counts[s]}}

    def _against_matches(self) -> set[int]:
        """Items of the checked dataset with an exact or near copy in an ``against`` dataset."""
        it = self.items
        other = {it.content[i] for i in range(len(it.ids)) if it.ds[i] > 0 and it.content[i]}
        hit = {i for i in range(len(it.ids)) if it.ds[i] == 0 and it.content[i] in other}
        if self.near_edges:
            for a, b in zip(*self.near_edges[:2]):
                if (it.ds[a] == 0) != (it.ds[b] == 0):
                    hit.add(a if it.ds[a] == 0 else b)
        # every copy of a matched content matches too
        matched = {it.content[i] for i in hit}
        return {i for i in range(len(it.ids)) if it.ds[i] == 0 and it.content[i] in matched}


def _scopes(d: dict) -> str:
    return ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in d.items()) or "none"


def _data_cfg(src: str | Path | DataConfig, base: DataConfig | None) -> DataConfig:
    if isinstance(src, DataConfig):
        return src
    if base is not None:
        import dataclasses

        return dataclasses.replace(base, path=str(src), format="auto")
    return DataConfig(path=str(src))


def _assign_splits(cat: Catalog, cfg: DataConfig, issues: list, name: str) -> list[str | None]:
    """The split of each item as ``load_splits`` would make it (official splits, seeded carving)."""
    out: list[str | None] = [None] * len(cat.ids)  # None: not used (left out by max_per_split)
    try:
        for s, idx in split_indices(cat, cfg).items():
            for i in idx:
                out[i] = s
    except (DataError, ValueError) as exc:
        issues.append(_issue("split_error", "warning", name, None, None,
                             f"{name}: medfx cannot split this data ({_one_line(exc)}); official splits "
                             "are used, items without one count as train"))
        out = [s or "train" for s in cat.splits]
    return out


def _issue(kind, severity, dataset, split, item, message) -> dict:
    return {"kind": kind, "severity": severity, "dataset": dataset, "split": split, "id": item,
            "message": message}


def check_data(
    data: str | Path | DataConfig,
    against: list[str | Path | DataConfig] | tuple = (),
    config: CheckConfig | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> CheckResult:
    """Check ``data`` (a path or ``DataConfig``) for duplicates, leaks and broken files.

    ``against``: other datasets (e.g. a pretraining pool) whose items count as copies. Splits are the ones
    ``load_splits`` makes under the ``DataConfig`` (official splits kept, missing ones carved with its
    seed), so the check sees what a run would see. ``cache_dir`` (None: no cache) stores hashes.
    """
    cfg = config or CheckConfig()
    base = data if isinstance(data, DataConfig) else None
    cfgs = [_data_cfg(data, None)] + [_data_cfg(a, base) for a in against]
    cache = HashCache(cache_dir)
    items, issues, datasets, catalogs = _Items(), [], [], []
    records: list[dict | None] = []
    t0 = time.perf_counter()
    try:
        for d, dc in enumerate(cfgs):
            cat = build_catalog(dc, check_sizes=False, strict=False)
            name = dc.path
            if catalogs and cat.spatial_dims != catalogs[0].spatial_dims:
                raise DataError(f"{name}: {cat.spatial_dims}D data cannot be checked against "
                                f"{catalogs[0].spatial_dims}D data ({cfgs[0].path})")
            catalogs.append(cat)
            splits = _assign_splits(cat, dc, issues, name)
            used = [k for k, sp in enumerate(splits) if sp is not None]
            recs = _hash_catalog(cat, cfg, cache, progress, used)
            source = dc.path if dc.path.startswith("builtin:") else str(Path(cat.source).resolve())
            for k, rec in recs.items():
                records.append(rec)
                items.ds.append(d)
                items.k.append(k)
                items.ids.append(cat.ids[k])
                items.paths.append(str(Path(cat.paths[k]).resolve()) if cat.paths is not None
                                   else (cat.ids[k] if cat.format == "manifest" else f"{source}#{cat.ids[k]}"))
                items.splits.append(splits[k])
                lab = int(cat.labels[k])
                items.labels.append(cat.class_names[lab] if lab >= 0 else "")
                items.subjects.append(cat.subjects[k] if cat.subjects is not None else "")
                items.content.append(rec["content"] if rec else "")
                items.shapes.append(tuple(rec["shape"]) if rec else ())
            for k, msg in sorted((cat.errors or {}).items()):
                if splits[k] is None:
                    continue
                issues.append(_issue("unreadable", "error", name, splits[k], cat.ids[k],
                                     f"{cat.paths[k] if cat.paths is not None else cat.ids[k]}: {msg}"))
            datasets.append(_describe(d, dc, cat, splits))
    finally:
        cache.close()
    hash_s = time.perf_counter() - t0
    n = len(items.ids)
    ok = np.array([bool(c) for c in items.content])
    stats = np.zeros((n, 5))
    for i, rec in enumerate(records):
        if rec:
            stats[i] = rec["stats"]
    issues += _image_issues(items, stats, ok, cfg, cfgs)
    issues += _split_issues(items, datasets, cfg, catalogs)

    # exact groups
    by_content = defaultdict(list)
    for i in np.flatnonzero(ok):
        by_content[items.content[i]].append(int(i))
    # near pairs between one representative per content (constant images excluded)
    t1 = time.perf_counter()
    edges = (np.zeros(0, np.int64),) * 3
    if cfg.near:
        reps = np.array([m[0] for m in by_content.values() if stats[m[0], 1] > stats[m[0], 0]], dtype=np.int64)
        if len(reps) > 1:
            packed = np.stack([np.frombuffer(bytes.fromhex(records[i]["bits"]), dtype=np.uint8) for i in reps])
            nbits = len(np.unpackbits(packed[0]))
            planes = 1 if catalogs[0].spatial_dims == 2 else 3
            a, b, dist = near_pairs(packed, nbits, cfg.threshold * planes)
            edges = (reps[a], reps[b], dist)
    search_s = time.perf_counter() - t1
    res = CheckResult(config=cfg, datasets=datasets, exact_groups=[], near_groups=[], pairs=[], leaks={},
                      issues=issues, timing={}, items=items, near_edges=edges, _catalogs=catalogs)
    res.exact_groups = _exact_groups(res, by_content)
    res.near_groups = _near_groups(res, by_content, edges)
    res.leaks = _leaks(res, by_content, edges)
    res.pairs = _closest_pairs(res, by_content, edges)
    res.issues += _label_conflicts(res)
    res.timing = {"items": n, "hash_s": round(hash_s, 3), "search_s": round(search_s, 3),
                  "items_per_s": n / max(hash_s, 1e-9), "cached": cache.items_cached}
    return res


def _describe(d: int, dc: DataConfig, cat: Catalog, splits: list[str]) -> dict:
    counts = {}
    for s in SPLIT_ORDER:
        idx = [i for i, x in enumerate(splits) if x == s]
        if idx:
            c = Counter(cat.class_names[cat.labels[i]] if cat.labels[i] >= 0 else "unlabelled" for i in idx)
            counts[s] = {k: c[k] for k in [*cat.class_names, "unlabelled"] if c[k]}
    return {"index": d, "path": dc.path, "source": cat.source, "format": cat.format,
            "spatial_dims": cat.spatial_dims, "items": sum(s is not None for s in splits), "class_names": list(cat.class_names),
            "has_subjects": cat.subjects is not None, "counts": counts,
            "official_splits": sorted({s for s in cat.splits if s})}


def _image_issues(items: _Items, stats: np.ndarray, ok: np.ndarray, cfg: CheckConfig, cfgs) -> list[dict]:
    out = []
    for d, dc in enumerate(cfgs):
        idx = np.flatnonzero(ok & (np.array(items.ds) == d))
        if not len(idx):
            continue
        s = stats[idx]
        for j, i in enumerate(idx):
            lo, hi, _, _, fg = s[j]
            where = f"{dc.path}: {items.ids[i]}"
            if hi <= lo:
                out.append(_issue("constant", "warning", dc.path, items.splits[i], items.ids[i],
                                  f"{where} is constant ({lo:g})"))
            elif fg < cfg.empty_fraction:
                out.append(_issue("near_empty", "warning", dc.path, items.splits[i], items.ids[i],
                                  f"{where} is nearly empty ({fg:.2%} of pixels above 10% of its range)"))
        if len(idx) < 5:
            continue
        med = np.median(s[:, :4], axis=0)
        # robust scale: MAD, floored at 5 % of the typical intensity range (8-bit sets often have MAD 0)
        floor = 0.05 * max(med[1] - med[0], 1e-12)
        scale = np.maximum(1.4826 * np.median(np.abs(s[:, :4] - med), axis=0), floor)
        for j, i in enumerate(idx):
            bad = []
            for c, name in enumerate(("min", "max", "mean", "std")):
                if abs(s[j, c] - med[c]) / scale[c] > cfg.outlier_z:
                    bad.append(f"{name} {s[j, c]:.4g} (median {med[c]:.4g})")
            if bad:
                out.append(_issue("intensity_outlier", "warning", dc.path, items.splits[i], items.ids[i],
                                  f"{dc.path}: {items.ids[i]} has extreme intensities: {', '.join(bad)}"))
    return out


def _split_issues(items: _Items, datasets: list[dict], cfg: CheckConfig, catalogs) -> list[dict]:
    out = []
    for d in datasets:
        name = d["path"]
        for s, counts in d["counts"].items():
            labelled = {k: v for k, v in counts.items() if k != "unlabelled"}
            if not labelled:
                out.append(_issue("unlabelled_split", "warning", name, s, None, f"{name}: split '{s}' has no labels"))
            elif len(labelled) == 1 and len(d["class_names"]) > 1:
                out.append(_issue("single_class_split", "warning", name, s, None,
                                  f"{name}: split '{s}' holds only class '{next(iter(labelled))}'"))
            elif len(labelled) > 1 and max(labelled.values()) > cfg.imbalance_ratio * min(labelled.values()):
                out.append(_issue("class_imbalance", "info", name, s, None,
                                  f"{name}: split '{s}' is imbalanced ({labelled})"))
            missing = [c for c in d["class_names"] if c not in labelled and labelled]
            if missing and len(labelled) > 1:
                out.append(_issue("missing_class", "warning", name, s, None,
                                  f"{name}: split '{s}' has no '{missing[0]}' items"))
        if d["has_subjects"]:
            where = defaultdict(set)
            for i in range(len(items.ids)):
                if items.ds[i] == d["index"] and items.subjects[i]:
                    where[items.subjects[i]].add(items.splits[i])
            leaked = sorted(s for s, sp in where.items() if len(sp) > 1)
            if leaked:
                out.append(_issue("subject_leak", "error", name, None, None,
                                  f"{name}: {len(leaked)} subjects appear in more than one split "
                                  f"(e.g. {leaked[0]}: {sorted(where[leaked[0]])})"))
    return out


def _member(res: CheckResult, i: int, dist: int | None = None) -> dict:
    it = res.items
    m = {"item": int(i), "dataset": it.ds[i], "dataset_name": res.datasets[it.ds[i]]["path"],
         "split": it.splits[i], "id": it.ids[i], "path": it.paths[i], "label": it.labels[i],
         "subject": it.subjects[i], "content_sha1": it.content[i]}
    if dist is not None:
        m["nearest_distance"] = int(dist)
    return m


def _scope(res: CheckResult, members: list[int]) -> str:
    it = res.items
    if len({it.ds[i] for i in members}) > 1:
        return "cross_dataset"
    if len({it.splits[i] for i in members}) > 1:
        return "cross_split"
    return "within_split"


def _exact_groups(res: CheckResult, by_content: dict) -> list[dict]:
    out = []
    for members in by_content.values():
        if len(members) > 1:
            out.append({"group": f"E{len(out) + 1}", "kind": "exact", "scope": _scope(res, members),
                        "size": len(members), "splits": sorted({res.items.splits[i] for i in members}),
                        "members": [_member(res, i, 0) for i in members]})
    return out


def _near_groups(res: CheckResult, by_content: dict, edges) -> list[dict]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a, b, dist = edges
    if not len(a):
        return []
    it = res.items
    n = len(it.ids)
    # link every copy of a content to its representative, and representatives by near pairs
    ea, eb = [a], [b]
    for members in by_content.values():
        if len(members) > 1:
            ea.append(np.full(len(members) - 1, members[0]))
            eb.append(np.array(members[1:]))
    ea, eb = np.concatenate(ea), np.concatenate(eb)
    graph = coo_matrix((np.ones(len(ea)), (ea, eb)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    nearest = defaultdict(lambda: 1 << 30)
    for x, y, d in zip(a, b, dist):
        for u in (x, y):
            nearest[int(u)] = min(nearest[int(u)], int(d))
    rep_of = {}
    for members in by_content.values():
        for i in members:
            rep_of[i] = members[0]
    touched = np.unique(np.concatenate([a, b]))
    groups = defaultdict(list)
    for c in np.unique(comp[touched]):
        groups[int(c)] = []
    for i in range(n):
        if int(comp[i]) in groups and it.content[i]:
            groups[int(comp[i])].append(i)
    out = []
    edges_by_comp = defaultdict(list)
    for x, y, d in zip(a, b, dist):
        edges_by_comp[int(comp[x])].append((int(x), int(y), int(d)))
    for c, members in groups.items():
        if len({it.content[i] for i in members}) < 2:
            continue
        e = sorted(edges_by_comp[c], key=lambda t: t[2])
        out.append({"group": f"N{len(out) + 1}", "kind": "near", "scope": _scope(res, members),
                    "size": len(members), "splits": sorted({it.splits[i] for i in members}),
                    "distance_min": e[0][2], "distance_max": e[-1][2],
                    "members": [_member(res, i, 0 if len(by_content[it.content[i]]) > 1
                                        else nearest[rep_of[i]]) for i in members],
                    "pairs": [{"a": it.ids[x], "b": it.ids[y], "distance": d} for x, y, d in e[:200]]})
    return out


def _place(res: CheckResult, i: int) -> str:
    it = res.items
    return it.splits[i] if it.ds[i] == 0 else f"against:{res.datasets[it.ds[i]]['path']}"


def _leaks(res: CheckResult, by_content: dict, edges) -> dict:
    """Per split of the checked dataset: items with an exact / near copy in another split or dataset."""
    it = res.items
    places = {c: {_place(res, i) for i in m} for c, m in by_content.items()}
    near_places = defaultdict(set)
    for x, y, _ in zip(*edges):
        cx, cy = it.content[x], it.content[y]
        near_places[cx] |= places[cy]
        near_places[cy] |= places[cx]
    out = {}
    for s in SPLIT_ORDER:
        idx = [i for i in range(len(it.ids)) if it.ds[i] == 0 and it.splits[i] == s]
        if not idx:
            continue
        exact = near_only = 0
        copies_in = Counter()
        within = 0
        for i in idx:
            c = it.content[i]
            if not c:
                continue
            pe = places[c] - {s}
            pn = near_places.get(c, set()) - {s} - pe
            within += len(by_content[c]) > 1 and any(it.splits[j] == s and it.ds[j] == 0 and j != i
                                                      for j in by_content[c])
            exact += bool(pe)
            near_only += bool(pn) and not pe
            if pe or pn:
                res.leaked_ids.setdefault(s, []).append(it.ids[i])
            for p in pe | pn:
                copies_in[p] += 1
        out[s] = {"items": len(idx), "leaked": exact + near_only, "exact": exact, "near_only": near_only,
                  "copies_in": dict(copies_in), "duplicated_within_split": within}
    return out


def _closest_pairs(res: CheckResult, by_content: dict, edges) -> list[dict]:
    it = res.items
    pairs = []
    for members in by_content.values():
        if len(members) > 1:
            firsts = {}
            for i in members:
                firsts.setdefault(_place(res, i), i)
            if len(firsts) > 1:
                v = list(firsts.values())
                pairs.append((0, "exact", v[0], v[1]))
    for x, y, d in zip(*edges):
        px = {_place(res, i): i for i in by_content[it.content[x]]}
        py = {_place(res, i): i for i in by_content[it.content[y]]}
        combos = [(px[p], py[q]) for p in px for q in py if p != q]
        if combos:
            pairs.append((int(d), "near", *combos[0]))
    pairs.sort(key=lambda p: (p[0], it.ids[p[2]]))
    out = []
    for d, kind, x, y in pairs[: res.config.max_pairs]:
        out.append({"distance": d, "kind": kind, "scope": _scope(res, [x, y]),
                    "a": _member(res, x), "b": _member(res, y)})
    return out


def _label_conflicts(res: CheckResult) -> list[dict]:
    out = []
    for g in res.exact_groups:
        per_ds = defaultdict(set)
        for m in g["members"]:
            per_ds[m["dataset_name"]].add(m["label"])
        for name, labels in per_ds.items():
            if len(labels) > 1:
                out.append(_issue("label_conflict", "warning", name, None, g["members"][0]["id"],
                                  f"{name}: identical images carry different labels {sorted(labels)} "
                                  f"({', '.join(m['id'] for m in g['members'][:4])})"))
    return out


# ----------------------------------------------------------------------------------------------
# Split manifests of runs


def write_split_manifest(cfg: DataConfig, path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Write the exact split ``load_splits(cfg)`` uses as a CSV manifest (readable as ``data.path``):
    ``path,label,split[,subject],id,content_sha1`` (content hash of the decoded image, as in the check)."""
    cat = build_catalog(cfg, check_sizes=False)
    index = split_indices(cat, cfg)
    cache = HashCache(cache_dir)
    try:
        recs = _hash_catalog(cat, CheckConfig(near=False), cache, False, [k for v in index.values() for k in v])
    finally:
        cache.close()
    source = cfg.path if cfg.path.startswith("builtin:") else str(Path(cat.source).resolve())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split"] + (["subject"] if cat.subjects is not None else [])
                   + ["id", "content_sha1"])
        for s, idx in index.items():
            for k in idx:
                p = (str(Path(cat.paths[k]).resolve()) if cat.paths is not None
                     else cat.ids[k] if cat.format == "manifest" else f"{source}#{cat.ids[k]}")
                lab = int(cat.labels[k])
                w.writerow([p, cat.class_names[lab] if lab >= 0 else "", s]
                           + ([cat.subjects[k]] if cat.subjects is not None else [])
                           + [cat.ids[k], recs[k]["content"] if recs[k] else ""])
    tmp.replace(path)
    return path
