"""Command line: ``medfx <command> ...`` (also ``python -m medfx``). Each command is a thin wrapper around one
library function; configs carry the parameters, ``key=value`` arguments override them."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__

logger = logging.getLogger("medfx")

EXAMPLES = """examples:
  medfx pretrain preset=demo                       # PneumoniaMNIST 28x28, built in, a few CPU minutes
  medfx pretrain configs/pneumonia.yaml train.steps=2000 run.name=pn-2k
  medfx finetune configs/target.yaml --from runs/pn-2k/last.pt
  torchrun --nproc_per_node=2 -m medfx pretrain preset=cpu-28
  medfx data info builtin:adrenalmnist3d
  medfx presets
"""


def _split_config_args(items: list[str]) -> tuple[str | None, list[str]]:
    """``[CONFIG] [key=value ...]``: the first item is a YAML path unless it contains '='."""
    if items and "=" not in items[0]:
        return items[0], items[1:]
    return None, items


def _load(items: list[str], default_name: str | None = None, base: dict | None = None):
    from .config import load_config

    path, overrides = _split_config_args(items)
    cfg = load_config(path, overrides, base=base)
    if cfg.run.name == "run" and not any(o.startswith("run.name=") for o in overrides):
        stem = Path(path).stem if path else (cfg.preset or "run")
        cfg.run.name = stem + (default_name or "")
    return cfg


def _print_config(cfg) -> int:
    import yaml

    from .config import config_to_dict

    print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return 0


def cmd_pretrain(args) -> int:
    from .workflows.train import pretrain as train_diffusion

    cfg = _load(args.config)
    if args.dry_run:
        return _print_config(cfg)
    res = train_diffusion(cfg)
    print(f"run directory: {res.run_dir}")
    return 0


def cmd_finetune(args) -> int:
    from .workflows.train import pretrain as train_diffusion

    cfg = _load(args.config, default_name="-finetune")
    res = train_diffusion(cfg, init_from=args.init_from)
    print(f"run directory: {res.run_dir}")
    return 0


def cmd_data_info(args) -> int:
    from .data import DataConfig, describe

    print(describe(DataConfig(path=args.path, format=args.format)).to_text())
    return 0


def _feature_cfg(args):
    """Config for feature commands: data and diffusion default to the checkpoint's own."""
    from .workflows.features import checkpoint_base_config

    return _load(args.config, base=checkpoint_base_config(args.ckpt))


def _out(args, sub: str) -> Path:
    return Path(args.out) if args.out else Path(args.ckpt).parent / sub


def cmd_blocks(args) -> int:
    import torch

    from .models import count_parameters

    src = Path(args.source)
    if src.suffix in (".pt", ".safetensors"):
        from .train import load_backbone

        model, _ = load_backbone(src)
    else:
        from .models import build_backbone, resolve_backbone_spec

        cfg = _load([args.source] if src.suffix in (".yaml", ".yml") else [f"preset={args.source}"])
        size = tuple(args.input_size) if args.input_size else tuple(cfg.data.size or ())
        if not size:
            raise ValueError("give --input-size (the config has no data.size)")
        model = build_backbone(resolve_backbone_spec(cfg.model, (1, *size), 2))
    size = tuple(args.input_size) if args.input_size else tuple(getattr(model.config, "img_size", ()) or ())
    if not size:
        raise ValueError("give --input-size, e.g. --input-size 28 28 (or 28 28 28 for a 3D model)")
    if len(size) != model.spatial_dims:
        raise ValueError(f"--input-size has {len(size)} values but the model is {model.spatial_dims}D")
    with torch.no_grad():
        _, feats = model.forward_intermediates(torch.zeros(1, 1, *size), torch.zeros(1, dtype=torch.long))
    print(f"{type(model).__name__}, {model.spatial_dims}D, {count_parameters(model) / 1e6:.2f}M parameters, "
          f"input {tuple(size)}")
    print(f"{'block':10s} {'channels':>8s}  {'reduction':12s} output shape")
    for b in model.feature_info:
        print(f"{b.name:10s} {b.channels:8d}  {'x'.join(map(str, b.reduction)):12s} {tuple(feats[b.name].shape[1:])}")
    return 0


def cmd_extract(args) -> int:
    from .workflows.features import build_bank

    cfg = _feature_cfg(args)
    bank = build_bank(cfg, args.ckpt, _out(args, "features"))
    print(f"feature bank: {bank.path} ({len(bank.ids)} samples, {len(bank.blocks)} blocks x "
          f"{len(bank.timesteps)} timesteps, {bank.meta['samples_per_s']:.1f} samples/s)")
    return 0


def cmd_probe(args) -> int:
    from .workflows.features import build_bank, run_probe

    cfg = _feature_cfg(args)
    bank = build_bank(cfg, args.ckpt, Path(args.bank) if args.bank else None)
    out = _out(args, "probe")
    res = run_probe(cfg, bank, out)
    b, t = res.best()
    row = res.row(b, t)
    metrics = " ".join(f"{m}={row.get(m, row.get(m + '_mean', float('nan'))):.3f}"
                       for m in ("acc", "bacc", "f1", "auc") if (m in row or m + "_mean" in row))
    print(f"best (block, t) on validation: ({b}, {t}); test {metrics}")
    print(f"tables and heatmaps: {out}")
    return 0


def cmd_gaussianity(args) -> int:
    from .workflows.features import build_bank, run_gaussianity

    cfg = _feature_cfg(args)
    bank = build_bank(cfg, args.ckpt, Path(args.bank) if args.bank else None)
    out = _out(args, "gaussianity")
    summary = run_gaussianity(cfg, bank, out)
    label = ("selected (fallback: no key has p < alpha, these are only the least Gaussian)" if summary.get("fallback")
             else "selected (non-Gaussian)")
    print(f"{label}:", ", ".join(f"({b}, {t})" for b, t in summary["selected"]))
    print("rejected (most Gaussian):", ", ".join(f"({b}, {t})" for b, t in summary["rejected"]))
    for name in ("selected_probe", "rejected_probe"):
        if name in summary:
            r = summary[name]
            print(f"{name} (test): " + " ".join(f"{m}={r[m + '_mean']:.3f}" for m in ("acc", "bacc", "f1", "auc")
                                                 if m + "_mean" in r))
    print(f"KS map and plots: {out}")
    return 0


def cmd_run(args) -> int:
    from .workflows.pipeline import run_pipeline

    cfg = _load(args.config)
    if args.dry_run:
        return _print_config(cfg)
    run_dir = run_pipeline(cfg)
    print(f"run directory: {run_dir}\nreport: {run_dir / 'report.html'}")
    return 0


def cmd_train_head(args) -> int:
    from .workflows.pipeline import run_pipeline

    items = list(args.config) + ["pipeline.stages=['extract','probe','gaussianity','heads','report']"]
    if args.ckpt:
        items.append(f"pipeline.checkpoint={args.ckpt}")
    cfg = _load(items)
    if cfg.pipeline.checkpoint is None:
        raise ValueError("train-head needs a diffusion checkpoint: --ckpt CKPT or pipeline.checkpoint=...")
    run_dir = run_pipeline(cfg)
    print(f"run directory: {run_dir}")
    return 0


def cmd_evaluate(args) -> int:
    from .metrics.classification import METRIC_NAMES, format_mean_sd
    from .report import build_report
    from .workflows.pipeline import evaluate_run

    results = evaluate_run(args.run)
    print(f"{'method':14s} " + " ".join(f"{m:>15s}" for m in METRIC_NAMES))
    for name, e in results["methods"].items():
        s = e.get("summary", {})
        print(f"{name:14s} " + " ".join(f"{format_mean_sd(*s[m]):>15s}" if m in s else f"{'-':>15s}"
                                       for m in METRIC_NAMES))
    print(f"report: {build_report(args.run)}")
    return 0


def cmd_presets(args) -> int:
    from .presets import PRESETS

    for name, d in sorted(PRESETS.items()):
        model = d.get("model", {})
        print(f"{name:12s} arch={model.get('arch', 'unet')} data={d.get('data', {})}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medfx", description="Diffusion models as feature extractors for medical images.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    p.add_argument("--version", action="version", version=f"medfx {__version__}")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars and only warnings on the console (log files keep every line); may also "
                        "follow the command, e.g. `medfx run --quiet ...`")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("pretrain", help="train a DDPM on (unlabelled) images",
                        description="Train a DDPM. Re-running the same command resumes from the last checkpoint.")
    sp.add_argument("config", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    sp.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    sp.set_defaults(func=cmd_pretrain)

    sp = sub.add_parser("finetune", help="fine-tune a pretrained DDPM on target data")
    sp.add_argument("config", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    sp.add_argument("--from", dest="init_from", required=True, metavar="CKPT",
                    help="medfx checkpoint (.pt/.safetensors) or a MONAI / MONAI Generative U-Net state dict")
    sp.set_defaults(func=cmd_finetune)

    sp = sub.add_parser("data", help="inspect datasets")
    dsub = sp.add_subparsers(dest="data_command", required=True)
    di = dsub.add_parser("info", help="format, dimensionality, sizes, classes and counts per split")
    di.add_argument("path", help=".npz, image folder, CSV of NIfTI paths, or builtin:NAME")
    di.add_argument("--format", default="auto", choices=["auto", "npz", "folder", "nifti_csv"])
    di.set_defaults(func=cmd_data_info)

    sp = sub.add_parser("blocks", help="list a backbone's blocks with channels, reduction and output shapes")
    sp.add_argument("source", help="checkpoint (.pt/.safetensors), config YAML, or preset name")
    sp.add_argument("--input-size", type=int, nargs="+", metavar="N", help="spatial input size, e.g. 28 28")
    sp.set_defaults(func=cmd_blocks)

    for name, func, helptext in (
        ("extract", cmd_extract, "stream a dataset through a frozen checkpoint into a feature bank"),
        ("probe", cmd_probe, "linear probes over the blocks x timesteps grid (tables + heatmaps)"),
        ("gaussianity", cmd_gaussianity, "KS Gaussianity map, non-Gaussian block selection, best-vs-worst probes"),
    ):
        sp = sub.add_parser(name, help=helptext, description=helptext + ". Data and diffusion settings default to "
                            "the checkpoint's; override with a CONFIG and key=value (features.*, probe.*, data.*).")
        sp.add_argument("config", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
        sp.add_argument("--ckpt", required=True, help="diffusion checkpoint (.pt or .safetensors)")
        sp.add_argument("--out", help="output folder (default: next to the checkpoint)")
        if name != "extract":
            sp.add_argument("--bank", help="feature bank folder (default: <checkpoint folder>/features)")
        sp.set_defaults(func=func)

    sp = sub.add_parser("run", help="the whole method: DDPM, features, probes, KS map, heads, baselines, report",
                        description="Run every stage of a pipeline config; finished stages are skipped, so "
                        "re-running resumes. Writes <run.out_dir>/<run.name>/report.html.")
    sp.add_argument("config", nargs="*", metavar="[PIPELINE.yaml] [key=value ...]")
    sp.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("train-head", help="train the heads and baselines on a frozen diffusion checkpoint")
    sp.add_argument("config", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    sp.add_argument("--ckpt", help="diffusion checkpoint (or pipeline.checkpoint=... in the config)")
    sp.set_defaults(func=cmd_train_head)

    sp = sub.add_parser("evaluate", help="re-evaluate the saved classifiers of a run on its test split")
    sp.add_argument("run", help="a run directory written by `medfx run` or `medfx train-head`")
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("presets", help="list named presets")
    sp.set_defaults(func=cmd_presets)
    for register in _EXTRA_COMMANDS:
        register(sub)
    return p


def _register_extra_commands() -> list:
    from .workflows.generate import register as generate_commands

    return [generate_commands]


_EXTRA_COMMANDS: list = _register_extra_commands()


def main(argv: list[str] | None = None) -> int:
    from .workflows.logs import setup_logging

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if any(e in ("-q", "--quiet") for e in extra):
        args.quiet = True
        extra = [e for e in extra if e not in ("-q", "--quiet")]
    if extra:  # key=value overrides given after an option (e.g. `--ckpt X train.lr=1e-3`) belong to the config
        if hasattr(args, "config") and all("=" in e and not e.startswith("-") for e in extra):
            args.config = list(args.config) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    from .utils.progress import configure

    configure(enabled=not args.quiet)
    for h in logging.getLogger("medfx").handlers:
        if type(h) is logging.StreamHandler:  # the console, not the log files
            h.setLevel(logging.WARNING if args.quiet else logging.NOTSET)
    try:
        return args.func(args) or 0
    except (ValueError, RuntimeError, FileNotFoundError, KeyError) as e:
        if args.verbose:
            raise
        msg = str(e) if not isinstance(e, KeyError) else str(e.args[0])
        print(f"medfx: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
