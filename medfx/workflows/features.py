"""Workflows behind ``medfx extract``, ``medfx probe`` and ``medfx gaussianity``.

Everything about one diffusion checkpoint lands next to it by default: ``<run>/features`` (the bank),
``<run>/probe`` (tables and heatmaps) and ``<run>/gaussianity`` (KS map, selection, best-vs-worst probes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..data import load_splits
from ..features.bank import FeatureBank, extract_banks, is_legacy_bank
from ..features.extractor import FeatureExtractor
from ..features.gaussianity import (
    ks_block_map,
    ks_map,
    plot_block_map,
    plot_gaussianity,
    rejected_blocks,
    same_t_pairs,
    select_blocks,
)
from ..models.checkpoint import file_hash, load_backbone, load_checkpoint, stored_config
from ..probes import concat_probe, plot_all_heatmaps, probe_grid
from ..provenance import check_provenance
from ..utils.dataclass_io import to_dict
from ..utils.errors import CheckpointError
from ..utils.fs import check_writable_target, claim_dir, locked
from ..utils.io import write_json
from ..utils.runtime import init_distributed, resolve_device
from .distributed import collective

logger = logging.getLogger("medfx")


def checkpoint_base_config(ckpt_path: str | Path) -> dict:
    """The data, model and diffusion sections stored in a checkpoint (defaults for feature commands; the model
    section makes the block names of ``features.blocks`` checkable before any work starts).

    A checkpoint without a usable stored config (missing, not a mapping, or without ``data`` / ``diffusion``) is
    refused: falling back to defaults would silently use the wrong noise schedule and image size."""
    cfg = stored_config(load_checkpoint(ckpt_path), ckpt_path)
    return {k: cfg[k] for k in ("data", "model", "diffusion") if k in cfg}


def build_bank(cfg, ckpt_path: str | Path, out_dir: str | Path | None = None, progress: bool = True,
               reuse_from=(), dist=None) -> FeatureBank | None:
    """Extract (or reuse) the feature bank of ``ckpt_path`` on ``cfg.data`` with ``cfg.features`` settings
    (``None`` on ranks other than 0 under ``torchrun``; see :func:`build_banks`)."""
    out_dir = Path(out_dir) if out_dir else Path(ckpt_path).parent / "features"
    return build_banks(cfg, ckpt_path, [(out_dir, cfg.features.pool, cfg.features.grid)], progress=progress,
                       reuse_from=reuse_from, dist=dist)[0]


@collective
def build_banks(cfg, ckpt_path: str | Path, outputs, progress: bool = True, reuse_from=(),
                ride_along=(), dist=None) -> list[FeatureBank | None]:
    """Banks of ``cfg.features``'s blocks x timesteps in several poolings (``outputs``, ``ride_along``:
    ``(out_dir, pool, grid)``) from one set of forward passes; banks that already cover a request are reused
    (see ``extract_banks``).

    ``dist``: a ``DistInfo`` of an initialised process group, or ``None`` to start one when launched by
    ``torchrun`` (one process otherwise, as before). Under several ranks every rank computes its share of the
    batches and rank 0 writes the banks (bitwise those of one process); other ranks get ``None`` entries. Inside
    ``medfx run`` rank 0 calls it alone and the other ranks follow (``workflows.distributed.collective``)."""
    fc = cfg.features
    if dist is None:
        dist, device = init_distributed(cfg.run.device)
    else:
        device = resolve_device(cfg.run.device)
        if dist.enabled and device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
    if not dist.enabled:  # (several ranks: extract_banks checks on rank 0 and tells every rank)
        for o in [*outputs, *ride_along]:  # a file or a foreign folder is refused before any work
            check_writable_target(Path(o[0]), "feature bank folder", legacy=is_legacy_bank)
    model, ckpt = load_backbone(ckpt_path, ema=True, device=device)

    stored_config(ckpt, ckpt_path)  # a checkpoint without a usable stored config is refused, never defaulted
    check_provenance(cfg, ckpt, ckpt_path)  # cfg's data/diffusion equal the checkpoint's (or deliberately not)
    diffusion = cfg.diffusion
    splits = load_splits(cfg.data)
    from ..models.autoencoder import latent_of_checkpoint

    latent = latent_of_checkpoint(ckpt, ckpt_path, device=device)
    _check_latent_settings(cfg, latent, ckpt_path)
    if latent is not None:  # latent diffusion: the extractor reads (and noises) the encoded images
        from .latent import encode_splits

        logger.info("latent checkpoint: encoding %d images with %s", sum(len(s) for s in splits.values()),
                    latent.path)
        splits = encode_splits(latent, splits, batch_size=fc.batch_size)
    shape = tuple(next(iter(splits.values()))[0][0].shape[1:])
    if len(shape) != model.spatial_dims:
        raise CheckpointError(f"{ckpt_path}: a {model.spatial_dims}D model cannot read the {len(shape)}D images of "
                              f"{cfg.data.path}")
    expected = tuple(model.config.img_size) if hasattr(model.config, "img_size") else None
    if expected is not None and expected != shape:
        raise CheckpointError(f"{ckpt_path}: the model expects {expected} images but data.size gives {shape}")
    ext = FeatureExtractor(model, diffusion, blocks=list(fc.blocks) or None, timesteps=list(fc.timesteps),
                           pool=fc.pool, seed=fc.seed, grid=fc.grid, noise_draws=fc.noise_draws, clean=fc.clean,
                           precision=fc.precision, random_t=fc.random_t, flip_axis=fc.flip_axis)
    settings = {"checkpoint_sha": file_hash(ckpt_path), "data": to_dict(cfg.data)}
    if dist.enabled and fc.precision == "auto":  # measured on rank 0: every rank must use the same dtype
        from ..utils.distributed import broadcast
        from ..utils.hardware import PrecisionDecision

        d = broadcast(ext.resolve_precision(tuple(next(iter(splits.values()))[0][0].shape)).to_dict()
                      if dist.is_main else None, dist)
        ext.precision_decision = PrecisionDecision(d["precision"], d["reason"], d["requested"], str(device),
                                                   d["measured"])
    precision = ext.resolve_precision(tuple(next(iter(splits.values()))[0][0].shape))
    logger.info("feature extraction precision: %s%s", precision,
                f" ({dist.world_size} ranks)" if dist.enabled else "")
    if precision.name != "fp32":  # fp32 banks keep the keys they had before precision could be chosen
        settings["precision"] = precision.name
    return extract_banks(model, ext, splits, outputs, settings, batch_size=fc.batch_size, progress=progress,
                         reuse_from=reuse_from, ride_along=ride_along, dist=dist)


def _check_latent_settings(cfg, latent, ckpt_path) -> None:
    """Explicit ``latent.*`` settings must agree with the checkpoint (latent or not; the same autoencoder file)."""
    from ..models.provenance import ProvenanceError
    from ..utils.io import file_digest

    lc = getattr(cfg, "latent", None)
    if lc is None or not lc.enabled:
        return
    if latent is None:
        raise ProvenanceError(f"latent.enabled=true contradicts checkpoint {ckpt_path}: a pixel-space diffusion model "
                              "(no autoencoder recorded); drop latent.enabled or use a latent checkpoint")
    if lc.autoencoder and Path(lc.autoencoder).is_file() and file_digest(lc.autoencoder) != latent.sha256:
        raise ProvenanceError(f"latent.autoencoder={lc.autoencoder} contradicts checkpoint {ckpt_path} (trained with "
                              f"the autoencoder of sha256 {latent.sha256[:16]}..., {latent.path}); drop the setting")


def run_probe(cfg, bank: FeatureBank, out_dir: str | Path, progress: bool = True):
    """Probe grid over the bank; writes ``probe_grid.csv/json``, one heatmap per metric and ``best.json``."""
    out_dir = Path(out_dir)
    with locked(out_dir, "probe output"):
        claim_dir(out_dir, "probe output folder", legacy=lambda p: (p / "probe_grid.json").is_file())
        return _run_probe(cfg, bank, out_dir, progress)


def _run_probe(cfg, bank: FeatureBank, out_dir: Path, progress: bool):
    pc = cfg.probe
    C = "auto" if pc.C == "auto" else float(pc.C)
    k = len(bank.class_names) or None
    result = probe_grid(bank, bank.labels, bank.split, mode=pc.mode, folds=pc.folds, seed=pc.seed, C=C,
                        num_classes=k, select_metric=pc.select_metric, name=Path(cfg.data.path).name,
                        progress=progress)
    result.to_csv(out_dir / "probe_grid.csv")
    result.to_json(out_dir / "probe_grid.json")
    plot_all_heatmaps(result, out_dir)
    best = result.best()
    chosen_by = f"val {pc.select_metric}" if pc.mode == "holdout" else f"{result.score_label} {pc.select_metric}"
    write_json(out_dir / "best.json", {"block": best[0], "t": best[1], "chosen_by": chosen_by, "mode": pc.mode,
                                       "score_on": result.score_label, "row": result.row(*best)})
    return result


def run_gaussianity(cfg, bank: FeatureBank, out_dir: str | Path) -> dict:
    """KS map, selection of non-Gaussian (block, t), and probes on selected vs rejected blocks."""
    out_dir = Path(out_dir)
    with locked(out_dir, "Gaussianity output"):
        claim_dir(out_dir, "Gaussianity output folder", legacy=lambda p: (p / "ks_map.json").is_file())
        return _run_gaussianity(cfg, bank, out_dir)


def _run_gaussianity(cfg, bank: FeatureBank, out_dir: Path) -> dict:
    gc, pc = cfg.gaussianity, cfg.probe
    result = ks_map(bank, split=bank.split, use_split="train", alpha=gc.alpha, max_dims=gc.max_dims,
                    aggregate=gc.aggregate, seed=pc.seed)
    result.to_csv(out_dir / "ks_map.csv")
    result.to_json(out_dir / "ks_map.json")
    plot_gaussianity(result, out_dir / "ks_pvalues.png", alpha=gc.alpha)
    selected = select_blocks(result, alpha=gc.alpha, top_k=gc.top_k, t=gc.t)
    rejected = rejected_blocks(result, alpha=gc.alpha, top_k=len(selected), t=gc.t)
    C = "auto" if pc.C == "auto" else float(pc.C)
    k = len(bank.class_names) or None
    pv = {(b, t): p for b, row in zip(result.blocks, result.matrix("pvalue")) for t, p in zip(result.timesteps, row)}
    passed = [key for key in selected if pv.get(tuple(key), 1.0) < gc.alpha]
    summary = {"alpha": gc.alpha, "selected": [list(x) for x in selected], "rejected": [list(x) for x in rejected],
               # no key reached p < alpha: "selected" are only the least Gaussian keys, not non-Gaussian ones
               "fallback": len(passed) == 0,
               "selected_pvalues": [pv.get(tuple(key)) for key in selected]}
    summary["selected_probe"] = concat_probe(bank, selected, bank.labels, bank.split, mode=pc.mode,
                                             folds=pc.folds, seed=pc.seed, C=C, num_classes=k)
    if rejected:
        summary["rejected_probe"] = concat_probe(bank, rejected, bank.labels, bank.split, mode=pc.mode,
                                                 folds=pc.folds, seed=pc.seed, C=C, num_classes=k)
    # controlled for t: selected vs rejected blocks at the same timestep, and the per-block map over all t
    by_t = same_t_pairs(result, alpha=gc.alpha, top_k=gc.top_k or 3)
    for row in by_t:
        if not row["usable"]:
            continue
        for name in ("selected", "rejected"):
            row[f"{name}_probe"] = concat_probe(bank, [tuple(x) for x in row[name]], bank.labels, bank.split,
                                                mode=pc.mode, folds=pc.folds, seed=pc.seed, C=C, num_classes=k)
        row["delta"] = {m: _diff(row["selected_probe"].get(f"{m}_mean"), row["rejected_probe"].get(f"{m}_mean"))
                        for m in ("acc", "bacc", "f1", "auc")}
    summary["by_t"] = by_t
    deltas = [r["delta"]["auc"] for r in by_t if r.get("delta") and r["delta"]["auc"] is not None]
    summary["same_t_delta_auc_mean"] = float(np.mean(deltas)) if deltas else None
    summary["same_t_positive"] = f"{sum(d > 0 for d in deltas)}/{len(deltas)}"
    block_map = ks_block_map(bank, split=bank.split, use_split="train", alpha=gc.alpha, max_dims=gc.max_dims,
                             aggregate=gc.aggregate, seed=pc.seed)
    summary["block_map"] = block_map
    write_json(out_dir / "ks_by_block.json", block_map, indent=1)
    plot_block_map(block_map, out_dir / "ks_by_block.png", alpha=gc.alpha)
    write_json(out_dir / "selection.json", summary)
    return {"result": result, **summary}


def _diff(a, b):
    if a is None or b is None:
        return None
    return float(a) - float(b)

