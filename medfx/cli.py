"""Command line: ``medfx <command> ...`` (also ``python -m medfx``). Each command is a thin wrapper around one
library function; configs carry the parameters, ``key=value`` arguments override them."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

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


def _load(items: list[str], default_name: str | None = None):
    from .config import load_config

    path, overrides = _split_config_args(items)
    cfg = load_config(path, overrides)
    if cfg.run.name == "run" and not any(o.startswith("run.name=") for o in overrides):
        stem = Path(path).stem if path else (cfg.preset or "run")
        cfg.run.name = stem + (default_name or "")
    return cfg


def cmd_pretrain(args) -> int:
    from .train import train_diffusion

    cfg = _load(args.config)
    if args.dry_run:
        import yaml

        from .config import config_to_dict

        print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        return 0
    res = train_diffusion(cfg)
    print(f"run directory: {res.run_dir}")
    return 0


def cmd_finetune(args) -> int:
    from .train import train_diffusion

    cfg = _load(args.config, default_name="-finetune")
    res = train_diffusion(cfg, init_from=args.init_from)
    print(f"run directory: {res.run_dir}")
    return 0


def cmd_data_info(args) -> int:
    from .data import DataConfig, describe

    print(describe(DataConfig(path=args.path, format=args.format)).to_text())
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

    sp = sub.add_parser("presets", help="list named presets")
    sp.set_defaults(func=cmd_presets)
    for register in _EXTRA_COMMANDS:
        register(sub)
    return p


_EXTRA_COMMANDS: list = []


def main(argv: list[str] | None = None) -> int:
    from .utils.runtime import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(level=logging.DEBUG if args.verbose else logging.INFO)
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
