"""Command line: ``medfx <command> ...`` (also ``python -m medfx``). Each command is a thin wrapper around one
library function; configs carry the parameters, ``key=value`` arguments override them.

Start-up: ``medfx --help`` must stay well under a second, so this module imports only torch-free modules at the
top; each command imports its workflow (and with it torch, MONAI, ...) inside its function."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from .utils.errors import ConfigError, MedfxError, find_os_error, os_error_message
from .utils.progress import configure
from .workflows.compare import register as compare_command
from .workflows.distributed import end_distributed, launched_rank
from .workflows.fuse import register as fuse_command
from .workflows.generate import register as generate_commands
from .workflows.logs import setup_logging
from .workflows.plan import register as plan_command

logger = logging.getLogger("medfx")

EXAMPLES = """every command: medfx COMMAND [CONFIG.yaml] [preset=NAME] [CHECKPOINT.pt] [section.key=value ...]
  (--ckpt, --seed, --device, --out are aliases of run.checkpoint, run.seed, run.device, run.out;
   --dry-run prints the resolved config and exits; `medfx config keys [SECTION]` lists every key)

examples:
  medfx run preset=tiny                            # the whole method on built-in data in about a minute
  medfx pretrain preset=demo                       # PneumoniaMNIST 28x28, built in, a few CPU minutes
  medfx pretrain configs/pneumonia.yaml train.steps=2000 run.name=pn-2k
  medfx finetune configs/target.yaml --from runs/pn-2k/last.pt
  medfx probe runs/pn-2k/last.pt features.timesteps=[0,50]
  torchrun --nproc_per_node=2 -m medfx pretrain preset=cpu-28
  medfx data info builtin:adrenalmnist3d
  medfx data check data/brain --against data/pretrain_pool --dedup brain_dedup.csv
  medfx presets
"""

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")


def _split_config_args(items: list[str]) -> tuple[str | None, list[str]]:
    """``[CONFIG.yaml] [CHECKPOINT.pt] [key=value ...]``: a checkpoint path becomes ``run.checkpoint=PATH``; the
    first other item without '=' is the YAML config."""
    path, overrides = None, []
    for item in items:
        if "=" in item:
            overrides.append(item)
        elif item.endswith(_CHECKPOINT_SUFFIXES):
            overrides.append(f"run.checkpoint={item}")
        elif path is None:
            path = item
        else:
            raise ValueError(f"{item!r}: expected key=value (the config file is {path!r})")
    return path, overrides


def _flag_overrides(args) -> list[str]:
    """The common flags as config overrides (they are aliases of run.* keys)."""
    out = []
    for flag, key in (("ckpt", "run.checkpoint"), ("seed", "run.seed"), ("device", "run.device"), ("out", "run.out")):
        value = getattr(args, flag, None)
        if value is not None:
            out.append(f"{key}={value}")
    return out


def _items(args) -> list[str]:
    return list(getattr(args, "config", None) or []) + _flag_overrides(args)


def _checkpoint_of(items: list[str]) -> str | None:
    """The checkpoint named on the command line or in the YAML file, before the config is resolved."""
    from .utils.dataclass_io import parse_override  # yaml: not loaded by `medfx --help`

    path, overrides = _split_config_args(items)
    found = None
    if path is not None and Path(path).is_file():
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError:
            data = {}
        if isinstance(data, dict):
            found = (data.get("run") or {}).get("checkpoint") or (data.get("pipeline") or {}).get("checkpoint")
    for o in overrides:
        keys, value = parse_override(o)
        if keys in (["run", "checkpoint"], ["pipeline", "checkpoint"]):
            found = value
    return found


def _load(items: list[str], default_name: str | None = None, base: dict | None = None,
          uses: tuple[str, ...] = (), provenance: bool = False, whole_data: bool = False, work: bool = False):
    """Resolve the config; ``uses``: the cross-field checks of this command (see ``check_cross_fields``).

    ``work``: the command does heavy work in this process, so ``run.threads`` is applied (``auto`` measures the
    machine's load for 0.3 s); --dry-run, listings and commands whose workflow applies it themselves pass False.

    ``provenance``: the checkpoint named by the items (``run.checkpoint`` / ``--ckpt`` / ``--from``) provides the
    data and diffusion defaults, and explicit settings that contradict it are errors (``medfx.provenance``);
    ``whole_data`` also takes its data path and splits."""
    from .config import check_cross_fields
    from .provenance import resolve_config

    path, overrides = _split_config_args(items)
    ckpt = _checkpoint_of(items) if provenance else None
    cfg = resolve_config(path, overrides, ckpt=ckpt, whole_data=whole_data, base=base)
    check_cross_fields(cfg, uses=uses)
    if cfg.run.name == "run" and not any(o.startswith("run.name=") for o in overrides):
        stem = Path(path).stem if path else (cfg.preset or "run")
        cfg.run.name = stem + (default_name or "")
    if work:
        _apply_threads(cfg.run.threads)
    return cfg


def _apply_threads(requested) -> None:
    """``run.threads`` (auto / N / 0 = torch's default) applied to this process (the workflow layer owns it)."""
    from .workflows.threads import apply_run_threads

    apply_run_threads(requested)


def _print_config(cfg) -> int:
    import yaml

    from .config import config_to_dict

    print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return 0


def cmd_pretrain(args) -> int:
    from .workflows.train import pretrain as train_diffusion

    cfg = _load(_items(args), uses=("contrastive",))
    if args.dry_run:
        return _print_config(cfg)
    res = train_diffusion(cfg)
    print(f"run directory: {res.run_dir}")
    return 0


def cmd_finetune(args) -> int:
    from .workflows.train import pretrain as train_diffusion

    cfg = _load(_items(args), default_name="-finetune", uses=("contrastive",), provenance=True)
    if cfg.run.checkpoint is None:
        raise ValueError("finetune needs the weights to start from: --from CKPT (or run.checkpoint=CKPT)")
    if args.dry_run:
        return _print_config(cfg)
    res = train_diffusion(cfg, init_from=cfg.run.checkpoint)
    print(f"run directory: {res.run_dir}")
    return 0


def cmd_config_keys(args) -> int:
    from .config import config_keys

    rows = config_keys(args.section)
    width = max(len(k) for k, *_ in rows)
    twidth = max(len(t) for _, t, *_ in rows)
    for key, tp, default, doc in rows:
        print(f"{key:<{width}s}  {tp:<{twidth}s}  {default!s:<14s}  {doc}")
    return 0


def cmd_data_info(args) -> int:
    from .data import DataConfig, describe

    print(describe(DataConfig(path=args.path, format=args.format)).to_text())
    return 0


def cmd_data_check(args) -> int:
    from .data import DataConfig
    from .data.check import CheckConfig, check_data, default_cache_dir

    cfg = CheckConfig(hash=args.hash, hash_size=args.hash_size, threshold=args.threshold, near=not args.exact_only)
    data = DataConfig(path=args.path, format=args.format, split_seed=args.split_seed, val_fraction=args.val_fraction,
                      test_fraction=args.test_fraction)
    cache = None if args.no_cache else (args.cache_dir or default_cache_dir())
    res = check_data(data, against=args.against, config=cfg, cache_dir=cache, progress=True)
    print(res.to_text())
    paths = res.write_all(args.out)
    print(f"\nreports: {paths['json']}, {paths['csv']}, {paths['html']}")
    if args.dedup:
        info = res.write_dedup_manifest(args.dedup, near_policy=args.near_policy, group_subjects=args.group_subjects)
        print(f"de-duplicated manifest: {info['path']} ({info['kept']} kept, splits {info['splits']}; dropped "
              f"{info['dropped_exact']} exact copies, {info['dropped_near']} near, {info['dropped_against']} seen "
              f"in --against; moved {info['moved']}); use it as data.path={info['path']}")
    return 3 if args.fail_on_leak and res.leaked_items() else 0


def _feature_cfg(args, uses: tuple[str, ...] = ("features",)):
    """Config for checkpoint commands: data, model and diffusion default to the checkpoint's own."""
    from .workflows.features import checkpoint_base_config

    items = _items(args)
    ckpt = _checkpoint_of(items)
    if ckpt is None:
        raise ValueError(f"{args.command} needs a diffusion checkpoint: medfx {args.command} CKPT.pt "
                         "(or --ckpt CKPT, run.checkpoint=CKPT)")
    return _load(items, base=checkpoint_base_config(ckpt), uses=uses, provenance=True, whole_data=True,
                 work=not args.dry_run)


def _out(cfg, sub: str) -> Path:
    return Path(cfg.run.out) if cfg.run.out else Path(cfg.run.checkpoint).parent / sub


def cmd_blocks(args) -> int:
    import torch

    from .models import count_parameters

    src = Path(args.source)
    if src.suffix and src.suffix not in (*_CHECKPOINT_SUFFIXES, ".yaml", ".yml") or (src.is_file() and not src.suffix):
        raise ConfigError(f"{src}: not a checkpoint (.pt / .safetensors), a config (.yaml) or a preset name")
    if src.suffix in _CHECKPOINT_SUFFIXES:
        from .generate.sample import checkpoint_image_shape
        from .models.checkpoint import load_backbone

        model, ckpt = load_backbone(src)
        size = tuple(args.input_size or ())
        if not size:
            try:
                size = checkpoint_image_shape(ckpt)[1:]
            except ValueError:
                size = ()
    else:
        from .models import build_backbone, resolve_backbone_spec

        cfg = _load([args.source] if src.suffix in (".yaml", ".yml") else [f"preset={args.source}"])
        size = tuple(args.input_size) if args.input_size else tuple(cfg.data.size or ())
        if not size:
            raise ValueError("give --input-size (the config has no data.size)")
        model = build_backbone(resolve_backbone_spec(cfg.model, (1, *size), 2))
    if not size:
        raise ValueError("the checkpoint does not record its input size: give --input-size, e.g. --input-size 28 28")
    if len(size) != model.spatial_dims:
        raise ValueError(f"--input-size has {len(size)} values but the model is {model.spatial_dims}D")
    with torch.no_grad():
        channels = getattr(model.config, "in_channels", 1)  # latent diffusion: the latent's channels
        _, feats = model.forward_intermediates(torch.zeros(1, channels, *size), torch.zeros(1, dtype=torch.long))
    print(f"{type(model).__name__}, {model.spatial_dims}D, {count_parameters(model) / 1e6:.2f}M parameters, "
          f"input {tuple(size)}")
    print(f"{'block':10s} {'channels':>8s}  {'reduction':12s} output shape")
    for b in model.feature_info:
        print(f"{b.name:10s} {b.channels:8d}  {'x'.join(map(str, b.reduction)):12s} {tuple(feats[b.name].shape[1:])}")
    return 0


def cmd_extract(args) -> int:
    from .workflows.features import build_bank

    cfg = _feature_cfg(args)
    if args.dry_run:
        return _print_config(cfg)
    bank = build_bank(cfg, cfg.run.checkpoint, _out(cfg, "features"))
    if bank is None:  # a rank other than 0 under torchrun: rank 0 wrote the bank
        return 0
    print(f"feature bank: {bank.path} ({len(bank.ids)} samples, {len(bank.blocks)} blocks x "
          f"{len(bank.timesteps)} timesteps, {bank.meta['samples_per_s']:.1f} samples/s)")
    return 0


def cmd_probe(args) -> int:
    from .workflows.features import build_bank, run_probe

    cfg = _feature_cfg(args)
    if args.dry_run:
        return _print_config(cfg)
    bank = build_bank(cfg, cfg.run.checkpoint, Path(args.bank) if args.bank else None)
    if bank is None:  # a rank other than 0 under torchrun: rank 0 goes on alone
        return 0
    out = _out(cfg, "probe")
    res = run_probe(cfg, bank, out)
    b, t = res.best()
    row = res.row(b, t)
    metrics = " ".join(f"{m}={row.get(m, row.get(m + '_mean', float('nan'))):.3f}"
                       for m in ("acc", "bacc", "f1", "auc") if (m in row or m + "_mean" in row))
    if res.mode == "holdout":
        print(f"best (block, t) on validation: ({b}, {t}); test {metrics}")
    else:  # cross-validated numbers are named as such, never "test"
        print(f"best (block, t) by {res.score_label}: ({b}, {t}); {res.score_label} (mean over folds; the same "
              f"folds chose the cell, so optimistic) {metrics}")
    print(f"tables and heatmaps: {out}")
    return 0


def cmd_gaussianity(args) -> int:
    from .workflows.features import build_bank, run_gaussianity

    cfg = _feature_cfg(args)
    if args.dry_run:
        return _print_config(cfg)
    bank = build_bank(cfg, cfg.run.checkpoint, Path(args.bank) if args.bank else None)
    if bank is None:  # a rank other than 0 under torchrun: rank 0 goes on alone
        return 0
    out = _out(cfg, "gaussianity")
    summary = run_gaussianity(cfg, bank, out)
    label = ("selected (fallback: no key has p < alpha, these are only the least Gaussian)" if summary.get("fallback")
             else "selected (non-Gaussian)")
    print(f"{label}:", ", ".join(f"({b}, {t})" for b, t in summary["selected"]))
    print("rejected (most Gaussian):", ", ".join(f"({b}, {t})" for b, t in summary["rejected"]))
    for name in ("selected_probe", "rejected_probe"):
        if name in summary:
            r = summary[name]
            print(f"{name} ({r.get('score_on', 'test')}): " + " ".join(f"{m}={r[m + '_mean']:.3f}" for m in ("acc", "bacc", "f1", "auc")
                                                 if m + "_mean" in r))
    for r in summary.get("by_t", []):  # the same comparison at one t (controls for the noise level)
        if r.get("delta"):
            on = r["selected_probe"].get("score_on", "test")
            print(f"t={r['t']}: selected {r['selected']} vs rejected {r['rejected']}: "
                  f"AUC {r['selected_probe'].get('auc_mean', float('nan')):.3f} vs "
                  f"{r['rejected_probe'].get('auc_mean', float('nan')):.3f} ({on})")
    if summary.get("same_t_delta_auc_mean") is not None:
        print(f"same-t AUC difference (selected - rejected): mean {summary['same_t_delta_auc_mean']:+.3f}, "
              f"positive at {summary['same_t_positive']} timesteps")
    print(f"KS map and plots: {out}")
    return 0


def cmd_run(args) -> int:
    from .workflows.pipeline import check_config, run_pipeline

    cfg = _load(_items(args), provenance=True, work=not args.dry_run)
    check_config(cfg)
    if args.dry_run:
        return _print_config(cfg)
    run_dir = run_pipeline(cfg)
    if run_dir is None:  # a rank other than 0 under torchrun
        return 0
    print(f"run directory: {run_dir}\nreport: {run_dir / 'report.html'}")
    return 0


def cmd_train_head(args) -> int:
    from .workflows.pipeline import check_config, run_pipeline

    items = _items(args) + ["pipeline.stages=['extract','probe','gaussianity','heads','report']"]
    cfg = _load(items, provenance=True, work=not args.dry_run)
    if cfg.run.checkpoint is None:
        raise ValueError("train-head needs a diffusion checkpoint: --ckpt CKPT or run.checkpoint=...")
    check_config(cfg)
    if args.dry_run:
        return _print_config(cfg)
    run_dir = run_pipeline(cfg)
    if run_dir is None:  # a rank other than 0 under torchrun
        return 0
    print(f"run directory: {run_dir}")
    return 0


def cmd_evaluate(args) -> int:
    if args.dry_run:
        return _print_config(_load([str(Path(args.run) / "config.yaml")]))
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


def cmd_env(args) -> int:
    """Versions, hardware, threads, the precision ``auto`` picks and (unless --no-bench) measured img/s."""
    import json

    from .utils.hardware import backbone_probe, environment_report, format_report

    probe = None
    if not args.no_bench:
        from .models import build_backbone, resolve_backbone_spec

        cfg = _load(args.config if args.config else ["preset=demo"], work=True)
        size = tuple(cfg.data.size or ())
        if not size:
            from .data import describe

            size = tuple(next(iter(describe(cfg.data).native_sizes)))
        shape = (1, *size)
        model = build_backbone(resolve_backbone_spec(cfg.model, shape, 2))
        micro = max(1, cfg.train.batch_size // cfg.train.grad_accum)
        probe = backbone_probe(model, shape, min(micro, 32 if len(size) == 2 else 4), train=True)
        probe.key["preset"] = cfg.preset
    report = environment_report(probe, bench_seconds=args.seconds)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def cmd_presets(args) -> int:
    from .presets import PRESETS  # yaml: not loaded by `medfx --help`

    if args.dry_run:
        return 0
    for name, d in sorted(PRESETS.items()):
        model = d.get("model", {})
        print(f"{name:12s} arch={model.get('arch', 'unet')} data={d.get('data', {})}")
    return 0


_SECTIONS = {
    "pretrain": "run, data, model, diffusion, contrastive, train, latent",
    "finetune": "run, data, model, diffusion, contrastive, train",
    "extract": "run, data, features", "probe": "run, data, features, probe",
    "gaussianity": "run, data, features, probe, gaussianity",
    "run": "run, data, model, diffusion, contrastive, train, latent, features, probe, gaussianity, heads, pipeline",
    "train-head": "run, data, features, probe, gaussianity, heads",
    "sample": "run, sample", "synthesize": "run, data, sample", "fid": "run, fid", "plan": "data, model, train, latent",
}


def add_common(sp, config: bool = True, ckpt: bool = True, out: bool = True, seed: bool = True,
               device: bool = True, metavar: str = "[CONFIG.yaml] [preset=NAME] [CKPT.pt] [key=value]") -> None:
    """The options every command shares: config items, --dry-run and the aliases of run.* keys."""
    name = sp.prog.split()[-1]
    if config and name in _SECTIONS:
        sp.epilog = (f"config sections read: {_SECTIONS[name]}; `medfx config keys SECTION` lists each key with "
                     "its type, default and description")
    if config:
        sp.add_argument("config", nargs="*", metavar=metavar,
                        help="a YAML config, a preset, a checkpoint and section.key=value overrides "
                             "(`medfx config keys` lists the keys)")
    sp.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    if ckpt:
        sp.add_argument("--ckpt", help="diffusion checkpoint (= run.checkpoint=...)")
    if seed:
        sp.add_argument("--seed", type=int, help="= run.seed=...")
    if device:
        sp.add_argument("--device", help="auto, cpu, cuda, cuda:1, ... (= run.device=...)")
    if out:
        sp.add_argument("--out", help="output folder (= run.out=...)")


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
                        description="Train a DDPM into <run.out_dir>/<run.name>. Re-running the same command "
                        "resumes from the last checkpoint.")
    add_common(sp, ckpt=False, out=False)
    sp.set_defaults(func=cmd_pretrain)

    sp = sub.add_parser("finetune", help="fine-tune a pretrained DDPM on target data",
                        description="Fine-tune from run.checkpoint: a medfx checkpoint (.pt/.safetensors) or a "
                        "MONAI / MONAI Generative U-Net state dict.")
    add_common(sp, out=False)
    sp.add_argument("--from", dest="ckpt", metavar="CKPT", help="the weights to start from (= run.checkpoint=...)")
    sp.set_defaults(func=cmd_finetune)

    sp = sub.add_parser("config", help="list config keys with type, default and description")
    csub = sp.add_subparsers(dest="config_command", required=True)
    ck = csub.add_parser("keys", help="every config key (of one SECTION) with type, default and a one-line doc")
    ck.add_argument("section", nargs="?", help="e.g. train, features, heads")
    ck.set_defaults(func=cmd_config_keys)

    sp = sub.add_parser("data", help="inspect datasets")
    dsub = sp.add_subparsers(dest="data_command", required=True)
    di = dsub.add_parser("info", help="format, dimensionality, sizes, classes and counts per split")
    di.add_argument("path", help=".npz, image folder, CSV of NIfTI paths, or builtin:NAME")
    di.add_argument("--format", default="auto", choices=["auto", "npz", "folder", "nifti_csv"])
    di.set_defaults(func=cmd_data_info)
    dc = dsub.add_parser("check", help="exact / near duplicates, split and cross-dataset leaks, broken files",
                         description="Hash every image (content + perceptual), report duplicates within and across "
                         "splits and datasets, unreadable / constant / outlier images and label problems; writes "
                         "data_check.json, groups.csv and data_check.html to --out.")
    dc.add_argument("path", help=".npz, image folder, CSV (files or npz items), or builtin:NAME")
    dc.add_argument("--against", nargs="+", default=[], metavar="PATH", help="other datasets (e.g. a pretraining pool)")
    dc.add_argument("--format", default="auto", choices=["auto", "npz", "folder", "nifti_csv"])
    dc.add_argument("--split-seed", type=int, default=0, help="seed of the splits carved where the data has none")
    dc.add_argument("--val-fraction", type=float, default=0.1,
                    help="share carved for validation where the data has no val split (default 0.1)")
    dc.add_argument("--test-fraction", type=float, default=0.2,
                    help="share carved for testing where the data has no test split (default 0.2)")
    dc.add_argument("--out", default="data_check", help="report folder (default: ./data_check)")
    dc.add_argument("--hash", default="phash", choices=["phash", "dhash", "whash", "ahash"])
    dc.add_argument("--hash-size", type=int, default=16, help="bits per 2D hash = N*N (default 16: 256 bits)")
    dc.add_argument("--threshold", type=int, default=32, help="near duplicate: Hamming distance <= this per 2D hash "
                    "(x3 for volumes; default 32 of 256 bits)")
    dc.add_argument("--exact-only", action="store_true", help="skip perceptual hashes (exact duplicates only)")
    dc.add_argument("--cache-dir", help="hash cache (default: $MEDFX_CACHE_DIR or ~/.cache/medfx/data_check)")
    dc.add_argument("--no-cache", action="store_true")
    dc.add_argument("--dedup", metavar="OUT.csv", help="write a leakage-free split manifest (usable as data.path)")
    dc.add_argument("--near-policy", default="move", choices=["move", "drop"],
                    help="near-duplicate groups straddling splits: move to the earliest split, or drop the others")
    dc.add_argument("--group-subjects", action="store_true", help="--dedup: keep each subject in one split too")
    dc.add_argument("--fail-on-leak", action="store_true", help="exit with status 3 when val/test items leak")
    dc.set_defaults(func=cmd_data_check)

    sp = sub.add_parser("blocks", help="list a backbone's blocks with channels, reduction and output shapes")
    sp.add_argument("source", help="checkpoint (.pt/.safetensors), config YAML, or preset name")
    sp.add_argument("--input-size", type=int, nargs="+", metavar="N",
                    help="spatial input size, e.g. 28 28 (default: the checkpoint's or the config's data size)")
    sp.set_defaults(func=cmd_blocks)

    for name, func, helptext in (
        ("extract", cmd_extract, "stream a dataset through a frozen checkpoint into a feature bank"),
        ("probe", cmd_probe, "linear probes over the blocks x timesteps grid (tables + heatmaps)"),
        ("gaussianity", cmd_gaussianity, "KS Gaussianity map, non-Gaussian block selection, best-vs-worst probes"),
    ):
        sp = sub.add_parser(name, help=helptext, description=helptext + ". Data, model and diffusion settings "
                            "default to the checkpoint's; override with a CONFIG and key=value (features.*, "
                            "probe.*, data.*). Output: run.out (default: next to the checkpoint).")
        add_common(sp, seed=False)
        if name != "extract":
            sp.add_argument("--bank", help="feature bank folder (default: <checkpoint folder>/features)")
        sp.set_defaults(func=func)

    sp = sub.add_parser("run", help="the whole method: DDPM, features, probes, KS map, heads, baselines, report",
                        description="Run every stage of a pipeline config; finished stages are skipped, so "
                        "re-running resumes. Writes <run.out_dir>/<run.name>/report.html. With run.checkpoint "
                        "(--ckpt) the DDPM is not trained.")
    add_common(sp, out=False)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("train-head", help="train the heads and baselines on a frozen diffusion checkpoint")
    add_common(sp, out=False)
    sp.set_defaults(func=cmd_train_head)

    sp = sub.add_parser("evaluate", help="re-evaluate the saved classifiers of a run on its test split")
    sp.add_argument("run", help="a run directory written by `medfx run` or `medfx train-head`")
    add_common(sp, config=False, ckpt=False, out=False, seed=False, device=False)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("env", help="versions, CPU/GPU, threads, the precision auto picks, measured img/s",
                        description="Print what medfx runs on (paste it into bug reports). Unless --no-bench, one "
                        "training step of the configured model (default preset=demo) is timed in fp32 and bf16.")
    sp.add_argument("config", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    sp.add_argument("--json", action="store_true", help="print the report as JSON")
    sp.add_argument("--no-bench", action="store_true", help="skip the measurement (instant)")
    sp.add_argument("--seconds", type=float, default=3.0, help="measurement budget, fp32 and bf16 together")
    sp.set_defaults(func=cmd_env)

    sp = sub.add_parser("presets", help="list named presets")
    add_common(sp, config=False, ckpt=False, out=False, seed=False, device=False)
    sp.set_defaults(func=cmd_presets)
    for register in _EXTRA_COMMANDS:
        register(sub, _Grammar)
    return p


class _Grammar:
    """What command modules outside this file need of the shared grammar (passed to their ``register``)."""

    add_common = staticmethod(add_common)
    checkpoint_config = staticmethod(lambda args: _feature_cfg(args, uses=()))
    load = staticmethod(lambda args: _load(_items(args), work=not args.dry_run))
    print_config = staticmethod(lambda cfg: _print_config(cfg))


_EXTRA_COMMANDS = [generate_commands, plan_command, fuse_command, compare_command]  # sub-commands registered by their workflow modules


def main(argv: list[str] | None = None) -> int:
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
    setup_logging(level=logging.DEBUG if args.verbose else logging.INFO, main=launched_rank() == 0)

    configure(enabled=not args.quiet)
    for h in logging.getLogger("medfx").handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):  # the console only
            h.setLevel(logging.WARNING if args.quiet else logging.NOTSET)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("medfx: interrupted (re-run the same command to resume)", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every error becomes one line; -v shows the traceback
        if args.verbose:
            raise
        print(f"medfx: error: {error_line(e)}", file=sys.stderr)
        return 2
    finally:
        end_distributed()


def error_line(e: BaseException) -> str:
    """One line for any exception: medfx errors as they are, OS errors translated, others labelled."""
    import pickle

    if isinstance(e, MedfxError):
        return str(e)
    os_err = find_os_error(e)
    if os_err is not None:
        return os_error_message(os_err)
    if isinstance(e, pickle.UnpicklingError):
        return f"not a valid or safe file to load ({' '.join(str(e).split())[:200]})"
    if isinstance(e, KeyError):
        return f"missing entry {e.args[0]!r}" if e.args else "missing entry"
    text = " ".join(str(e).split())
    if isinstance(e, (ValueError, RuntimeError, FileNotFoundError)):
        return text or type(e).__name__
    return f"{type(e).__name__}: {text[:300]} (unexpected; re-run with -v for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
