"""Sample a trained medfx diffusion checkpoint into image files, and read such folders back.

:func:`plan_generation` resolves what a checkpoint generates and :meth:`Generation.batches` samples it (values
only). ``medfx.workflows.generate.generate_to_dir`` writes the samples into a folder::

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
classes were generated, which a plain folder read cannot).

Under ``torchrun`` (``dist=``) the batches are dealt out over the ranks and rank 0 gets every image, those of one
process (each sample stays in the batch it has there), whatever the number of ranks.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import DataConfig, DataError, FileDataset, ImageDataset
from ..data.datasets import SPLIT_ALIASES, build_catalog
from ..data.transforms import read_header_shape
from ..diffusion.samplers import sample_images
from ..diffusion.schedule import DiffusionConfig
from ..metrics import FeatureStats, compute_features, coverage, frechet_distance, precision_recall
from ..models.checkpoint import load_backbone, stored_config
from ..utils.dataclass_io import from_dict
from ..utils.distributed import batch_ranges, gather_round, rounds
from ..utils.hardware import backbone_probe, decide_precision, decide_precision_distributed
from ..utils.progress import progress_bar
from ..utils.runtime import resolve_device

logger = logging.getLogger("medfx")

MANIFEST = "manifest.csv"
INFO_FILE = "generation.json"
NIFTI_CSV = "volumes.csv"
GRID_FILE = "grid.png"
UNCONDITIONAL_DIR = "images"


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


@dataclass
class Generation:
    """What :func:`plan_generation` resolved: the model, the label of every sample (generation order) and how
    they are drawn. :meth:`batches` samples them; writing files is the workflow's (``medfx.workflows.generate``)."""

    ckpt_path: str
    ckpt: dict
    model: torch.nn.Module
    diffusion: DiffusionConfig
    data_cfg: DataConfig | None
    shape: tuple[int, ...]  # [C, *spatial]
    labels: list[int | None]
    class_names: list[str]  # empty for an unconditional model
    folders: list[str]  # one safe folder name per class
    low: float  # the model's data range (clip range and file scaling)
    high: float
    decision: object  # PrecisionDecision of the sampling network
    device: torch.device
    sampler: str = "ddim"
    steps: int = 50
    seed: int = 0
    guidance: float = 1.0
    batch_size: int = 32
    ema: bool = True
    latent: object = None  # latent diffusion: the autoencoder that decodes sampled latents (None: pixel space)
    image_shape: tuple[int, ...] | None = None  # [C, *spatial] of the decoded images (default: ``shape``)

    def __post_init__(self):
        if self.image_shape is None:
            self.image_shape = tuple(self.shape)

    @property
    def num_classes(self) -> int | None:
        return self.model.num_classes

    def batches(self, progress: bool = False, dist=None):
        """Yield ``(start, images [B, C, *spatial] on the CPU, labels, seeds)``; sample ``i`` uses seed
        ``seed + i``, so the images do not depend on the batch size.

        ``dist`` (a ``DistInfo`` of an initialised process group): the batches are dealt out over the ranks
        (``medfx.utils.distributed``) and rank 0 yields every batch in order, bitwise what one process yields;
        the other ranks yield nothing but must run the generator to its end (they take part in every round)."""
        ranges = batch_ranges(len(self.labels), self.batch_size)
        bar = None
        if progress and (dist is None or dist.is_main):
            bar = progress_bar(total=len(ranges), desc="sampling", unit="batch")
        for rnd in rounds(len(ranges), dist):
            imgs, err = None, None
            if rnd.mine is not None:
                try:
                    imgs = self._sample(*ranges[rnd.mine]).numpy()
                except Exception as e:  # noqa: BLE001 - reported to every rank by gather_round
                    err = e
            got = gather_round(imgs, dist, err, "sampling")
            for b, x in zip(rnd.batches, got or []):  # rank 0 only
                start, stop = ranges[b]
                yield start, torch.from_numpy(x), self.labels[start:stop], [self.seed + i for i in range(start, stop)]
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()

    def _sample(self, start: int, stop: int) -> torch.Tensor:
        """Samples ``start .. stop - 1`` (seeds ``seed + i``) on the CPU."""
        batch = self.labels[start:stop]
        seeds = [self.seed + i for i in range(start, stop)]
        y = None if self.num_classes is None else torch.tensor(batch, dtype=torch.long)
        imgs = sample_images(self.model, self.diffusion, self.shape, seeds, labels=y, sampler=self.sampler,
                             steps=self.steps, guidance=self.guidance, device=self.device,
                             clip_range=(self.low, self.high) if self.latent is None else (-1e4, 1e4),
                             amp_dtype=self.decision.dtype).cpu()  # latents are not clipped
        if self.latent is not None:
            imgs = self.latent.decode(imgs).cpu().clamp(self.low, self.high)
        return imgs


def plan_generation(
    ckpt_path: str | Path,
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
    precision: str = "fp32",
    dist=None,
) -> Generation:
    """Load a checkpoint and resolve what to generate: ``n`` images (conditional models: labels ``i % K``) or
    ``per_class`` images per class (an int for every class, or ``{class: count}``; conditional models only).

    ``image_size`` overrides the spatial size read from the checkpoint; ``class_names`` the class names
    (default: those of the checkpoint's training data). ``precision``: fp32, bf16, fp16 (CUDA) or auto
    (``medfx.utils.hardware.decide_precision`` with a forward-only probe; under ``dist``, decided on rank 0 and
    broadcast). Every argument is checked here."""
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

    from ..models.autoencoder import latent_of_checkpoint

    latent = latent_of_checkpoint(ckpt, ckpt_path, device=dev)  # latent diffusion: sample latents, then decode
    image_shape = shape if latent is None else tuple(ckpt["extra"]["latent"]["image_shape"])
    probe = backbone_probe(model, shape, min(batch_size, 32 if len(shape) == 3 else 4), train=False) \
        if precision == "auto" else None
    decision = decide_precision_distributed(precision, dev, probe, dist) if dist is not None \
        else decide_precision(precision, dev, probe)
    return Generation(str(ckpt_path), ckpt, model, diffusion, data_cfg, shape, labels, names, folders, low, high,
                      decision, dev, sampler, steps, seed, guidance, batch_size, ema, latent, image_shape)


# -- reading back ------------------------------------------------------------------------------
def is_generated_dir(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_manifest(out_dir: str | Path) -> tuple[list[dict], list[str] | None]:
    """Rows of ``manifest.csv`` (class as int or None) and the model's class names (None if unconditional)."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir}: no {MANIFEST} (not a folder written by `medfx sample`)")
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
    return compute_features(ds, detector, batch_size, dist=dist)


def _fd(a: torch.Tensor, b: torch.Tensor, detector) -> float:
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
