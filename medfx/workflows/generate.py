"""``medfx sample``, ``medfx fid`` and ``medfx synthesize`` on top of :mod:`medfx.generate`, and the folders they
write (:func:`generate_to_dir`, :func:`synthesize`).

Under ``torchrun`` each command starts the process group (gloo on CPU, nccl on CUDA) and shards its batches over
the ranks; rank 0 writes and prints, with the same files and numbers as one process.

This module is imported by ``medfx --help`` (it registers the sub-command parsers, and ``medfx.config`` reads
:class:`FidConfig` from it), so imports of torch-using modules stay inside the functions that need them.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..utils.io import write_json

logger = logging.getLogger("medfx")

_DETECTORS = ("diffusion", "randconv", "inception")
_SPLITS = ("train", "val", "test", "all")
_FORMATS = ("auto", "npz", "folder", "nifti_csv")


@dataclass
class FidConfig:
    real: str | None = None  # real images: a folder, .npz, NIfTI .csv or builtin:NAME (first positional of `fid`)
    fake: str | None = None  # generated images: a folder written by `medfx sample`, or any of the above (second)
    real_split: str = "train"  # split of REAL when it has official splits: train, val, test or all
    fake_split: str = "all"  # split of FAKE when it has official splits
    format: str = "auto"  # format of REAL: auto, npz, folder, nifti_csv
    size: tuple[int, ...] | None = None  # resize both sets (default: the checkpoint's data.size, else REAL's size)
    detector: str | None = None  # diffusion, randconv or inception (default: diffusion with a checkpoint, else randconv)
    weights: str | None = None  # inception: FID Inception-v3 state dict (.pth / .safetensors), loaded as data
    trust_torchscript_code: bool = False  # inception: also accept TorchScript weights (EXECUTES the file's code)
    blocks: tuple[str, ...] = ()  # diffusion detector: backbone blocks (empty = mid)
    t: int = 0  # diffusion detector: timestep
    detector_seed: int = 0  # randconv detector: seed of its random weights
    per_class: bool = False  # also one distance per class (matched by name)
    k: int | None = None  # neighbours for precision / recall / coverage (None = 3; must be below each set's size)
    batch_size: int = 64  # images per detector batch

    def __post_init__(self):
        if self.detector is not None and self.detector not in _DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(_DETECTORS)}, got {self.detector!r}")
        for name in ("real_split", "fake_split"):
            if getattr(self, name) not in _SPLITS:
                raise ValueError(f"{name} must be one of {', '.join(_SPLITS)}, got {getattr(self, name)!r}")
        if self.format not in _FORMATS:
            raise ValueError(f"format must be one of {', '.join(_FORMATS)}, got {self.format!r}")
        if self.size is not None and (len(self.size) not in (2, 3) or min(self.size) < 1):
            raise ValueError(f"size must be 2 or 3 positive integers, got {list(self.size)}")
        if self.t < 0 or self.batch_size < 1:
            raise ValueError("t must be >= 0 and batch_size >= 1")


def _per_class_arg(text: str) -> int | dict[int, int]:
    """``"50"`` (every class) or ``"0:10,2:5"`` (class:count pairs)."""
    try:
        if ":" not in text:
            return int(text)
        pairs = [p.split(":") for p in text.split(",") if p.strip()]
        return {int(c): int(n) for c, n in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or CLASS:N[,CLASS:N...], got {text!r}") from None


def _size_arg(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 28,28 or 64x64x64, got {text!r}") from None
    if len(size) not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected 2 or 3 sizes, got {text!r}")
    return size


def _default_out(ckpt: str, name: str) -> Path:
    return Path(ckpt).resolve().parent / name


def _counts_table(names: list[str], rows: dict[str, list]) -> str:
    width = max([len("class")] + [len(n) for n in names])
    lines = [f"{'class':<{width}s}  " + "  ".join(f"{h:>9s}" for h in rows)]
    for i, n in enumerate(names):
        lines.append(f"{n:<{width}s}  " + "  ".join(f"{v[i]:>9d}" for v in rows.values()))
    return "\n".join(lines)


# -- writing generated folders -------------------------------------------------------------------
_GRID_MAX = 64  # images in grid.png


def _save_image(img, path: Path, low: float = -1.0, high: float = 1.0, affine=None) -> None:
    """``[C, *spatial]`` with values in [low, high] (the model's data range) -> PNG (2D, uint8, low -> 0,
    high -> 255) or NIfTI (3D, float32 values as generated, ``affine`` or identity)."""
    import numpy as np  # start-up: see the module docstring

    if img.ndim == 3:
        from PIL import Image

        from ..utils.images import to_uint8

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


def generate_to_dir(ckpt_path: str | Path, out_dir: str | Path, *, progress: bool = False, dist=None,
                    **kwargs) -> Path | None:
    """Sample a checkpoint into ``out_dir`` (new or empty; layout in :mod:`medfx.generate.sample`), holding the
    folder's lock meanwhile; returns the manifest. ``kwargs`` are those of
    :func:`medfx.generate.sample.plan_generation` (``n`` / ``per_class``, sampler, steps, seed, ...).

    ``dist`` (a ``DistInfo`` of an initialised process group): every rank calls this with the same arguments and
    samples its share of the batches; rank 0 alone locks and writes the folder (the same files as one process)
    and returns the manifest, the other ranks return ``None``. ``manifest.csv`` is written last, atomically: a
    folder without it is unfinished."""
    import contextlib

    from ..utils.fs import locked

    with contextlib.ExitStack() as stack:
        if dist is None or dist.is_main:
            stack.enter_context(locked(Path(out_dir), "sample output folder"))
        return _generate_to_dir(ckpt_path, Path(out_dir), progress, kwargs, dist)


def _generate_to_dir(ckpt_path, out_dir: Path, progress: bool, kwargs: dict, dist) -> Path | None:
    import torch  # start-up: see the module docstring

    from ..generate.sample import (
        GRID_FILE,
        INFO_FILE,
        MANIFEST,
        NIFTI_CSV,
        UNCONDITIONAL_DIR,
        generated_affine,
        plan_generation,
    )
    from ..utils.distributed import agree
    from ..utils.images import save_grid

    gen = plan_generation(ckpt_path, dist=dist, **kwargs)
    k, labels, names, folders, shape = gen.num_classes, gen.labels, gen.class_names, gen.folders, gen.image_shape
    logger.info("sampling precision: %s", gen.decision)
    main = dist is None or dist.is_main
    suffix = ".png" if len(shape) == 3 else ".nii.gz"
    affine = generated_affine(gen.data_cfg, shape) if suffix == ".nii.gz" else None
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
    grid: list = []
    grid_per_class = math.ceil(_GRID_MAX / (k or 1))
    shown: dict[int | None, int] = {}
    logger.info("sampling %d images of shape %s with %s-%d (seed %d) into %s%s", len(labels), shape, gen.sampler,
                gen.steps, gen.seed, out_dir, f" on {dist.world_size} ranks" if dist is not None and dist.enabled
                else "")
    for start, imgs, batch, seeds in gen.batches(progress, dist):  # on rank 0: every batch, in order
        for j, (img, c) in enumerate(zip(imgs, batch)):
            i = start + j
            rel = f"{folders[c] if c is not None else UNCONDITIONAL_DIR}/{i:06d}{suffix}"
            _save_image(img, out_dir / rel, gen.low, gen.high, affine)
            rows.append({"file": rel, "class": "" if c is None else c, "class_name": "" if c is None else names[c],
                         "seed": seeds[j]})
            if shown.get(c, 0) < grid_per_class and len(grid) < _GRID_MAX:
                shown[c] = shown.get(c, 0) + 1
                grid.append(img)
    if not main:
        return None
    if suffix == ".nii.gz":
        with open(out_dir / NIFTI_CSV, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label"])
            w.writerows([r["file"], r["class_name"]] for r in rows)
    if grid:
        save_grid(torch.stack(grid), out_dir / GRID_FILE, low=gen.low, high=gen.high)
    info = {
        "checkpoint": str(ckpt_path),
        "step": int(gen.ckpt.get("step", 0)),
        "ema": gen.ema,
        "sampler": gen.sampler,
        "steps": gen.steps,
        "seed": gen.seed,
        "guidance": gen.guidance,
        "precision": gen.decision.to_dict(),
        "image_shape": list(shape),
        "intensity_range": [gen.low, gen.high],
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


@dataclass
class SynthesisResult:
    manifest: Path | None  # manifest.csv of the generated folder (None on ranks other than 0 under torchrun)
    counts: dict[int, int]  # synthetic images per class
    real_counts: dict[int, int]  # real training images per class
    class_names: list[str]


def synthesize(ckpt_path: str | Path, data_cfg, ratio: float, out_dir: str | Path, **kwargs) -> SynthesisResult:
    """Generate, with a class-conditional checkpoint, the images that bring every class of the real training
    split of ``data_cfg`` up to ``ratio`` of the largest one (:func:`medfx.generate.rebalance_counts`), written
    by :func:`generate_to_dir` (``kwargs``: its sampling options, ``dist`` included).

    Class ``c`` of the model must be class ``c`` of ``data_cfg`` (same number of classes)."""
    from ..generate.rebalance import real_train_counts, rebalance_counts
    from ..models.checkpoint import load_checkpoint

    real, names = real_train_counts(data_cfg)
    need = rebalance_counts(real, ratio)
    spec = load_checkpoint(ckpt_path)["backbone"]["config"]
    k = spec.get("num_classes")
    if k is None:
        raise ValueError(
            f"{ckpt_path}: synthesize needs a class-conditional model; this one is unconditional"
        )
    if k != len(names):
        raise ValueError(
            f"{ckpt_path}: the model has {k} classes, {data_cfg.path} has {len(names)} ({names})"
        )
    logger.info("real training counts %s; generating %s (ratio %g)", real, need, ratio)
    image_size = tuple(data_cfg.size) if data_cfg.size is not None else None
    manifest = generate_to_dir(ckpt_path, out_dir, per_class=need, image_size=image_size, class_names=names,
                               **kwargs)
    return SynthesisResult(manifest=manifest, counts=need, real_counts=real, class_names=names)


# -- sample --------------------------------------------------------------------------------------
_SAMPLE_FLAGS = (("n", "n"), ("per_class", "per_class"), ("sampler", "sampler"), ("steps", "steps"),
                 ("guidance", "guidance"), ("batch_size", "batch_size"), ("balance", "balance"))


def _with_sample_flags(args) -> None:
    """The sampling flags are aliases of ``sample.*`` keys: append them to the config items."""
    items = list(getattr(args, "config", None) or [])
    for flag, key in _SAMPLE_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            items.append(f"sample.{key}={value!r}" if isinstance(value, str) else f"sample.{key}={value}")
    if getattr(args, "raw", False):
        items.append("sample.ema=false")
    args.config = items


def _sampling_kwargs(cfg, device=None) -> dict:
    """The sampling options shared by ``sample`` and ``synthesize`` (config section ``sample``); ``device``: this
    rank's device under torchrun (default ``run.device``)."""
    sc = cfg.sample
    return dict(sampler=sc.sampler, steps=sc.steps, seed=cfg.run.seed, guidance=sc.guidance,
                batch_size=sc.batch_size, device=str(device) if device is not None else cfg.run.device, ema=sc.ema,
                progress=True, precision=sc.precision)


def _per_class(value) -> int | dict[int, int] | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return _per_class_arg(str(value))
    except argparse.ArgumentTypeError as e:
        raise ValueError(f"sample.per_class: {e}") from None


def cmd_sample(args) -> int:
    from ..generate.sample import read_manifest

    _with_sample_flags(args)
    cfg = args.grammar.checkpoint_config(args)
    if args.dry_run:
        return args.grammar.print_config(cfg)
    sc = cfg.sample
    ckpt = cfg.run.checkpoint
    out = cfg.run.out or _default_out(ckpt, f"samples-{sc.sampler}{sc.steps}-seed{cfg.run.seed}")
    if sc.n is None and sc.per_class is None:
        raise ValueError("give --n N or --per-class N (sample.n / sample.per_class)")
    from ..utils.runtime import init_distributed

    dist, device = init_distributed(cfg.run.device)  # under torchrun: the batches are sharded over the ranks
    manifest = generate_to_dir(
        ckpt,
        out,
        n=sc.n,
        per_class=_per_class(sc.per_class),
        dist=dist,
        **_sampling_kwargs(cfg, device),
    )
    if manifest is None:  # a rank other than 0 under torchrun: rank 0 wrote the folder
        return 0
    rows, names = read_manifest(Path(manifest).parent)
    if names:
        counts = [sum(r["class"] == c for r in rows) for c in range(len(names))]
        print(_counts_table(names, {"generated": counts}))
    print(f"{len(rows)} images in {Path(manifest).parent} (manifest: {manifest})")
    return 0


# -- fid -----------------------------------------------------------------------------------------
_FID_FLAGS = ("real_split", "fake_split", "format", "size", "detector", "weights", "trust_torchscript_code",
              "blocks", "t", "detector_seed", "per_class", "k", "batch_size")
_CONFIG_ITEM = (".yaml", ".yml", ".pt", ".pth", ".safetensors")


def _with_fid_flags(args) -> None:
    """REAL and FAKE (the items that are neither ``key=value``, a config nor a checkpoint) and the flags are
    aliases of ``fid.*`` keys: append them to the config items."""
    items, paths = [], []
    for item in getattr(args, "config", None) or []:
        (items if "=" in item or item.endswith(_CONFIG_ITEM) else paths).append(item)
    if len(paths) > 2:
        raise ValueError(f"fid takes two image sets, REAL and FAKE; got {len(paths)}: {' '.join(paths)}")
    items += [f"fid.{key}={path!r}" for key, path in zip(("real", "fake"), paths)]
    for key in _FID_FLAGS:
        value = getattr(args, key, None)
        if value is None:
            continue
        if key == "blocks":
            value = [b for b in value.split(",") if b]
        items.append(f"fid.{key}={list(value) if isinstance(value, tuple) else value!r}")
    args.config = items


def _load_set(path: str, split: str, template, fmt: str):
    """A generated folder (via its manifest) or anything medfx data reads; ``split`` 'all' ignores splits.

    ``template`` is the ``DataConfig`` whose preprocessing (size, resize mode, orientation, spacing,
    intensity) both sets share: the checkpoint's own when one is known. Without official splits in the data,
    every item is used whatever ``split`` says."""
    import dataclasses

    from ..data import load_dataset, load_splits
    from ..data.datasets import build_catalog
    from ..generate.sample import is_generated_dir, load_generated

    if Path(path).is_dir() and is_generated_dir(path):
        return load_generated(path, dataclasses.replace(template, path=path, format="auto"))
    cfg = dataclasses.replace(template, path=path, format=fmt)
    if split == "all":
        return load_dataset(cfg)
    official = {s for s in build_catalog(cfg, check_sizes=False).splits if s is not None}
    if not official:
        logger.info("%s has no official splits: using all of it", path)
        return load_dataset(cfg)
    if split not in official:
        raise ValueError(
            f"{path} has no '{split}' split (it has {', '.join(sorted(official))}, or use 'all')"
        )
    return load_splits(cfg)[split]


def _fid_checkpoint(cfg) -> str | None:
    """The checkpoint whose data settings ``fid`` follows: ``--ckpt``, else the one FAKE was sampled from."""
    if cfg.run.checkpoint:
        return cfg.run.checkpoint
    info = Path(cfg.fid.fake) / "generation.json"
    if info.is_file():
        ck = json.loads(info.read_text()).get("checkpoint")
        if ck and Path(ck).is_file():
            return ck
        if ck:
            logger.warning("%s was sampled from %s, which is not readable here: default data settings", cfg.fid.fake,
                           ck)
    return None


def fid_data_config(cfg):
    """The ``DataConfig`` both sets of ``medfx fid`` are read with (see ``_load_set``): the checkpoint's own
    (``fid.size`` must agree with it unless ``provenance.allow_mismatch=true``), else defaults."""
    from ..data import DataConfig
    from ..provenance import checkpoint_data_config

    ckpt = _fid_checkpoint(cfg)
    if ckpt is None:
        return DataConfig(path=cfg.fid.real, format=cfg.fid.format, size=cfg.fid.size), None
    data = checkpoint_data_config(ckpt, {"size": cfg.fid.size}, allow_mismatch=cfg.provenance.allow_mismatch,
                                  source=ckpt, override="provenance.allow_mismatch=true")
    return data, ckpt


def _build_detector(cfg, spatial_dims: int, channels: int, input_range=(-1.0, 1.0), device=None):
    from ..metrics import InceptionDetector, RandomConvDetector, default_detector
    from ..utils.runtime import resolve_device

    fc, ckpt = cfg.fid, cfg.run.checkpoint
    kind = fc.detector or ("diffusion" if ckpt else "randconv")
    device = resolve_device(cfg.run.device) if device is None else device
    if kind == "inception":
        if not fc.weights:
            raise ValueError(
                "--detector inception needs --weights PATH (fid.weights: the FID Inception-v3 state dict "
                "pt_inception-2015-12-05-6726825d.pth; medfx never downloads weights)"
            )
        return InceptionDetector(fc.weights, input_range=tuple(input_range),
                                 allow_torchscript=fc.trust_torchscript_code).to(device)
    if kind == "randconv":
        return RandomConvDetector(spatial_dims, in_channels=channels, seed=fc.detector_seed).to(device)
    if not ckpt:
        raise ValueError("--detector diffusion needs --ckpt CKPT (the backbone whose features are compared)")
    from ..models.checkpoint import load_backbone

    backbone, ck = load_backbone(ckpt, device=device)
    if (ck.get("extra") or {}).get("latent"):
        raise ValueError(f"--detector diffusion: {ckpt} is a latent diffusion checkpoint (its U-Net reads latents, "
                         "the detector feeds images); use --detector inception or randconv")
    return default_detector(spatial_dims, backbone=backbone, blocks=list(fc.blocks) or None, t=fc.t)


def _fmt(v) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def format_fd_report(res: dict) -> str:
    """The result of ``compare_image_sets`` as a small text table."""
    label = res["fd_label"]
    lines = [
        f"detector {res['detector']}  ({label}; only the Inception detector gives FID)",
        f"{'set':<16s} {'n_real':>7s} {'n_fake':>7s} {label:>12s}",
        f"{'overall':<16s} {res['n_real']:>7d} {res['n_fake']:>7d} {_fmt(res['fd']):>12s}",
    ]
    for name, r in (res.get("per_class") or {}).items():
        lines.append(f"{name[:16]:<16s} {r['n_real']:>7d} {r['n_fake']:>7d} {_fmt(r['fd']):>12s}")
    lines.append(
        f"precision {_fmt(res['precision'])}  recall {_fmt(res['recall'])}  "
        f"coverage {_fmt(res['coverage'])}  (k={res['k']})"
    )
    return "\n".join(lines)


def cmd_fid(args) -> int:
    import dataclasses

    from ..generate.sample import compare_image_sets

    _with_fid_flags(args)
    cfg = args.grammar.load(args)
    if args.dry_run:
        return args.grammar.print_config(cfg)
    fc = cfg.fid
    if fc.real is None or fc.fake is None:
        raise ValueError("fid needs two image sets: medfx fid REAL FAKE (or fid.real=... fid.fake=...)")
    template, ckpt = fid_data_config(cfg)
    real = _load_set(fc.real, fc.real_split, template, fc.format)
    size = template.size or tuple(real.image_size)
    fake = _load_set(fc.fake, fc.fake_split, dataclasses.replace(template, size=tuple(size)), "auto")
    if real.spatial_dims != fake.spatial_dims:
        raise ValueError(f"{fc.real} is {real.spatial_dims}D but {fc.fake} is {fake.spatial_dims}D")
    n_min = min(len(real), len(fake))
    if fc.k is not None and (fc.k < 1 or fc.k >= n_min):
        from ..utils.errors import ConfigError

        raise ConfigError(f"--k {fc.k}: the k-NN precision / recall / coverage need 1 <= k < the number of images "
                          f"in each set (real {len(real)}, fake {len(fake)}); use --k {max(1, min(3, n_min - 1))}")
    channels = int(real[0][0].shape[0])
    from ..utils.runtime import init_distributed

    dist, device = init_distributed(cfg.run.device)  # under torchrun: detector features sharded over the ranks
    detector = _build_detector(cfg, real.spatial_dims, channels, template.intensity_range, device)
    res = compare_image_sets(
        real, fake, detector, per_class=fc.per_class, k=3 if fc.k is None else fc.k, batch_size=fc.batch_size,
        dist=dist,
    )
    if res is None:  # a rank other than 0 under torchrun: rank 0 reports
        return 0
    res.update(real=fc.real, fake=fc.fake, real_split=fc.real_split, image_size=list(size),
               data_settings_from=ckpt, intensity_range=list(template.intensity_range),
               resize_mode=template.resize_mode, orientation=template.orientation)
    print(format_fd_report(res))
    out = (
        Path(cfg.run.out)
        if cfg.run.out
        else (Path(fc.fake) / f"fd-{detector.name}.json" if Path(fc.fake).is_dir() else None)
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, res)
        print(f"written: {out}")
    return 0


# -- synthesize ----------------------------------------------------------------------------------
def cmd_synthesize(args) -> int:
    _with_sample_flags(args)
    if args.data:
        args.config.append(f"data.path={args.data}")
        args.config.append(f"data.format={args.format or 'auto'}")
    elif args.format:
        args.config.append(f"data.format={args.format}")
    if args.size:
        args.config.append(f"data.size={list(args.size)}")
    cfg = args.grammar.checkpoint_config(args)
    if args.dry_run:
        return args.grammar.print_config(cfg)
    balance = cfg.sample.balance
    if balance is None:
        raise ValueError("give --balance RATIO (sample.balance), the target fraction of the largest class")
    ckpt = cfg.run.checkpoint
    out = cfg.run.out or _default_out(ckpt, f"synthetic-balance{balance:g}-seed{cfg.run.seed}")
    from ..utils.runtime import init_distributed

    dist, device = init_distributed(cfg.run.device)  # under torchrun: the batches are sharded over the ranks
    res = synthesize(
        ckpt,
        cfg.data,
        balance,
        out,
        dist=dist,
        **_sampling_kwargs(cfg, device),
    )
    if res.manifest is None:  # a rank other than 0 under torchrun
        return 0
    k = len(res.class_names)
    real = [res.real_counts.get(c, 0) for c in range(k)]
    syn = [res.counts.get(c, 0) for c in range(k)]
    print(
        _counts_table(
            res.class_names, {"real": real, "synthetic": syn, "total": [a + b for a, b in zip(real, syn)]}
        )
    )
    print(f"manifest: {res.manifest}")
    return 0


# -- registration --------------------------------------------------------------------------------
def _add_sampling_args(sp) -> None:
    """Aliases of ``sample.*`` keys (``--seed`` / ``--device`` are those of every command)."""
    sp.add_argument("--sampler", choices=["ddim", "ddpm"], help="= sample.sampler (default ddim)")
    sp.add_argument("--steps", type=int, help="= sample.steps: sampling steps (<= the training timesteps; default 50)")
    sp.add_argument("--guidance", type=float, help="= sample.guidance: classifier-free guidance scale (1 = off)")
    sp.add_argument("--batch-size", type=int, help="= sample.batch_size (default 32)")
    sp.add_argument("--raw", action="store_true", help="use the raw instead of the EMA weights (= sample.ema=false)")


def register(sub, grammar) -> None:
    """Add ``sample``, ``fid`` and ``synthesize`` to the ``medfx`` sub-command parser.

    ``grammar`` is the command line's shared grammar (``add_common``, ``checkpoint_config``, ``load``,
    ``print_config``), passed in so that this module does not import ``medfx.cli``."""
    sp = sub.add_parser(
        "sample",
        help="generate images from a checkpoint into a folder",
        description="Write PNGs (2D) or NIfTI volumes (3D), grid.png and manifest.csv. Sample i uses seed "
        "run.seed + i (independent of the batch size).",
    )
    grammar.add_common(sp)
    sp.add_argument("--n", type=int, help="= sample.n: number of images (conditional models: round-robin)")
    sp.add_argument(
        "--per-class", metavar="N|C:N,...", help="= sample.per_class: images per class (conditional models)"
    )
    _add_sampling_args(sp)
    sp.set_defaults(func=cmd_sample, grammar=grammar)

    sp = sub.add_parser(
        "fid",
        help="Fréchet distance, precision/recall/coverage of generated vs real images",
        description="REAL and FAKE (= fid.real, fid.fake): a folder, .npz, NIfTI .csv, builtin:NAME, or a folder "
        "written by `medfx sample`. The distance is FID only with --detector inception. Every option is a "
        "fid.* config key (`medfx config keys fid`); the flags are aliases.",
    )
    grammar.add_common(sp, seed=False, metavar="REAL FAKE [CONFIG.yaml] [CKPT.pt] [key=value]")
    sp.add_argument("--per-class", action="store_true", default=None,
                    help="also one distance per class, matched by name (= fid.per_class=true)")
    sp.add_argument("--detector", choices=_DETECTORS,
                    help="= fid.detector: feature extractor (default: diffusion with --ckpt, else randconv)")
    sp.add_argument(
        "--weights",
        help="= fid.weights: FID Inception-v3 weights for --detector inception: a plain state dict "
        "(pt_inception-2015-12-05-6726825d.pth or .safetensors); loaded as data, no code runs",
    )
    sp.add_argument(
        "--trust-torchscript-code",
        action="store_true",
        default=None,
        help="= fid.trust_torchscript_code=true: also accept a TorchScript --weights file (e.g. "
        "inception-2015-12-05.pt). TorchScript is a program: this EXECUTES CODE from the file; use only for files "
        "whose origin you trust",
    )
    sp.add_argument("--blocks", help="= fid.blocks: comma-separated backbone blocks for the diffusion detector "
                    "(default: mid)")
    sp.add_argument("--t", type=int, help="= fid.t: timestep of the diffusion detector (default 0)")
    sp.add_argument("--detector-seed", type=int, help="= fid.detector_seed: seed of the randconv detector")
    sp.add_argument("--real-split", choices=_SPLITS,
                    help="= fid.real_split: split of REAL when it has official splits (default train)")
    sp.add_argument("--fake-split", choices=_SPLITS, help="= fid.fake_split (default all)")
    sp.add_argument("--format", choices=_FORMATS, help="= fid.format: format of REAL (default auto)")
    sp.add_argument("--size", type=_size_arg, help="= fid.size: resize both sets to this size (default: the "
                    "checkpoint's data.size with --ckpt or a FAKE folder written by `medfx sample`, else REAL's size)")
    sp.add_argument("--k", type=int, help="= fid.k: neighbours for precision / recall / coverage (default 3; must be "
                    "below each set's size)")
    sp.add_argument("--batch-size", type=int, help="= fid.batch_size (default 64)")
    sp.set_defaults(func=cmd_fid, grammar=grammar)

    sp = sub.add_parser(
        "synthesize",
        help="generate the images that rebalance the real training classes",
        description="Every class of the real training split is brought up to RATIO times the "
        "largest class with samples of a class-conditional checkpoint.",
    )
    grammar.add_common(sp)
    sp.add_argument("--balance", type=float, metavar="RATIO", help="= sample.balance: target fraction in (0, 1]")
    sp.add_argument(
        "--data",
        help="= data.path: real data (default: the checkpoint's training data); other data options, "
        "split seeds included, come from the checkpoint's config",
    )
    sp.add_argument("--format", choices=["auto", "npz", "folder", "nifti_csv"], help="= data.format")
    sp.add_argument("--size", type=_size_arg, help="= data.size (default: the checkpoint's data.size)")
    _add_sampling_args(sp)
    sp.set_defaults(func=cmd_synthesize, grammar=grammar)
