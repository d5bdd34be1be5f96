"""Datasets for MedMNIST ``.npz`` files, image folders and CSV lists (manifests) of files or ``.npz`` items.

A CSV has a ``path`` column and optional ``label``, ``split``, ``subject`` and ``index`` columns. A path
is a NIfTI / PNG / JPEG / DICOM file (relative to the CSV), or an item of an ``.npz`` written
``source.npz#split/index`` (or ``source.npz`` with the item in the ``index`` column), e.g.
``builtin:pneumoniamnist#test/000012``; one CSV holds one kind. ``medfx data check --dedup`` and every
run's ``splits.csv`` are such manifests.

Loading is two-staged. ``build_catalog`` reads only what is cheap (array files, directory listings,
image headers, the CSV) into a ``Catalog``: ids, labels, official splits, subjects, native shapes.
``make_dataset`` then turns a subset of the catalogue into a dataset: an ``ArrayDataset`` (``.npz``,
preprocessed once into memory) or a ``FileDataset`` (files, loaded and preprocessed lazily).
Every dataset yields ``(image [1, *spatial] float32, label int, sample_id str)``.
"""

from __future__ import annotations

import csv
import logging
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from medfx.data.config import DataConfig
from medfx.data.transforms import (
    IMAGE_2D_SUFFIXES,
    VOLUME_SUFFIXES,
    file_suffix,
    preprocess_batch,
    read_header_shape,
    read_image,
    rgb_to_grey,
)

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "datasets"
BUILTINS = {  # name -> (file in medfx/datasets, class names)
    "pneumoniamnist": ("pneumoniamnist.npz", ("normal", "pneumonia")),
    "adrenalmnist3d": ("adrenalmnist3d.npz", ("normal", "hyperplasia")),
}
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}  # fmt: skip
SPLITS = ("train", "val", "test")
_FOLDER_SUFFIXES = IMAGE_2D_SUFFIXES + VOLUME_SUFFIXES
_NPZ_CHUNK = 256  # images preprocessed per vectorised call


from medfx.utils.errors import DataError  # noqa: E402  (re-exported: one line naming the file and problem)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text[:300]}"


def builtin_datasets() -> list[str]:
    """Names accepted as ``builtin:NAME``."""
    return sorted(BUILTINS)


def resolve_path(path: str) -> Path:
    """Resolve ``builtin:NAME`` to the packaged file; other paths are returned as ``Path``."""
    if path.startswith("builtin:"):
        name = path.split(":", 1)[1]
        if name not in BUILTINS:
            raise DataError(f"{path}: unknown built-in dataset (available: {', '.join(builtin_datasets())})")
        return BUILTIN_DIR / BUILTINS[name][0]
    return Path(path).expanduser()


def detect_format(path: Path) -> str:
    """``npz`` / ``folder`` / ``nifti_csv`` from the path (which must exist)."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        return "folder"
    if path.suffix.lower() == ".npz":
        return "npz"
    if path.suffix.lower() == ".csv":
        return "nifti_csv"
    raise DataError(f"{path}: unsupported data path (expected a .npz, a .csv of NIfTI paths, or a folder)")


# ----------------------------------------------------------------------------------------------
# Catalogue: everything known without decoding the images


@dataclass
class Catalog:
    """Cheap description of a data source; ``arrays`` holds the raw images of an ``.npz``."""

    format: str
    source: str
    spatial_dims: int
    class_names: list[str]
    ids: list[str]
    labels: np.ndarray  # int64 [N], -1 = unlabelled
    splits: list[str | None]  # official split of each item, None where the data has none
    subjects: list[str] | None
    shapes: list[tuple[int, ...]]  # native spatial shape of each item
    paths: list[Path] | None = None  # files (folder, nifti_csv)
    arrays: np.ndarray | None = None  # raw images [N, *spatial(, 3|4)] (npz)
    rgb: bool = False  # arrays carry a trailing colour axis
    errors: dict[int, str] | None = None  # strict=False only: item -> why its file cannot be read


def _check_labels(labels: np.ndarray, where: str, class_names: list[str] | None = None) -> None:
    present = np.unique(labels[labels >= 0])
    if len(present) == 1:
        name = class_names[present[0]] if class_names else str(present[0])
        raise DataError(f"{where}: all labels are the single class '{name}'; at least two classes are needed")


def _encode_labels(values: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """Map label strings to indices of the sorted class names (numerically when all are integers)."""
    present = sorted({v for v in values if v is not None})
    try:
        present = sorted(present, key=lambda s: int(s))
    except ValueError:
        pass
    index = {name: i for i, name in enumerate(present)}
    labels = np.array([index[v] if v is not None else -1 for v in values], dtype=np.int64)
    return labels, present


def _npz_members(path: Path, suffix: str = ".npy"):
    """Yield ``(key, shape, dtype, f)`` for every ``.npy`` member of an ``.npz`` whose name ends with ``suffix``;
    ``f`` is the open member, positioned after its header (the array's bytes follow)."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(suffix):
                continue
            with z.open(info) as f:
                shape, dtype = _npy_header(f)
                yield info.filename[:-4], tuple(int(d) for d in shape), dtype, f


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{key: (shape, dtype)}`` of every array in an ``.npz``, read from the zip members' ``.npy`` headers only
    (nothing is decompressed beyond the header, so a file declaring gigabytes costs nothing to inspect)."""
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an npz archive (not a zip file: damaged, truncated or another format)")
    try:
        return {key: (shape, dtype) for key, shape, dtype, _ in _npz_members(path)}
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot read npz ({_one_line(exc)})") from exc


def _npy_header(f) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return shape, dtype


def npz_minmax(path: Path, chunk: int = 1 << 24) -> tuple[float, float] | None:
    """Min and max of the image arrays of an ``.npz``, streamed in chunks (bounded memory whatever the size)."""
    lo, hi = np.inf, -np.inf
    for _key, _shape, dtype, f in _npz_members(path, "images.npy"):
        if dtype.hasobject or not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
            return None
        step = max(dtype.itemsize, (chunk // dtype.itemsize) * dtype.itemsize)
        while True:
            buf = f.read(step)
            if not buf:
                break
            a = np.frombuffer(buf[: len(buf) - len(buf) % dtype.itemsize], dtype=dtype)
            if a.size:
                lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    return None if lo > hi else (lo, hi)


def _check_npz_sizes(path: Path, headers: dict, image_keys: list[str]) -> None:
    """Refuse declared image arrays that cannot fit in memory, before any is decompressed."""
    from medfx.utils.limits import available_memory, fmt_bytes

    raw = total = 0
    biggest = None
    for k in image_keys:
        shape, dtype = headers[k]
        n = float(np.prod(shape, dtype=np.float64))
        raw += n * dtype.itemsize
        total += n * (dtype.itemsize + 4)  # held raw, then preprocessed as float32
        biggest = k if biggest is None or n > float(np.prod(headers[biggest][0], dtype=np.float64)) else biggest
    budget = available_memory() // 2
    if total > budget:
        shape = headers[biggest][0]
        raise DataError(f"{path}: declares {fmt_bytes(raw)} of images (key '{biggest}' of shape {shape}), "
                        f"{fmt_bytes(total)} once decoded, more than the {fmt_bytes(budget)} medfx allows itself "
                        "here (half the available memory); use a smaller file or raise MEDFX_MAX_INPUT_BYTES")


def _npz_labels(path: Path, key: str, y: np.ndarray, n_images: int) -> np.ndarray:
    """Integer class indices from an npz label array, or a one-line error naming the key."""
    from medfx.utils.limits import MAX_CLASSES

    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{path}: key '{key}' has shape {y.shape}; multi-label data is not supported")
    if len(y) != n_images:
        raise DataError(f"{path}: key '{key}' has {len(y)} labels for {n_images} images")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{path}: key '{key}' holds {y.dtype} values (e.g. {str(y[0])!r}); labels must be integer class "
                        "indices (store class names under 'class_names')")
    if np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.complexfloating):
        if not np.isfinite(y).all():
            raise DataError(f"{path}: key '{key}' has NaN or Inf labels")
        frac = y != np.round(y)
        if frac.any():
            i = int(np.argmax(frac))
            raise DataError(f"{path}: key '{key}' has non-integer label {float(y[i]):g} (item {i}); labels must be integer "
                            "class indices (medfx never rounds them)")
    if len(y) and (y.max() >= MAX_CLASSES):
        raise DataError(f"{path}: key '{key}' has label {int(y.max())}; labels must be class indices 0..K-1 with "
                        f"K <= {MAX_CLASSES}")
    y = y.astype(np.int64)
    if (y < -1).any():
        raise DataError(f"{path}: key '{key}' has negative labels")
    return y


def _catalog_npz(path: Path, name: str | None, strict: bool = True, load_images: bool = True) -> Catalog:
    headers = npz_headers(path)
    image_keys = [f"{s}_images" for s in SPLITS if f"{s}_images" in headers] or \
        (["images"] if "images" in headers else [])
    _check_npz_sizes(path, headers, image_keys)
    wanted = set(image_keys if load_images else []) | {k for k in headers if not k.endswith("images")}
    for k in wanted:  # labels and class names are loaded; their declared sizes are checked too
        if not k.endswith("images") and int(np.prod(headers[k][0], dtype=np.float64)) > 100_000_000:
            raise DataError(f"{path}: key '{k}' declares shape {headers[k][0]}, far more entries than any dataset")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files if k in wanted}
    except Exception as exc:
        raise DataError(f"{path}: cannot read npz ({_one_line(exc)})") from exc
    if not load_images:  # headers only: stand-ins with the declared shape and dtype, never filled
        for k in image_keys:
            shape, dtype = headers[k]
            data[k] = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=dtype), shape=shape,
                                                      strides=(0,) * len(shape))
    if any(f"{s}_images" in data for s in SPLITS):
        parts = [(s, f"{s}_images", f"{s}_labels") for s in SPLITS if f"{s}_images" in data]
    elif "images" in data:
        parts = [(None, "images", "labels")]
    else:
        raise DataError(
            f"{path}: no 'train_images'/'val_images'/'test_images' or 'images' key (keys: {sorted(data)})"
        )
    arrays, labels, ids, splits = [], [], [], []
    ndim = None
    for split, ikey, lkey in parts:
        x = data[ikey]
        if x.ndim < 3 or x.shape[0] == 0:
            raise DataError(f"{path}: key '{ikey}' is empty or not a stack of images (shape {x.shape})")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise DataError(f"{path}: key '{ikey}' has non-numeric dtype {x.dtype}")
        if ndim is not None and x.ndim != ndim:
            raise DataError(f"{path}: key '{ikey}' mixes 2D and 3D images (shape {x.shape} vs ndim {ndim})")
        ndim = x.ndim
        if load_images and np.issubdtype(x.dtype, np.floating):
            bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
            if bad.any():
                raise DataError(f"{path}: key '{ikey}' sample {int(np.argmax(bad))} has NaN or Inf values")
        if lkey in data:
            y = _npz_labels(path, lkey, np.asarray(data[lkey]), len(x))
        else:
            y = np.full(len(x), -1, dtype=np.int64)
        prefix = f"{split}/" if split else ""
        arrays.append(x)
        labels.append(y)
        ids += [f"{prefix}{i:06d}" for i in range(len(x))]
        splits += [split] * len(x)
    for (_, ikey, _), x in zip(parts, arrays):
        if x.shape[1:] != arrays[0].shape[1:]:
            raise DataError(
                f"{path}: key '{ikey}' holds images of shape {x.shape[1:]}, "
                f"'{parts[0][1]}' of shape {arrays[0].shape[1:]}"
            )
    if load_images:
        arr = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    else:
        shape = (sum(len(a) for a in arrays), *arrays[0].shape[1:])
        arr = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=arrays[0].dtype), shape=shape,
                                              strides=(0,) * len(shape))
    lab = np.concatenate(labels)
    rgb = arr.ndim == 4 and arr.shape[-1] in (3, 4)
    spatial = arr.shape[1:-1] if rgb else arr.shape[1:]
    if len(spatial) not in (2, 3):
        raise DataError(f"{path}: images of shape {arr.shape[1:]} are neither 2D nor 3D")
    if strict:
        _check_labels(lab, str(path))
    if name is not None:
        class_names = list(BUILTINS[name][1])
    elif "class_names" in data:
        class_names = [str(c) for c in data["class_names"]]
    else:
        class_names = [str(i) for i in range(int(lab.max()) + 1)] if (lab >= 0).any() else []
    if (lab >= len(class_names)).any():
        raise DataError(f"{path}: label {int(lab.max())} has no class name ({len(class_names)} classes)")
    return Catalog(
        format="npz", source=str(path), spatial_dims=len(spatial), class_names=class_names, ids=ids,
        labels=lab, splits=splits, subjects=None, shapes=[tuple(spatial)] * len(lab),
        arrays=arr if load_images else None, rgb=rgb,
    )  # fmt: skip


def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and file_suffix(p) in _FOLDER_SUFFIXES


def _class_files(folder: Path) -> list[tuple[Path, str | None]]:
    """``folder/<class>/**/image`` -> (path, class); loose images directly in ``folder`` are unlabelled."""
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = sorted(p for p in folder.iterdir() if _is_image(p))
    if subdirs:
        if loose:
            log.warning("%s: ignoring %d images outside the class folders", folder, len(loose))
        return [(p, d.name) for d in subdirs for p in sorted(d.rglob("*")) if _is_image(p)]
    return [(p, None) for p in loose]


def _catalog_folder(root: Path, orientation: str | None, strict: bool = True) -> Catalog:
    subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    split_dirs = {d: SPLIT_ALIASES[d.name.lower()] for d in subdirs if d.name.lower() in SPLIT_ALIASES}
    entries: list[tuple[Path, str | None, str | None]] = []  # (path, class, split)
    if split_dirs:
        seen = Counter(split_dirs.values())
        dup = [s for s, n in seen.items() if n > 1]
        if dup:
            raise DataError(f"{root}: several folders map to split '{dup[0]}'")
        others = sorted(d.name for d in subdirs if d not in split_dirs)
        if others:
            log.warning("%s: ignoring folders %s next to the split folders", root, others)
        for d, split in sorted(split_dirs.items(), key=lambda kv: SPLITS.index(kv[1])):
            entries += [(p, c, split) for p, c in _class_files(d)]
    else:
        entries = [(p, c, None) for p, c in _class_files(root)]
    if not entries:
        raise DataError(f"{root}: no images found (expected {', '.join(_FOLDER_SUFFIXES)} files)")
    labels, class_names = _encode_labels([c for _, c, _ in entries])
    if strict:
        _check_labels(labels, str(root), class_names)
    paths = [p for p, _, _ in entries]
    ids = [p.relative_to(root).as_posix() for p in paths]
    return _file_catalog(
        "folder", root, paths, ids, labels, class_names, [s for _, _, s in entries], None, orientation,
        None if strict else {},
    )


def _read_csv_rows(csv_path: Path, label_column: str) -> list[dict]:
    try:
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
    except Exception as exc:
        raise DataError(f"{csv_path}: cannot read CSV ({_one_line(exc)})") from exc
    if not rows:
        raise DataError(
            f"{csv_path}: no rows (expected a header 'path,{label_column}' and one row per image or volume)"
        )
    columns = set(rows[0])
    if "path" not in columns:
        raise DataError(f"{csv_path}: no 'path' column (columns: {sorted(c for c in columns if c)})")
    return rows


def _array_ref(row: dict) -> tuple[str, str] | None:
    """``(source, item id)`` of a manifest row that points into an ``.npz`` (``x.npz#train/000012`` or an
    ``index`` column), else None."""
    raw = (row.get("path") or "").strip()
    index = (row.get("index") or "").strip()
    if "#" in raw:
        src, ref = raw.split("#", 1)
        return src, ref
    if index:
        return raw, index
    return None


def _contained(csv_path: Path, raw: str, p: Path, n: int, contain: bool) -> None:
    """With ``data.contain_paths=true`` a CSV may only name files inside its own folder."""
    if not contain:
        return
    root = csv_path.parent.resolve()
    if Path(raw).expanduser().is_absolute() or not p.resolve().is_relative_to(root):
        raise DataError(f"{csv_path}: row {n} points to {raw}, outside the CSV's folder {root} "
                        "(data.contain_paths=true)")


def _catalog_csv(csv_path: Path, label_column: str, orientation: str | None, strict: bool = True,
                 contain: bool = False) -> Catalog:
    rows = _read_csv_rows(csv_path, label_column)
    refs = [_array_ref(r) for r in rows]
    if any(r is not None for r in refs):
        if any(r is None for r in refs):
            n = 2 + next(i for i, r in enumerate(refs) if r is None)
            raise DataError(f"{csv_path}: row {n} is a file but other rows point into an .npz; use one kind")
        return _catalog_array_manifest(csv_path, rows, refs, label_column, strict, contain)
    columns = set(rows[0])
    paths, ids, values, splits, subjects, errors = [], [], [], [], [], {}
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        raw = (row.get("path") or "").strip()
        if not raw:
            raise DataError(f"{csv_path}: row {n} has an empty path")
        p = Path(raw).expanduser()
        p = p if p.is_absolute() else csv_path.parent / p
        _contained(csv_path, raw, p, n, contain)
        if not p.is_file():
            if strict:
                raise DataError(f"{csv_path}: row {n} points to {raw}, which does not exist")
            errors[len(paths)] = f"row {n}: {raw} does not exist"
        elif file_suffix(p) not in _FOLDER_SUFFIXES:
            raise DataError(f"{csv_path}: row {n} points to {raw}, an unsupported file type")
        paths.append(p)
        ids.append(raw)
        label = (row.get(label_column) or "").strip()
        values.append(label or None)
        splits.append(_row_split(csv_path, n, row))
        subjects.append((row.get("subject") or "").strip() or raw)
    dup = [i for i, c in Counter(ids).items() if c > 1]
    if dup:
        raise DataError(f"{csv_path}: path {dup[0]} is listed more than once")
    if any(s is not None for s in splits) and any(s is None for s in splits):
        raise DataError(f"{csv_path}: column 'split' is empty in some rows; fill it in every row or in none")
    labels, class_names = _encode_labels(values)
    if strict:
        _check_labels(labels, f"{csv_path} column '{label_column}'", class_names)
    has_subject = "subject" in columns
    return _file_catalog(
        "nifti_csv",
        csv_path,
        paths,
        ids,
        labels,
        class_names,
        splits,
        subjects if has_subject else None,
        orientation,
        errors if not strict else None,
    )


def _row_split(csv_path: Path, n: int, row: dict) -> str | None:
    split = (row.get("split") or "").strip().lower()
    if split and split not in SPLIT_ALIASES:
        raise DataError(f"{csv_path}: row {n} has unknown split '{split}' (use train, val or test)")
    return SPLIT_ALIASES[split] if split else None


def _catalog_array_manifest(
    csv_path: Path, rows: list[dict], refs: list[tuple[str, str]], label_column: str, strict: bool = True,
    contain: bool = False,
) -> Catalog:
    """A manifest whose rows point at items of ``.npz`` files (``source.npz#split/index``).

    Labels are the label column's class names, in the class order of the source (so a manifest of a
    MedMNIST file keeps its label indices); rows with an empty label take the source's label.
    """
    sources: dict[str, Catalog] = {}
    index_of: dict[str, dict[str, int]] = {}
    picks, ids, values, splits, subjects = [], [], [], [], []
    for n, (row, (src, ref)) in enumerate(zip(rows, refs), start=2):
        if src not in sources:
            if src.startswith("builtin:"):
                path, name = resolve_path(src), src.split(":", 1)[1]
            else:
                path, name = Path(src).expanduser(), None
                path = path if path.is_absolute() else csv_path.parent / path
                _contained(csv_path, src, path, n, contain)
            if not path.is_file() or path.suffix.lower() != ".npz":
                raise DataError(f"{csv_path}: row {n} points into {src}, which is not an existing .npz file")
            sources[src] = _catalog_npz(path, name)
            index_of[src] = {i: k for k, i in enumerate(sources[src].ids)}
        k = index_of[src].get(ref)
        if k is None:
            raise DataError(f"{csv_path}: row {n}: {src} has no item '{ref}' (ids look like 'train/000012')")
        cat = sources[src]
        picks.append((src, k))
        ids.append(f"{src}#{ref}")
        label = (row.get(label_column) or "").strip()
        if not label and cat.labels[k] >= 0:
            label = cat.class_names[cat.labels[k]]
        values.append(label or None)
        splits.append(_row_split(csv_path, n, row))
        subjects.append((row.get("subject") or "").strip() or ids[-1])
    dup = [i for i, c in Counter(ids).items() if c > 1]
    if dup:
        raise DataError(f"{csv_path}: item {dup[0]} is listed more than once")
    if any(s is not None for s in splits) and any(s is None for s in splits):
        raise DataError(f"{csv_path}: column 'split' is empty in some rows; fill it in every row or in none")
    first = next(iter(sources.values()))
    for src, cat in sources.items():
        if cat.arrays.shape[1:] != first.arrays.shape[1:]:
            raise DataError(
                f"{csv_path}: {src} holds images of shape {cat.arrays.shape[1:]}, others {first.arrays.shape[1:]}"
            )
    arrays = np.stack([sources[src].arrays[k] for src, k in picks])
    names = first.class_names
    if all(v is None or v in names for v in values) and all(c.class_names == names for c in sources.values()):
        labels = np.array([names.index(v) if v is not None else -1 for v in values], dtype=np.int64)
        class_names = list(names)
    else:
        labels, class_names = _encode_labels(values)
    if strict:
        _check_labels(labels, f"{csv_path} column '{label_column}'", class_names)
    spatial = first.shapes[0]
    return Catalog(
        format="manifest", source=str(csv_path), spatial_dims=len(spatial), class_names=class_names, ids=ids,
        labels=labels, splits=splits, subjects=subjects if "subject" in rows[0] else None,
        shapes=[tuple(spatial)] * len(ids), arrays=arrays, rgb=first.rgb,
    )  # fmt: skip


def _file_catalog(
    fmt: str,
    source: Path,
    paths: list[Path],
    ids: list[str],
    labels: np.ndarray,
    class_names: list[str],
    splits: list[str | None],
    subjects: list[str] | None,
    orientation: str | None,
    errors: dict[int, str] | None = None,
) -> Catalog:
    """``errors`` (a dict, strict=False) collects unreadable files instead of raising; their shape is ()."""
    from medfx.utils.limits import available_memory, fmt_bytes

    shapes = []
    budget = None
    for i, p in enumerate(paths):
        if errors is not None and i in errors:
            shapes.append(())
            continue
        try:
            shape = read_header_shape(p, orientation)
        except DataError as exc:
            if errors is None:
                raise
            errors[i] = str(exc).removeprefix(f"{p}: ")
            shapes.append(())
            continue
        except Exception as exc:
            if errors is None:
                raise DataError(f"{p}: cannot read image header ({_one_line(exc)})") from exc
            errors[i] = f"cannot read image header ({_one_line(exc)})"
            shapes.append(())
            continue
        problem = None
        if any(d <= 0 for d in shape):
            problem = f"image of shape {shape} has a zero-length axis"
        nbytes = float(np.prod(shape, dtype=np.float64)) * 4  # decoded as float32
        if problem is None and nbytes > 256e6:  # only big declared sizes are worth a look at the memory budget
            budget = available_memory() // 4 if budget is None else budget
            if nbytes > budget:
                problem = (f"header declares {'x'.join(map(str, shape))} voxels ({fmt_bytes(nbytes)} as float32), "
                           f"more than the {fmt_bytes(budget)} medfx allows one image here (a quarter of the "
                           "available memory)")
        if problem is not None:
            if errors is None:
                raise DataError(f"{p}: {problem}")
            errors[i] = problem
            shapes.append(())
            continue
        shapes.append(shape)
    ok = [s for i, s in enumerate(shapes) if not errors or i not in errors]
    if not ok:
        raise DataError(f"{source}: none of the {len(paths)} files can be read")
    dims = Counter(len(s) for s in ok)
    if set(dims) - {2, 3}:
        bad = next(p for p, s in zip(paths, shapes) if s and len(s) not in (2, 3))
        raise DataError(f"{bad}: image of shape {read_header_shape(bad)} is neither 2D nor 3D")
    if len(dims) > 1:
        minority = min(dims, key=lambda d: dims[d])
        bad = next(p for p, s in zip(paths, shapes) if len(s) == minority)
        raise DataError(f"{bad}: mixed 2D and 3D inputs ({dims[2]} 2D, {dims[3]} 3D files under {source})")
    return Catalog(
        format=fmt, source=str(source), spatial_dims=len(ok[0]), class_names=class_names, ids=ids,
        labels=labels, splits=splits, subjects=subjects, shapes=shapes, paths=paths, errors=errors,
    )  # fmt: skip


def build_catalog(cfg: DataConfig, check_sizes: bool = True, strict: bool = True,
                  load_images: bool = True) -> Catalog:
    """Read ids, labels, splits and native shapes of ``cfg.path`` without decoding images.

    ``check_sizes`` rejects non-uniform native sizes when ``cfg.size`` is None. ``strict=False`` (used by
    ``medfx data check``) records unreadable or missing files in ``Catalog.errors`` instead of raising,
    and accepts single-class data. ``load_images=False`` reads an ``.npz`` from its headers only (``arrays``
    stays None): what ``medfx data info`` needs, in bounded memory.
    """
    path = resolve_path(cfg.path)
    fmt = detect_format(path) if cfg.format == "auto" else cfg.format
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if fmt == "npz":
        name = cfg.path.split(":", 1)[1] if cfg.path.startswith("builtin:") else None
        cat = _catalog_npz(path, name, strict, load_images=load_images)
    elif fmt == "folder":
        if not path.is_dir():
            raise DataError(f"{path}: format 'folder' needs a directory")
        cat = _catalog_folder(path, cfg.orientation, strict)
    else:
        cat = _catalog_csv(path, cfg.label_column, cfg.orientation, strict, cfg.contain_paths)
    if cfg.size is not None and len(cfg.size) != cat.spatial_dims:
        raise DataError(f"{path}: DataConfig.size {cfg.size} does not match the {cat.spatial_dims}D images")
    if cat.spatial_dims == 2 and (cfg.orientation is not None or cfg.spacing is not None):
        raise DataError(f"{path}: orientation and spacing apply to volumes only, but the images are 2D")
    if cfg.size is None and check_sizes:
        sizes = Counter(s for s in cat.shapes if s)
        if len(sizes) > 1:
            common = sizes.most_common(1)[0][0]
            i = next(i for i, s in enumerate(cat.shapes) if s != common)
            where = cat.paths[i] if cat.paths is not None else f"{path} sample {cat.ids[i]}"
            raise DataError(
                f"{where}: size {cat.shapes[i]} differs from {common} ({len(sizes)} sizes found); "
                "set DataConfig.size to resize"
            )
    return cat


# ----------------------------------------------------------------------------------------------
# Datasets


class ImageDataset(Dataset):
    """Common attributes of medfx datasets; items are ``(image [1, *spatial], label, sample_id)``."""

    def __init__(
        self,
        source: str,
        spatial_dims: int,
        class_names: list[str],
        labels: np.ndarray,
        ids: list[str],
        subjects: list[str] | None,
        image_size: tuple[int, ...],
    ) -> None:
        self.source = source  # file or folder the data came from
        self.spatial_dims = spatial_dims  # 2 or 3
        self.class_names = list(class_names)  # shared by all splits of one source
        self.labels = np.asarray(labels, dtype=np.int64)  # -1 = unlabelled
        self.ids = list(ids)  # unique within the source
        self.subjects = subjects  # patient / subject of each item, or None
        self.image_size = tuple(image_size)  # spatial shape of every returned image

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(source={self.source!r}, n={len(self)}, spatial_dims={self.spatial_dims}, "
            f"image_size={self.image_size}, classes={self.class_names})"
        )


class ArrayDataset(ImageDataset):
    """Images preprocessed once and held in memory as ``images [N, 1, *spatial]`` float32."""

    def __init__(self, images: torch.Tensor, **kwargs) -> None:
        super().__init__(image_size=tuple(images.shape[2:]), **kwargs)
        self.images = images

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        return self.images[i], int(self.labels[i]), self.ids[i]


class FileDataset(ImageDataset):
    """Images read from files and preprocessed on access; decoding errors become ``DataError``."""

    def __init__(self, paths: list[Path], cfg: DataConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.paths = list(paths)
        self.cfg = cfg

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        return self.preprocess(self.decode(i), i), int(self.labels[i]), self.ids[i]

    def decode(self, i: int) -> torch.Tensor:
        """Item ``i`` as read from its file (``data.orientation`` / ``data.spacing`` applied), before resizing and
        intensity scaling: ``[1, *spatial]``, checked for dimensionality and finite values."""
        path, cfg = self.paths[i], self.cfg
        try:
            x = read_image(path, cfg.orientation, cfg.spacing)
        except Exception as exc:
            raise DataError(f"{path}: cannot load image ({_one_line(exc)})") from exc
        if x.ndim - 1 != self.spatial_dims:
            raise DataError(f"{path}: expected a {self.spatial_dims}D image, got shape {tuple(x.shape[1:])}")
        if not torch.isfinite(x).all():
            raise DataError(f"{path}: image has NaN or Inf values")
        return x

    def preprocess(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """A decoded item (:meth:`decode`) resized and scaled like every item of this dataset."""
        path, cfg = self.paths[i], self.cfg
        try:
            x = preprocess_batch(
                x, cfg.size, cfg.resize_mode, cfg.intensity, cfg.percentiles, cfg.intensity_range
            )
        except Exception as exc:
            raise DataError(f"{path}: cannot preprocess image ({_one_line(exc)})") from exc
        if tuple(x.shape[1:]) != self.image_size:
            raise DataError(f"{path}: image size {tuple(x.shape[1:])} differs from {self.image_size}")
        return x


def _preprocess_arrays(cat: Catalog, index: np.ndarray, cfg: DataConfig) -> torch.Tensor:
    """Vectorised preprocessing of the selected npz images -> ``[n, 1, *spatial]`` float32."""
    out = []
    for start in range(0, len(index), _NPZ_CHUNK):
        raw = cat.arrays[index[start : start + _NPZ_CHUNK]]
        x = rgb_to_grey(raw) if cat.rgb else raw.astype(np.float32)
        x = preprocess_batch(
            torch.from_numpy(x),
            cfg.size,
            cfg.resize_mode,
            cfg.intensity,
            cfg.percentiles,
            cfg.intensity_range,
        )
        out.append(x)
    return torch.cat(out)[:, None].contiguous()


def make_dataset(cat: Catalog, index: np.ndarray, cfg: DataConfig) -> ImageDataset:
    """Dataset over the catalogue items ``index`` (kept in that order)."""
    index = np.asarray(index, dtype=np.int64)
    if len(index) == 0:
        raise DataError(f"{cat.source}: empty dataset (no items selected)")
    meta = {
        "source": cat.source,
        "spatial_dims": cat.spatial_dims,
        "class_names": cat.class_names,
        "labels": cat.labels[index],
        "ids": [cat.ids[i] for i in index],
        "subjects": [cat.subjects[i] for i in index] if cat.subjects is not None else None,
    }
    if cat.arrays is not None:
        return ArrayDataset(_preprocess_arrays(cat, index, cfg), **meta)
    image_size = cfg.size if cfg.size is not None else cat.shapes[index[0]]
    return FileDataset([cat.paths[i] for i in index], cfg, image_size=image_size, **meta)


def load_dataset(cfg: DataConfig) -> ImageDataset:
    """All items of ``cfg.path`` in one dataset, ignoring any split."""
    cat = build_catalog(cfg)
    return make_dataset(cat, np.arange(len(cat.ids)), cfg)


def validate(ds: ImageDataset, on_decoded=None) -> None:
    """Load every item once; raise ``DataError`` naming the first bad file.

    ``on_decoded(path, image)``: for a dataset read from files, called with every decoded image before it is
    preprocessed (``medfx run`` hashes it there for the data check, so each file is decoded once at start-up).
    (Thread settings are the caller's: library code does not change torch's thread pool.)
    """
    channels = getattr(ds, "channels", 1)  # 1, or the latent channels of an encoded dataset
    files = on_decoded is not None and isinstance(ds, FileDataset)
    for i in range(len(ds)):
        if files:
            raw = ds.decode(i)
            on_decoded(ds.paths[i], raw)
            x, sample_id = ds.preprocess(raw, i), ds.ids[i]
        else:
            x, _, sample_id = ds[i]
        if tuple(x.shape) != (channels, *ds.image_size):
            raise DataError(
                f"{sample_id}: image shape {tuple(x.shape)} differs from {(channels, *ds.image_size)}"
            )
        if not torch.isfinite(x).all():
            raise DataError(f"{sample_id}: image has NaN or Inf values after preprocessing")


def make_loader(
    ds: Dataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    drop_last: bool = False,
    sampler: Sampler | None = None,
) -> DataLoader:
    """``DataLoader`` with a seeded generator; batches are ``(images, labels, ids)``."""
    if sampler is not None and shuffle:
        raise ValueError("make_loader: pass either shuffle=True or a sampler, not both")
    generator = torch.Generator().manual_seed(int(seed))
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=generator,
        persistent_workers=False,
    )
