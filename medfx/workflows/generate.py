"""``medfx sample``, ``medfx fid`` and ``medfx synthesize``: thin wrappers around :mod:`medfx.generate`.

Under ``torchrun`` each command starts the process group (gloo on CPU, nccl on CUDA) and shards its batches over
the ranks; rank 0 writes and prints, with the same files and numbers as one process."""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from ..utils.io import write_json
from ..utils.runtime import init_distributed

logger = logging.getLogger("medfx")

_DETECTORS = ("diffusion", "randconv", "inception")


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
    from ..generate.sample import generate_to_dir, read_manifest

    _with_sample_flags(args)
    cfg = args.grammar.checkpoint_config(args)
    if args.dry_run:
        return args.grammar.print_config(cfg)
    sc = cfg.sample
    ckpt = cfg.run.checkpoint
    out = cfg.run.out or _default_out(ckpt, f"samples-{sc.sampler}{sc.steps}-seed{cfg.run.seed}")
    if sc.n is None and sc.per_class is None:
        raise ValueError("give --n N or --per-class N (sample.n / sample.per_class)")
    dist, device = init_distributed(cfg.run.device)
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


def _fid_checkpoint(args, cfg) -> str | None:
    """The checkpoint whose data settings ``fid`` follows: ``--ckpt``, else the one FAKE was sampled from."""
    if cfg.run.checkpoint:
        return cfg.run.checkpoint
    info = Path(args.fake) / "generation.json"
    if info.is_file():
        ck = json.loads(info.read_text()).get("checkpoint")
        if ck and Path(ck).is_file():
            return ck
        if ck:
            logger.warning("%s was sampled from %s, which is not readable here: default data settings", args.fake,
                           ck)
    return None


def fid_data_config(args, cfg):
    """The ``DataConfig`` both sets of ``medfx fid`` are read with (see ``_load_set``): the checkpoint's own
    (``--size`` must agree with it unless ``provenance.allow_mismatch=true``), else defaults."""
    from ..data import DataConfig
    from ..provenance import checkpoint_data_config

    ckpt = _fid_checkpoint(args, cfg)
    if ckpt is None:
        return DataConfig(path=args.real, format=args.format or "auto", size=args.size), None
    data = checkpoint_data_config(ckpt, {"size": args.size}, allow_mismatch=cfg.provenance.allow_mismatch,
                                  source=ckpt, override="provenance.allow_mismatch=true")
    return data, ckpt


def _build_detector(args, cfg, spatial_dims: int, channels: int, input_range=(-1.0, 1.0), device=None):
    from ..metrics import InceptionDetector, RandomConvDetector, default_detector
    from ..utils.runtime import resolve_device

    ckpt = cfg.run.checkpoint
    kind = args.detector or ("diffusion" if ckpt else "randconv")
    device = resolve_device(cfg.run.device) if device is None else device
    if kind == "inception":
        if not args.weights:
            raise ValueError(
                "--detector inception needs --weights PATH (the FID Inception-v3 state dict "
                "pt_inception-2015-12-05-6726825d.pth; medfx never downloads weights)"
            )
        return InceptionDetector(args.weights, input_range=tuple(input_range),
                                 allow_torchscript=args.trust_torchscript_code).to(device)
    if kind == "randconv":
        return RandomConvDetector(spatial_dims, in_channels=channels, seed=args.detector_seed).to(device)
    if not ckpt:
        raise ValueError("--detector diffusion needs --ckpt CKPT (the backbone whose features are compared)")
    from ..models.checkpoint import load_backbone

    backbone, _ = load_backbone(ckpt, device=device)
    blocks = [b for b in args.blocks.split(",") if b] if args.blocks else None
    return default_detector(spatial_dims, backbone=backbone, blocks=blocks, t=args.t)


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

    cfg = args.grammar.load(args)
    if args.dry_run:
        return args.grammar.print_config(cfg)
    template, ckpt = fid_data_config(args, cfg)
    real = _load_set(args.real, args.real_split, template, args.format or "auto")
    size = template.size or tuple(real.image_size)
    fake = _load_set(args.fake, args.fake_split, dataclasses.replace(template, size=tuple(size)), "auto")
    if real.spatial_dims != fake.spatial_dims:
        raise ValueError(f"{args.real} is {real.spatial_dims}D but {args.fake} is {fake.spatial_dims}D")
    n_min = min(len(real), len(fake))
    if args.k is not None and (args.k < 1 or args.k >= n_min):
        from ..utils.errors import ConfigError

        raise ConfigError(f"--k {args.k}: the k-NN precision / recall / coverage need 1 <= k < the number of images "
                          f"in each set (real {len(real)}, fake {len(fake)}); use --k {max(1, min(3, n_min - 1))}")
    channels = int(real[0][0].shape[0])
    dist, device = init_distributed(cfg.run.device)
    detector = _build_detector(args, cfg, real.spatial_dims, channels, template.intensity_range, device)
    res = compare_image_sets(
        real, fake, detector, per_class=args.per_class, k=3 if args.k is None else args.k,
        batch_size=args.batch_size, dist=dist
    )
    if res is None:  # a rank other than 0 under torchrun: rank 0 reports
        return 0
    res.update(real=args.real, fake=args.fake, real_split=args.real_split, image_size=list(size),
               data_settings_from=ckpt, intensity_range=list(template.intensity_range),
               resize_mode=template.resize_mode, orientation=template.orientation)
    print(format_fd_report(res))
    out = (
        Path(cfg.run.out)
        if cfg.run.out
        else (Path(args.fake) / f"fd-{detector.name}.json" if Path(args.fake).is_dir() else None)
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, res)
        print(f"written: {out}")
    return 0


# -- synthesize ----------------------------------------------------------------------------------
def cmd_synthesize(args) -> int:
    from ..generate.rebalance import synthesize

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
    dist, device = init_distributed(cfg.run.device)
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
        description="REAL and FAKE: a folder, .npz, NIfTI .csv, builtin:NAME, or a folder written "
        "by `medfx sample`. The distance is FID only with --detector inception.",
    )
    sp.add_argument("real", metavar="REAL")
    sp.add_argument("fake", metavar="FAKE")
    grammar.add_common(sp, seed=False)
    sp.add_argument("--per-class", action="store_true", help="also one distance per class (matched by name)")
    sp.add_argument(
        "--detector",
        choices=_DETECTORS,
        help="feature extractor (default: diffusion with --ckpt, else randconv)",
    )
    sp.add_argument(
        "--weights",
        help="FID Inception-v3 weights for --detector inception: a plain state dict "
        "(pt_inception-2015-12-05-6726825d.pth or .safetensors); loaded as data, no code runs",
    )
    sp.add_argument(
        "--trust-torchscript-code",
        action="store_true",
        help="also accept a TorchScript --weights file (e.g. inception-2015-12-05.pt). TorchScript is a program: "
        "this EXECUTES CODE from the file; use only for files whose origin you trust",
    )
    sp.add_argument(
        "--blocks", help="comma-separated backbone blocks for the diffusion detector (default: mid)"
    )
    sp.add_argument("--t", type=int, default=0, help="timestep of the diffusion detector")
    sp.add_argument("--detector-seed", type=int, default=0, help="seed of the randconv detector")
    sp.add_argument(
        "--real-split",
        default="train",
        choices=["train", "val", "test", "all"],
        help="split of REAL when it has official splits (default train)",
    )
    sp.add_argument("--fake-split", default="all", choices=["train", "val", "test", "all"])
    sp.add_argument(
        "--format", default="auto", choices=["auto", "npz", "folder", "nifti_csv"], help="format of REAL"
    )
    sp.add_argument("--size", type=_size_arg, help="resize both sets to this size (default: the checkpoint's "
                    "data.size with --ckpt or a FAKE folder written by `medfx sample`, else REAL's size)")
    sp.add_argument(
        "--k",
        type=int,
        default=None,
        help="neighbours for precision / recall / coverage (default 3; must be below each set's size)",
    )
    sp.add_argument("--batch-size", type=int, default=64)
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
