"""Sample a trained medfx diffusion checkpoint into image files, and read such folders back.

Layout written by :func:`generate_to_dir`::

    out_dir/
      manifest.csv          # file,class,class_name,seed - one row per generated image
      generation.json       # checkpoint, sampler, steps, seed, guidance, image shape, class names
      grid.png              # preview of (at most) 64 samples
      <class_name>/000000.png ...   # conditional 2D model: a medfx image-folder dataset
      images/000000.png ...         # unconditional 2D model
      <class_name>/000000.nii.gz    # 3D volumes (float32 in the model's data range, affine of its data) ...
      volumes.csv                   # ... listed as path,label for medfx's nifti_csv format

Sample ``i`` (in generation order: classes in ascending order for ``per_class``, round-robin over classes
for ``n``) is drawn with seed ``seed + i`` and named ``{i:06d}``, so the output does not depend on the
batch size and every file can be regenerated alone. Read a generated folder back with
:func:`load_generated`, which uses the manifest (it keeps the model's class indices even when only some
classes were generated, which a plain folder read cannot). ``manifest.csv`` is written last (atomically): a
folder without it is unfinished.

Under ``torchrun`` (``dist=``) the batches are dealt out over the ranks and rank 0 writes every file: the
images are those of one process (each sample stays in the batch it has there), whatever the number of ranks.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
from pathlib import Path

import numpy as np
import torch

from ..data import DataConfig, DataError, FileDataset, ImageDataset
from ..data.datasets import SPLIT_ALIASES, build_catalog
from ..diffusion.samplers import sample_images
from ..diffusion.schedule import DiffusionConfig
from ..models.checkpoint import load_backbone
from ..utils.dataclass_io import from_dict
from ..utils.hardware import backbone_probe, decide_precision
from ..utils.images import save_grid, to_uint8
from ..utils.io import write_json
from ..utils.runtime import resolve_device

logger = logging.getLogger("medfx")

MANIFEST = "manifest.csv"
INFO_FILE = "generation.json"
NIFTI_CSV = "volumes.csv"
GRID_FILE = "grid.png"
UNCONDITIONAL_DIR = "images"
_GRID_MAX = 64


# -- what a checkpoint generates --------------------------------------------------------------
def _data_config(ckpt: dict) -> DataConfig | None:
    data = (ckpt.get("config") or {}).get("data")
    if not data:
        return None
    try:
        return from_dict(DataConfig, data)
    except ValueError as e:
        logger.warning("checkpoint data config is not readable (%s)", e)
        return None


def _data_catalog(ckpt: dict):
    """Catalogue of the checkpoint's training data, or None when it is not available here."""
    cfg = _data_config(ckpt)
    if cfg is None:
        return None
    try:
        return build_catalog(cfg, check_sizes=False)
    except (DataError, OSError) as e:
        logger.warning("training data of the checkpoint is not readable here (%s)", e)
        return None


def checkpoint_image_shape(ckpt: dict) -> tuple[int, ...]:
    """``[C, *spatial]`` of the images a checkpoint was trained on.

    From the backbone spec (U-ViT ``img_size``), else the checkpoint's ``data.size``, else the native size
    of its training data (which must then be readable here)."""
    spec = ckpt["backbone"]["config"]
    channels = int(spec.get("in_channels", 1))
    extra = ckpt.get("extra") or {}
    if extra.get("image_shape"):
        return tuple(int(s) for s in extra["image_shape"])
    if spec.get("img_size"):
        return (channels, *(int(s) for s in spec["img_size"]))
    cfg = _data_config(ckpt)
    if cfg is not None and cfg.size is not None:
        spatial = tuple(cfg.size)
    else:
        cat = _data_catalog(ckpt)
        if cat is None or not cat.shapes:
            raise ValueError(
                "cannot tell the image size of this checkpoint (no data.size in its config and its "
                "training data is not readable here); pass image_size explicitly"
            )
        spatial = tuple(cat.shapes[0])
    dims = spec.get("spatial_dims")
    if dims is not None and len(spatial) != dims:
        raise ValueError(f"checkpoint data size {spatial} does not fit a {dims}D backbone; pass image_size")
    return (channels, *spatial)


def checkpoint_class_names(ckpt: dict, num_classes: int) -> list[str]:
    """Class names of a conditional checkpoint's training data; ``"0", "1", ...`` when unknown."""
    extra = ckpt.get("extra") or {}
    names = extra.get("class_names")
    if not names:
        cat = _data_catalog(ckpt)
        names = cat.class_names if cat is not None else None
    if names and len(names) == num_classes:
        return [str(n) for n in names]
    if names:
        logger.warning(
            "checkpoint data has %d class names but the model has %d classes; using indices",
            len(names),
            num_classes,
        )
    return [str(i) for i in range(num_classes)]


def _folder_name(name: str) -> str:
    """A class name as a safe folder name, never a split name such as 'train' (read as a split)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "class"
    return f"class_{safe}" if safe.lower() in SPLIT_ALIASES else safe


def _plan(num_classes: int | None, n: int | None, per_class) -> list[int | None]:
    """The label of every sample, in generation order."""
    if num_classes is None:
        if per_class is not None:
            raise ValueError(
                "per_class needs a class-conditional model; this checkpoint is unconditional (use n)"
            )
        if n is None or n < 1:
            raise ValueError(f"n must be a positive number of images, got {n}")
        return [None] * n
    if (n is None) == (per_class is None):
        raise ValueError("give exactly one of n (split round-robin over classes) and per_class")
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be a positive number of images, got {n}")
        return [i % num_classes for i in range(n)]
    if isinstance(per_class, bool) or not isinstance(per_class, (int, dict)):
        raise TypeError(f"per_class must be an int or a dict {{class: count}}, got {per_class!r}")
    counts = {c: per_class for c in range(num_classes)} if isinstance(per_class, int) else dict(per_class)
    bad = [c for c in counts if not isinstance(c, (int, np.integer)) or not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"per_class: class {bad[0]!r} is not in 0..{num_classes - 1}")
    neg = [c for c, k in counts.items() if int(k) < 0]
    if neg:
        raise ValueError(f"per_class: negative count {counts[neg[0]]} for class {neg[0]}")
    return [int(c) for c in sorted(counts) for _ in range(int(counts[c]))]


# -- writing -----------------------------------------------------------------------------------
def generated_affine(data_cfg: DataConfig | None, shape: tuple[int, ...]) -> np.ndarray:
    """The 4x4 NIfTI affine of generated volumes: the voxel grid the model was trained on.

    Axes follow ``data.orientation`` (RAS when unset: medfx arrays are not reoriented then, and axis codes
    are unknown), voxel sizes follow ``data.spacing``, else the voxel size of the first training volume
    (reordered to the model's axes), else 1 mm; the volume centre sits at the world origin."""
    import nibabel as nib

    codes = (data_cfg.orientation if data_cfg is not None and data_cfg.orientation else "RAS")
    ornt = nib.orientations.axcodes2ornt(tuple(codes))
    spacing = None
    if data_cfg is not None and data_cfg.spacing:
        spacing = [float(v) for v in data_cfg.spacing]
    elif data_cfg is not None:
        spacing = _source_spacing(data_cfg, ornt)
    spacing = spacing or [1.0, 1.0, 1.0]
    aff = np.eye(4)
    aff[:3, :3] = 0.0
    for i in range(3):
        aff[int(ornt[i, 0]), i] = float(ornt[i, 1]) * spacing[i]
    centre = (np.asarray(shape[-3:], dtype=float) - 1) / 2
    aff[:3, 3] = -aff[:3, :3] @ centre
    return aff


def _source_spacing(data_cfg: DataConfig, target_ornt) -> list[float] | None:
    """Voxel sizes of the first training volume, on the model's axes (None when it cannot be read)."""
    try:
        import nibabel as nib

        cat = build_catalog(data_cfg, check_sizes=False)
        first = next((p for p in getattr(cat, "paths", []) or [] if str(p).endswith((".nii", ".nii.gz"))), None)
        if first is None:
            return None
        img = nib.load(str(first))
        zooms = [float(z) for z in img.header.get_zooms()[:3]]
        if data_cfg.orientation:  # source axes -> target axes
            src = nib.orientations.io_orientation(img.affine)
            tr = nib.orientations.ornt_transform(src, target_ornt)
            out = [0.0, 0.0, 0.0]
            for i in range(3):
                out[int(tr[i, 0])] = zooms[i]
            zooms = out
        return zooms
    except Exception:  # noqa: BLE001 - any unreadable source means "unknown spacing"
        return None


def _save_image(img: torch.Tensor, path: Path, low: float = -1.0, high: float = 1.0,
                affine: np.ndarray | None = None) -> None:
    """``[C, *spatial]`` with values in [low, high] (the model's data range) -> PNG (2D, uint8, low -> 0,
    high -> 255) or NIfTI (3D, float32 values as generated, ``affine`` or identity)."""
    if img.ndim == 3:
        from PIL import Image

        arr = to_uint8(img, low, high)
        if arr.shape[0] == 1:
            Image.fromarray(arr[0], mode="L").save(path)
        elif arr.shape[0] == 3:
            Image.fromarray(np.moveaxis(arr, 0, -1), mode="RGB").save(path)
        else:
            raise ValueError(f"cannot write a {arr.shape[0]}-channel image as PNG (1 or 3 channels)")
    else:
        import nibabel as nib

        vol = img.detach().float().cpu().numpy()
        vol = vol[0] if vol.shape[0] == 1 else np.moveaxis(vol, 0, -1)
        nib.save(nib.Nifti1Image(vol.astype(np.float32), np.eye(4) if affine is None else affine), str(path))


def _prepare_out_dir(out_dir: Path) -> None:
    from ..utils.errors import OutputError
    from ..utils.fs import MARKER, claim_dir

    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is a file, not a folder; choose another output folder")
    if out_dir.exists() and any(p.name != MARKER for p in out_dir.iterdir()):
        raise OutputError(
            f"{out_dir}: output folder exists and is not empty; choose another one (generated "
            "folders are read as datasets, so they are never mixed with older files)"
        )
    claim_dir(out_dir, "sample output folder")


def generate_to_dir(ckpt_path: str | Path, out_dir: str | Path, *args, dist=None, **kwargs) -> Path | None:
    """Sample a checkpoint into ``out_dir`` (see ``_generate_to_dir``), holding the folder's lock meanwhile.

    ``dist`` (a ``DistInfo`` of an initialised process group): every rank calls this with the same arguments and
    samples its share of the batches; rank 0 alone locks and writes the folder (the same files as one process)
    and returns the manifest, the other ranks return ``None``."""
    import contextlib

    from ..utils.fs import locked

    with contextlib.ExitStack() as stack:
        if dist is None or dist.is_main:
            stack.enter_context(locked(Path(out_dir), "sample output folder"))
        return _generate_to_dir(ckpt_path, out_dir, *args, dist=dist, **kwargs)


def _generate_to_dir(
    ckpt_path: str | Path,
    out_dir: str | Path,
    n: int | None = None,
    per_class: dict[int, int] | int | None = None,
    sampler: str = "ddim",
    steps: int = 50,
    seed: int = 0,
    guidance: float = 1.0,
    batch_size: int = 32,
    device: str = "auto",
    ema: bool = True,
    image_size: tuple[int, ...] | None = None,
    class_names: list[str] | None = None,
    progress: bool = False,
    precision: str = "fp32",
    dist=None,
) -> Path | None:
    """Sample a checkpoint into ``out_dir`` (see the module docstring for the layout); returns the manifest.

    ``n`` images (conditional models: labels ``i % K``) or ``per_class`` images per class (an int for every
    class, or ``{class: count}``; conditional models only). Sample ``i`` uses seed ``seed + i``.
    ``image_size`` overrides the spatial size read from the checkpoint; ``class_names`` the class names
    (default: those of the checkpoint's training data). ``out_dir`` must be new or empty. ``precision``: fp32,
    bf16, fp16 (CUDA) or auto (``medfx.utils.hardware.decide_precision`` with a forward-only probe)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    model, ckpt = load_backbone(ckpt_path, ema=ema, device=dev)
    k = model.num_classes
    labels = _plan(k, n, per_class)
    if k is None and guidance != 1.0:
        raise ValueError(
            f"guidance={guidance} needs a class-conditional model; this checkpoint is unconditional"
        )
    from ..models.checkpoint import stored_config

    diffusion = from_dict(DiffusionConfig, stored_config(ckpt, ckpt_path)["diffusion"], prefix="diffusion.")
    data_cfg = _data_config(ckpt)
    low, high = (float(v) for v in (data_cfg.intensity_range if data_cfg is not None else (-1.0, 1.0)))
    shape = (
        checkpoint_image_shape(ckpt)
        if image_size is None
        else (int(ckpt["backbone"]["config"].get("in_channels", 1)), *(int(s) for s in image_size))
    )
    if k is not None:
        names = list(class_names) if class_names is not None else checkpoint_class_names(ckpt, k)
        if len(names) != k:
            raise ValueError(f"class_names has {len(names)} entries, the model has {k} classes")
        folders = [_folder_name(c) for c in names]
        if len(set(folders)) != k:
            raise ValueError(f"class names {names} do not give distinct folder names")
    else:
        names, folders = [], []

    probe = backbone_probe(model, shape, min(batch_size, 32 if len(shape) == 3 else 4), train=False) \
        if precision == "auto" else None
    from ..utils.distributed import agree, batch_ranges, gather_round, rounds
    from ..utils.hardware import decide_precision_distributed

    decision = decide_precision_distributed(precision, dev, probe, dist) if dist is not None \
        else decide_precision(precision, dev, probe)
    logger.info("sampling precision: %s", decision)
    main = dist is None or dist.is_main
    out_dir = Path(out_dir)
    suffix = ".png" if len(shape) == 3 else ".nii.gz"
    affine = generated_affine(data_cfg, shape) if suffix == ".nii.gz" else None
    err = None
    if main:
        try:
            _prepare_out_dir(out_dir)
            for f in {UNCONDITIONAL_DIR if c is None else folders[c] for c in labels}:
                (out_dir / f).mkdir()
        except Exception as e:  # noqa: BLE001 - every rank learns of it before anyone waits
            err = e
    agree(dist, err, "sampling set-up")
    rows: list[dict] = []
    grid: list[torch.Tensor] = []
    grid_per_class = math.ceil(_GRID_MAX / (k or 1))
    shown: dict[int | None, int] = {}
    batches = batch_ranges(len(labels), batch_size)
    bar = None
    if progress and main:
        from ..utils.progress import progress_bar

        bar = progress_bar(total=len(batches), desc="sampling", unit="batch")
    logger.info(
        "sampling %d images of shape %s with %s-%d (seed %d) into %s%s",
        len(labels),
        shape,
        sampler,
        steps,
        seed,
        out_dir,
        f" on {dist.world_size} ranks" if dist is not None and dist.enabled else "",
    )
    for rnd in rounds(len(batches), dist):  # sample i: seed + i, in the batch it has in one process
        imgs, err = None, None
        if rnd.mine is not None:
            start, stop = batches[rnd.mine]
            try:
                y = None if k is None else torch.tensor(labels[start:stop], dtype=torch.long)
                imgs = sample_images(
                    model,
                    diffusion,
                    shape,
                    [seed + i for i in range(start, stop)],
                    labels=y,
                    sampler=sampler,
                    steps=steps,
                    guidance=guidance,
                    device=dev,
                    clip_range=(low, high),
                    amp_dtype=decision.dtype,
                ).cpu().numpy()
            except Exception as e:  # noqa: BLE001 - reported to every rank by gather_round
                err = e
        got = gather_round(imgs, dist, err, "sampling")
        if got is None:  # not rank 0
            continue
        for b, batch_imgs in zip(rnd.batches, got):
            start = batches[b][0]
            for j, img in enumerate(torch.from_numpy(batch_imgs)):
                i, c = start + j, labels[start + j]
                rel = f"{folders[c] if c is not None else UNCONDITIONAL_DIR}/{i:06d}{suffix}"
                _save_image(img, out_dir / rel, low, high, affine)
                rows.append(
                    {
                        "file": rel,
                        "class": "" if c is None else c,
                        "class_name": "" if c is None else names[c],
                        "seed": seed + i,
                    }
                )
                if shown.get(c, 0) < grid_per_class and len(grid) < _GRID_MAX:
                    shown[c] = shown.get(c, 0) + 1
                    grid.append(img)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    if not main:
        return None
    if suffix == ".nii.gz":
        with open(out_dir / NIFTI_CSV, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label"])
            w.writerows([r["file"], r["class_name"]] for r in rows)
    if grid:
        save_grid(torch.stack(grid), out_dir / GRID_FILE, low=low, high=high)
    info = {
        "checkpoint": str(ckpt_path),
        "step": int(ckpt.get("step", 0)),
        "ema": ema,
        "sampler": sampler,
        "steps": steps,
        "seed": seed,
        "guidance": guidance,
        "precision": decision.to_dict(),
        "image_shape": list(shape),
        "intensity_range": [low, high],
        "affine": affine.tolist() if affine is not None else None,
        "class_names": names if k is not None else None,
        "n": len(rows),
        "counts": {names[c]: labels.count(c) for c in range(k)} if k is not None else None,
    }
    write_json(out_dir / INFO_FILE, info)
    tmp = out_dir / f".{MANIFEST}.tmp"  # the manifest comes last and whole: it marks a finished folder
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "class", "class_name", "seed"])
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out_dir / MANIFEST)
    return out_dir / MANIFEST


# -- reading back ------------------------------------------------------------------------------
def is_generated_dir(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_manifest(out_dir: str | Path) -> tuple[list[dict], list[str] | None]:
    """Rows of ``manifest.csv`` (class as int or None) and the model's class names (None if unconditional)."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir}: no {MANIFEST} (not a folder written by generate_to_dir)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"file", "class", "class_name", "seed"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: missing columns {sorted(missing)}")
        rows = [
            {
                "file": r["file"],
                "class": int(r["class"]) if r["class"] != "" else None,
                "class_name": r["class_name"] or None,
                "seed": int(r["seed"]),
            }
            for r in reader
        ]
    names = None
    info = out_dir / INFO_FILE
    if info.is_file():
        names = json.loads(info.read_text()).get("class_names")
    if names is None and any(r["class"] is not None for r in rows):
        top = max(r["class"] for r in rows if r["class"] is not None)
        by_index = {r["class"]: r["class_name"] for r in rows if r["class"] is not None}
        names = [by_index.get(c) or str(c) for c in range(top + 1)]
    return rows, names


def load_generated(out_dir: str | Path, data_cfg: DataConfig | None = None) -> ImageDataset:
    """A generated folder as a medfx dataset: items ``(image, label, "<file>")``, labels the model's classes.

    Images are preprocessed like files of ``data_cfg`` (size, intensity scaling; default: native size,
    min-max to [-1, 1])."""
    out_dir = Path(out_dir)
    rows, names = read_manifest(out_dir)
    if not rows:
        raise DataError(f"{out_dir}: the manifest lists no images")
    cfg = DataConfig(path=str(out_dir)) if data_cfg is None else data_cfg
    paths = [out_dir / r["file"] for r in rows]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{out_dir}: {len(missing)} files of the manifest are missing (e.g. {missing[0]})")
    if cfg.size is not None:
        size = tuple(cfg.size)
    else:
        from ..data.transforms import read_header_shape

        size = read_header_shape(paths[0])
    labels = np.array([-1 if r["class"] is None else r["class"] for r in rows], dtype=np.int64)
    return FileDataset(
        paths,
        cfg,
        source=str(out_dir),
        spatial_dims=len(size),
        class_names=names or [],
        labels=labels,
        ids=[r["file"] for r in rows],
        subjects=None,
        image_size=size,
    )


# -- comparing real and generated images -------------------------------------------------------
def _features(ds, detector, batch_size: int, dist=None) -> torch.Tensor | None:
    from ..metrics import compute_features

    return compute_features(ds, detector, batch_size, dist=dist)


def _fd(a: torch.Tensor, b: torch.Tensor, detector) -> float:
    from ..metrics import FeatureStats, frechet_distance

    if a.shape[0] < 2 or b.shape[0] < 2:
        return math.nan

    def stats(f):
        return FeatureStats(detector.feature_dim, detector=detector.name).update(f)

    return frechet_distance(stats(a), stats(b))


def compare_image_sets(
    real: ImageDataset,
    fake: ImageDataset,
    detector,
    per_class: bool = False,
    k: int = 3,
    batch_size: int = 64,
    dist=None,
) -> dict | None:
    """Fréchet distance (under ``detector.fd_label``), k-NN precision / recall / coverage and, with
    ``per_class``, the distance per class (classes matched by name; NaN below 2 images of a class).

    Returns a JSON-friendly dict: ``{"detector", "fd_label", "fd", "n_real", "n_fake", "precision",
    "recall", "coverage", "k", "per_class": {name: {"fd", "n_real", "n_fake"}}}`` (precision etc. None
    when a set has no more than ``k`` images). ``dist`` (a ``DistInfo``): the detector features are computed
    sharded over the ranks and gathered on rank 0 (bitwise those of one process), which alone computes the
    metrics; other ranks return ``None``."""
    from ..metrics import coverage, precision_recall

    real_f = _features(real, detector, batch_size, dist)
    fake_f = _features(fake, detector, batch_size, dist)
    if real_f is None:  # a rank other than 0
        return None
    out = {
        "detector": detector.name,
        "fd_label": detector.fd_label,
        "fd": _fd(real_f, fake_f, detector),
        "n_real": int(real_f.shape[0]),
        "n_fake": int(fake_f.shape[0]),
        "k": k,
        "precision": None,
        "recall": None,
        "coverage": None,
        "per_class": None,
    }
    if min(real_f.shape[0], fake_f.shape[0]) > k:
        out.update(precision_recall(real_f, fake_f, k=k))
        out["coverage"] = coverage(real_f, fake_f, k=k)
    else:
        logger.warning("precision / recall / coverage need more than k=%d images per set; skipped", k)
    if per_class:
        real_y, fake_y = np.asarray(real.labels), np.asarray(fake.labels)
        if (real_y < 0).any() or (fake_y < 0).any():
            raise ValueError("per-class distances need labels for every real and generated image")
        real_names, fake_names = list(real.class_names), list(fake.class_names)
        unknown = sorted({fake_names[c] for c in np.unique(fake_y)} - set(real_names))
        if unknown:
            raise ValueError(f"generated classes {unknown} are not among the real classes {real_names}")
        fake_y = np.array([real_names.index(fake_names[c]) for c in fake_y], dtype=np.int64)
        out["per_class"] = {}
        for c, name in enumerate(real_names):
            a, b = real_f[torch.from_numpy(real_y == c)], fake_f[torch.from_numpy(fake_y == c)]
            if a.shape[0] < 2 or b.shape[0] < 2:
                logger.warning(
                    "class %s: %d real and %d generated images; a Fréchet distance needs 2 of each",
                    name,
                    a.shape[0],
                    b.shape[0],
                )
            out["per_class"][name] = {
                "fd": _fd(a, b, detector),
                "n_real": int(a.shape[0]),
                "n_fake": int(b.shape[0]),
            }
    return out
