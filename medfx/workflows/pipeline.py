"""``medfx run``: every stage of the method, resumable stage by stage, in one run directory.

    <run>/ddpm/                 pretraining run (checkpoints, loss curve, samples)     stage "pretrain"
    <run>/ddpm-finetune/        optional generative fine-tuning on the target data    stage "finetune"
    <run>/features/             pooled feature bank (features.pool)                   stage "extract"
    <run>/features_grid/        grid-pooled maps (heads.grid) of every (block, t),    stage "extract"
                                from the same forward passes (when cats/dcube run)
    <run>/probe/                probe grid tables + heatmaps                          stage "probe"
    <run>/gaussianity/          KS map, selected / rejected blocks                    stage "gaussianity"
    <run>/heads/<method>/seed<k>/{model.pt, metrics.json, confusion.png, roc.png}
    <run>/results.json          mean and sd over seeds per method, params, wall time
    <run>/report.html           self-contained report                                 stage "report"
    <run>/stages/<stage>.json   marks a finished stage (delete it to redo the stage)

Every choice (C of the probes, best (block, t), epochs of the heads) uses validation data only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..config import ExperimentConfig, ModelConfig, check_cross_fields, config_from_dict, save_config
from ..data import DataError, load_splits, validate
from ..data.check import CheckConfig, DecodedHashes, check_data, default_cache_dir, write_split_manifest
from ..data.config import DataConfig
from ..data.datasets import build_catalog
from ..data.pool import load_pool, pool_overlap
from ..data.rows import DatasetRows
from ..diffusion.schedule import DiffusionConfig
from ..features.bank import FeatureBank, bank_key
from ..features.extractor import FeaturesConfig
from ..features.gaussianity import ks_map, select_blocks
from ..generate import mixed_training_set
from ..generate.sample import read_manifest
from ..heads import (
    CATSHead,
    ClassifierData,
    DCubeHead,
    DCubeLoss,
    HeadTrainConfig,
    fit_classifier,
    load_classifier,
    predict_proba,
    save_classifier,
)
from ..heads.ablations import DCubeAblation
from ..heads.cats import paper3d_cats_config, plot_mixing_weights
from ..heads.dcube import _cycle_active
from ..heads.trainer import train_settings
from ..metrics.classification import METRIC_NAMES, classification_metrics, plot_confusion, plot_roc
from ..metrics.threshold import apply_threshold, tune_threshold
from ..models import count_parameters
from ..models.baselines import build_baseline
from ..models.checkpoint import load_backbone, load_checkpoint, stored_config
from ..probes import ProbeGridResult, probe_grid
from ..probes.grid import cv_label, refit_test
from ..probes.linear import LinearProbe
from ..provenance import check_provenance
from ..report import build_report
from ..report.html import label
from ..report.tables import format_results_table, write_predictions, write_results_csv, write_uncertainty
from ..utils.dataclass_io import from_dict, to_dict
from ..utils.fs import check_writable_target, claim_dir, locked, looks_like_run_dir, remove_owned
from ..utils.io import jsonable, write_json
from ..utils.provenance import git_revision, versions
from ..utils.runtime import init_distributed
from ..utils.torch_io import safe_torch_load
from .console import SeedETA, StageHeaders, fmt_s
from .distributed import collective, follow, lead
from .features import build_bank, build_banks, run_gaussianity, run_probe
from .generate import synthesize
from .logs import log_to_file
from .tracking import LiveTensorBoard, export_all, file_store_blocked, head_hparams
from .train import pretrain as train_diffusion

logger = logging.getLogger("medfx")


def _done(run_dir: Path, stage: str) -> dict | None:
    f = run_dir / "stages" / f"{stage}.json"
    return json.loads(f.read_text()) if f.is_file() else None


_STAGE_T0: dict[str, float] = {}


def _restart_clock(run_dir: Path) -> None:
    """A stage was reused (not re-marked): the next stage's time starts now."""
    _STAGE_T0[str(run_dir)] = time.perf_counter()


def _mark(run_dir: Path, stage: str, info: dict) -> dict:
    """Mark ``stage`` finished; records its wall time (since the previous mark of this session) and the time."""
    from datetime import datetime, timezone

    (run_dir / "stages").mkdir(parents=True, exist_ok=True)
    now = time.perf_counter()
    t0 = _STAGE_T0.get(str(run_dir), now)
    info = {**info, "wall_time_s": now - t0, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _STAGE_T0[str(run_dir)] = now
    write_json(run_dir / "stages" / f"{stage}.json", info)
    return info


def stage_times(run_dir: Path) -> dict[str, float]:
    """Wall time per finished stage (seconds, from ``stages/*.json``; stages reused from an earlier session keep
    the time of the session that ran them)."""
    out = {}
    for f in sorted((Path(run_dir) / "stages").glob("*.json")):
        t = json.loads(f.read_text()).get("wall_time_s")
        if t is not None:
            out[f.stem] = float(t)
    return out


def _sub_cfg(cfg: ExperimentConfig, **sections) -> ExperimentConfig:
    return dataclasses.replace(cfg, **sections)


def run_pipeline(cfg: ExperimentConfig, progress: bool = True) -> Path | None:
    """Run the stages listed in ``cfg.pipeline.stages``; returns the run directory.

    Under ``torchrun`` rank 0 runs the pipeline and writes everything; the other ranks follow it into the DDPM
    training (DDP), every feature extraction and the synthetic sampling, which are sharded over all ranks, and
    return ``None``."""

    run_dir = Path(cfg.run.out_dir) / cfg.run.name
    dist, _ = init_distributed(cfg.run.device)
    if not dist.is_main:
        follow(dist)
        return None
    with lead(dist):
        check_writable_target(run_dir, "run directory (run.out_dir / run.name)", legacy=looks_like_run_dir)
        with locked(run_dir, "run directory"):
            return _run_pipeline(cfg, run_dir, progress)


def _run_pipeline(cfg: ExperimentConfig, run_dir: Path, progress: bool) -> Path:

    stages = cfg.pipeline.stages
    t_start = time.perf_counter()
    _validate_inputs(cfg)
    logger.debug("inputs validated in %.2f s", time.perf_counter() - t_start)
    claim_dir(run_dir, "run directory (run.out_dir / run.name)", legacy=looks_like_run_dir)
    with log_to_file(run_dir / "pipeline.log"):
        return _run_stages(cfg, run_dir, stages, progress, t_start)


def _run_stages(cfg: ExperimentConfig, run_dir: Path, stages, progress: bool, t_start: float) -> Path:
    save_config(cfg, run_dir / "config.yaml")

    _STAGE_T0[str(run_dir)] = time.perf_counter()
    env = {**versions(), "git_revision": git_revision()}
    write_json(run_dir / "versions.json", env)
    _check_data(cfg, run_dir)
    headers = StageHeaders(planned_stages(cfg), stage_times(run_dir))

    tb = LiveTensorBoard(run_dir) if cfg.pipeline.tensorboard else None  # <run>/tb, part by part as stages end

    ckpt = _stage_diffusion(cfg, run_dir, stages, headers)
    bank = None
    if {"extract", "probe", "gaussianity", "heads"} & set(stages):
        headers.start("extract", "feature bank")
        bank = _stage_extract(cfg, ckpt, run_dir, stages, progress)
    probe = gauss = None
    if "probe" in stages or ("heads" in stages and not cfg.heads.label_budgets):  # budgets refit their probes
        headers.start("probe", "linear probes over blocks x timesteps")
        probe = _stage_probe(cfg, bank, run_dir, progress)
        if tb is not None:
            tb.probe()
    if "gaussianity" in stages or "heads" in stages:
        headers.start("gaussianity", "KS map")
        gauss = _stage_gaussianity(cfg, bank, run_dir)
        if tb is not None:
            tb.gaussianity()
    if "heads" in stages:
        headers.start("heads", f"{len(cfg.heads.methods)} methods x {len(cfg.heads.seeds)} seeds")
        if cfg.heads.label_budgets:
            from .label_budgets import run_label_budgets

            results = run_label_budgets(cfg, ckpt, bank, gauss, run_dir, progress, tb)
            _mark(run_dir, "heads", {"methods": list(cfg.heads.methods),
                                     "label_budgets": [str(b) for b in cfg.heads.label_budgets]})
        elif cfg.heads.cv_folds:
            _stage_heads_cv(cfg, ckpt, bank, run_dir, progress, tb)
        else:
            results = _stage_heads(cfg, ckpt, bank, probe, gauss, run_dir, progress, tb)
            _log_results_table(run_dir, results)
    if "report" in stages:

        headers.start("report")
        _write_done(run_dir, env, t_start)
        path = build_report(run_dir)
        _mark(run_dir, "report", {"report": str(path)})
        logger.info("report: %s", path)
    _write_done(run_dir, env, t_start)
    export_all(run_dir, cfg, tb)  # TensorBoard parts not logged yet and, with pipeline.mlflow=true, MLflow
    logger.info("pipeline finished in %.1f s: %s", time.perf_counter() - t_start, run_dir)
    return run_dir


def planned_stages(cfg: ExperimentConfig) -> list[str]:
    """The stages this run goes through, in order (for the ``[k/N]`` headers)."""
    s = set(cfg.pipeline.stages)
    out = []
    if not cfg.pipeline.checkpoint:
        out.append("pretrain")
    if cfg.pipeline.finetune_steps > 0 and "finetune" in s:
        out.append("finetune")
    if {"extract", "probe", "gaussianity", "heads"} & s:
        out.append("extract")
    if {"probe", "heads"} & s:
        out.append("probe")
    if {"gaussianity", "heads"} & s:
        out.append("gaussianity")
    out += [x for x in ("heads", "report") if x in s]
    return out


def _log_results_table(run_dir: Path, results: dict) -> None:

    unc = json.loads((run_dir / "uncertainty.json").read_text()) if (run_dir / "uncertainty.json").is_file() else None
    logger.info("%s", format_results_table(results, unc, labels={m: label(m) for m in results.get("methods", {})}))


def _write_done(run_dir: Path, env: dict, t_start: float) -> None:
    """``done.json``: wall time of this session, per-stage times, host and versions."""
    write_json(run_dir / "done.json", {"wall_time_s": time.perf_counter() - t_start, "host": env.get("host"),
                                        "stage_times_s": stage_times(run_dir), "versions": env})


def _check_data(cfg: ExperimentConfig, run_dir: Path) -> None:
    """``<run>/splits.csv`` (the exact split) and ``<run>/data_check.json`` (duplicates of the target data, and of
    ``pipeline.pretrain_data`` against it); a val/test leak warns, or stops the run with ``data.leakage=error``."""

    write_split_manifest(cfg.data, run_dir / "splits.csv", cache_dir=default_cache_dir())
    if cfg.data.leakage == "off":
        return
    against = list(cfg.pipeline.pool_paths)
    res = check_data(cfg.data, against=against, cache_dir=default_cache_dir())
    write_json(run_dir / "data_check.json", res.to_dict())
    msg = res.leak_message()
    if msg and cfg.data.leakage == "error":
        raise ValueError(msg + "; de-duplicate with `medfx data check --dedup` or set data.leakage=warn")
    if msg:
        logger.warning("%s", msg)


def _decoded_hashes(cfg: ExperimentConfig):
    """The data check's hashes of the images ``_validate_inputs`` decodes (split manifest, and the check unless
    ``data.leakage=off``), so each file is decoded once; None where the check reads files differently."""

    if cfg.data.orientation or cfg.data.spacing:
        return None
    return DecodedHashes(default_cache_dir(), [CheckConfig(near=False)] + [CheckConfig()] * (cfg.data.leakage != "off"))


def check_config(cfg: ExperimentConfig) -> None:
    """Cross-field checks of a pipeline config, against ``run.checkpoint``'s model and diffusion when given."""

    if cfg.pipeline.checkpoint is None:
        check_cross_fields(cfg)
        return

    stored = load_checkpoint(cfg.pipeline.checkpoint).get("config") or {}
    model = from_dict(ModelConfig, stored["model"]) if "model" in stored else None
    diffusion = from_dict(DiffusionConfig, stored["diffusion"]) if "diffusion" in stored else None
    check_cross_fields(cfg, model, diffusion, source=str(cfg.pipeline.checkpoint))


def _validate_inputs(cfg: ExperimentConfig) -> None:
    """Fail before creating anything when the data, a given checkpoint or a weights file is unusable.

    Decodes every item of every split once (a truncated image body or a NaN volume in val/test fails here, not
    after pretraining), checks that each split keeps at least two classes after ``data.max_per_split``, that a
    given checkpoint has a usable stored config, and that ``heads.dcube_pretrained`` is a safe state dict."""

    if cfg.pipeline.checkpoint is not None:

        stored = load_checkpoint(cfg.pipeline.checkpoint)
        stored_config(stored, cfg.pipeline.checkpoint)
        check_provenance(cfg, stored, cfg.pipeline.checkpoint)
    check_config(cfg)

    if cfg.pipeline.mlflow:
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:
            raise ValueError("pipeline.mlflow=true needs MLflow: pip install 'medfx[mlflow]' (or mlflow-skinny)")

        if file_store_blocked(cfg.pipeline.mlflow_uri):
            raise ValueError("pipeline.mlflow=true: MLflow 3 refuses local file stores (the default <run>/mlruns) "
                             "unless MLFLOW_ALLOW_FILE_STORE=true; set it, or pipeline.mlflow_uri to a server or "
                             "sqlite:///path/mlflow.db")
    splits = load_splits(cfg.data)
    for s in ("train", "val", "test"):
        if s not in splits:
            raise DataError(f"{cfg.data.path}: the pipeline needs train, val and test splits (missing {s!r}); "
                            "set data.val_fraction / data.test_fraction")
    needs_labels = bool({"probe", "gaussianity", "heads"} & set(cfg.pipeline.stages))
    hashes = _decoded_hashes(cfg)  # the data check (_check_data) then reads these instead of decoding again
    for s in ("train", "val", "test"):
        ds = splits[s]
        validate(ds, on_decoded=hashes)
        if needs_labels:
            labels = np.asarray(ds.labels)
            present = np.unique(labels[labels >= 0])
            if (labels < 0).any():
                raise DataError(f"{cfg.data.path}: the {s} split has unlabelled items; probes and heads need labels")
            if len(present) < 2:
                names = ds.class_names or [str(i) for i in range(int(labels.max()) + 1)]
                only = names[present[0]] if len(present) else "none"
                hint = f" after data.max_per_split={cfg.data.max_per_split}" if cfg.data.max_per_split else ""
                raise DataError(f"{cfg.data.path}: the {s} split has only class {only!r} ({len(ds)} items){hint}; "
                                "probes and heads need at least two classes in every split")
    if hashes is not None:
        hashes.close()
    if needs_labels and cfg.heads.decision == "val_threshold":
        k = len(splits["train"].class_names or []) or int(np.asarray(splits["train"].labels).max()) + 1
        if k != 2:
            raise DataError(f"{cfg.data.path}: heads.decision=val_threshold needs a binary task, this one has {k} "
                            "classes; use heads.decision=argmax")
    if "dcube" in cfg.heads.methods and cfg.heads.dcube_pretrained and "heads" in cfg.pipeline.stages:

        safe_torch_load(cfg.heads.dcube_pretrained, "pretrained ResNet state dict (heads.dcube_pretrained)")
    if cfg.pipeline.pool_paths:

        if cfg.model.conditional:
            raise DataError("pipeline.pretrain_data is an unlabelled pool; it cannot train a class-conditional "
                            "DDPM (model.conditional=true)")
        if cfg.contrastive.weight > 0:
            raise DataError("pipeline.pretrain_data is an unlabelled pool; the contrastive loss needs labels")
        for p in cfg.pipeline.pool_paths:
            build_catalog(dataclasses.replace(cfg.data, path=p))  # a clear error naming a bad pool dataset


def _stage_diffusion(cfg, run_dir: Path, stages, headers=None) -> Path:

    start = headers.start if headers is not None else (lambda *a: None)
    if cfg.pipeline.checkpoint:
        ckpt = Path(cfg.pipeline.checkpoint)
    else:
        ckpt = run_dir / "ddpm" / "last.pt"
        start("pretrain", f"DDPM, {cfg.train.steps} steps")
        if "pretrain" in stages or not ckpt.exists():
            pre = _sub_cfg(cfg, run=dataclasses.replace(cfg.run, out_dir=str(run_dir), name="ddpm"))
            info = {"checkpoint": str(ckpt)}
            before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
            if cfg.pipeline.pool_paths:
                pool, info["pool"] = _unlabelled_pool(cfg)
                pre = _sub_cfg(pre, data=dataclasses.replace(cfg.data, path=cfg.pipeline.pool_paths[0]))
                train_diffusion(pre, train_data=pool, tensorboard=cfg.pipeline.tensorboard)
            else:
                train_diffusion(pre, tensorboard=cfg.pipeline.tensorboard)
            if before is not None and ckpt.stat().st_mtime_ns == before and _done(run_dir, "pretrain"):
                _restart_clock(run_dir)  # already finished: nothing was trained in this session
            else:
                _mark(run_dir, "pretrain", info)
    if cfg.pipeline.finetune_steps > 0 and ("finetune" in stages or (run_dir / "ddpm-finetune").exists()):
        ft = _sub_cfg(cfg, run=dataclasses.replace(cfg.run, out_dir=str(run_dir), name="ddpm-finetune"),
                      train=dataclasses.replace(cfg.train, steps=cfg.pipeline.finetune_steps))
        start("finetune", f"{cfg.pipeline.finetune_steps} steps")
        train_diffusion(ft, init_from=ckpt, tensorboard=cfg.pipeline.tensorboard)
        ckpt = run_dir / "ddpm-finetune" / "last.pt"
        _mark(run_dir, "finetune", {"checkpoint": str(ckpt)})
    _warn_small_pool(cfg, ckpt)
    return ckpt


def _unlabelled_pool(cfg):
    """Every image of ``pipeline.pretrain_data`` minus those duplicating a target val / test image."""

    pool = load_pool(cfg.data, cfg.pipeline.pool_paths)
    splits = load_splits(cfg.data)
    hits = pool_overlap(pool, [splits[s] for s in ("val", "test") if s in splits])
    info = {"datasets": list(cfg.pipeline.pool_paths), "n_images": len(pool), "overlap_with_target_val_test":
            len(hits), "overlap_rule": "identical tensors or 8x8 thumbnail cosine >= 0.995", "action":
            cfg.pipeline.pool_overlap}
    if len(hits):
        msg = (f"{len(hits)} of {len(pool)} pool images duplicate or nearly duplicate a validation / test image "
               f"of {cfg.data.path} (first: {pool.ids[hits[0]]})")
        if cfg.pipeline.pool_overlap == "error":
            raise DataError(msg + "; set pipeline.pool_overlap=drop to remove them")
        if cfg.pipeline.pool_overlap == "drop":
            pool = pool.without(hits)
            msg += "; removed from the pool"
        logger.warning(msg)
    info["n_used"] = len(pool)
    logger.info("unlabelled pool: %d images from %s", len(pool), ", ".join(cfg.pipeline.pool_paths))
    return pool, info


def pool_size_of(ckpt) -> int | None:
    """Images the DDPM of ``ckpt`` was trained on: stored in the checkpoint, else its data's training split."""

    try:
        ck = load_checkpoint(ckpt)
        n = (ck.get("extra") or {}).get("n_images")
        if n is not None:
            return int(n)

        return len(load_splits(from_dict(DataConfig, ck["config"]["data"]))["train"])
    except Exception:  # noqa: BLE001 - the warning is advisory
        return None


def _warn_small_pool(cfg, ckpt) -> None:
    """Advisory: few unlabelled images gave no reliable few-label gain in the measurements cited in README."""
    n = pool_size_of(ckpt)
    if n is not None and n < cfg.pipeline.pool_warn_below:
        logger.warning("the DDPM was trained on %d unlabelled images (< pipeline.pool_warn_below=%d): in the "
                       "measurements so far (README, 'Label efficiency') pools this small gave no reliable "
                       "few-label gain over a ResNet-18; the threshold is provisional", n,
                       cfg.pipeline.pool_warn_below)


def _stage_extract(cfg, ckpt, run_dir: Path, stages, progress: bool):
    """The pooled bank of ``cfg.features`` for the probe grid and the KS map and, when the heads will read
    feature maps, the grid bank of every (block, t) from the SAME forward passes (one pass per image and t):
    which keys the heads read is only known after the probe and KS stages, and any key can be chosen."""

    fc, hc = cfg.features, cfg.heads
    ride = []
    if "heads" in stages and {"cats", "dcube", "dcube_feats", "dcube_cnn"} & set(hc.methods) \
            and not (fc.pool == "grid" and fc.grid == hc.grid):
        ride = [(run_dir / "features_grid", "grid", hc.grid)]
    banks = build_banks(cfg, ckpt, [(run_dir / "features", fc.pool, fc.grid)], ride_along=ride, progress=progress)
    bank = banks[0]
    if (_done(run_dir, "extract") or {}).get("bank_key") == bank.meta["key"]:
        _restart_clock(run_dir)  # reused: keep the time of the session that built it
        return bank
    _mark(run_dir, "extract", {"bank": str(bank.path), "keys": len(bank), "bank_key": bank.meta["key"],
                               "grid_bank": str(banks[1].path) if len(banks) > 1 and banks[1] is not None else None})
    return bank


def _stage_probe(cfg, bank, run_dir: Path, progress: bool):

    done = _done(run_dir, "probe")
    if done and done.get("bank_key") == bank.meta["key"]:
        _restart_clock(run_dir)
        return ProbeGridResult.from_json(run_dir / "probe" / "probe_grid.json")
    res = run_probe(cfg, bank, run_dir / "probe", progress=progress)
    _mark(run_dir, "probe", {"bank_key": bank.meta["key"], "best": list(res.best())})
    return res


def _stage_gaussianity(cfg, bank, run_dir: Path) -> dict:

    done = _done(run_dir, "gaussianity")
    if done and done.get("bank_key") == bank.meta["key"]:
        _restart_clock(run_dir)
        return json.loads((run_dir / "gaussianity" / "selection.json").read_text())
    summary = run_gaussianity(cfg, bank, run_dir / "gaussianity")
    summary = {k: v for k, v in summary.items() if k != "result"}
    _mark(run_dir, "gaussianity", {"bank_key": bank.meta["key"], "selected": summary["selected"]})
    return summary


# -- heads and baselines -------------------------------------------------------------------------------
def cats_inputs(probe, hc) -> list[tuple[str, int]]:
    """The (block, t) inputs of the CATS head: ``heads.cats_inputs`` cells (one per block), or with
    ``heads.cats_preset=paper`` the top-3 blocks, each at its top-3 timesteps by validation AUC (9 inputs)."""
    if hc.cats_preset != "paper":
        return _cats_keys(probe, hc.cats_inputs)
    ranked = _by_val_auc(probe)
    keys = []
    for b, _ in _cats_keys(probe, 3):
        keys += [(b, t) for bb, t in ranked if bb == b][:3]
    return keys


def _by_val_auc(probe) -> list[tuple[str, int]]:
    """Every (block, t) of the probe grid by validation AUC, best first: ``ProbeGridResult.top``'s order (ties in
    network order, then the smaller t; cells without a finite score last)."""
    return [(b, int(t)) for b, t in probe.top(len(probe.blocks) * len(probe.timesteps), metric="auc")]


def _cats_keys(probe, k: int) -> list[tuple[str, int]]:
    """Top-k (block, t) by validation AUC, at most one per block (then the next-best blocks)."""
    keys, blocks = [], set()
    for b, t in _by_val_auc(probe):
        if b not in blocks:
            keys.append((b, t))
            blocks.add(b)
        if len(keys) == k:
            break
    return keys


def _grid_bank(cfg, ckpt, keys, run_dir, progress, flip: int | None = None):
    """Grid-pooled maps of ``keys`` (``flip``: of the images mirrored along that spatial axis)."""

    blocks = sorted({b for b, _ in keys})
    ts = sorted({t for _, t in keys})
    fc = dataclasses.replace(cfg.features, blocks=tuple(blocks), timesteps=tuple(ts), pool="grid",
                             grid=cfg.heads.grid, flip_axis=flip)
    FeaturesConfig(**dataclasses.asdict(fc))  # validate
    # the extract stage wrote every key's maps in its pass; any bank holding these keys is reused as it is
    # (the flipped-image bank has other settings, so it is never taken for the plain one)
    out = run_dir / ("features_grid" if flip is None else "features_grid_flipped")
    return build_bank(_sub_cfg(cfg, features=fc), ckpt, out, progress=progress, reuse_from=[run_dir / "features"])


def _classifier_data(bank, keys, images, split, flip_bank=None, in_memory: bool = False):
    """The rows of ``split`` (a split name, a boolean mask or row indices) as ``ClassifierData``: the grid maps
    of ``keys`` and the images are read batch by batch from the bank's files and the image source, or with
    ``in_memory`` (``heads.in_memory``) into tensors now."""

    m = bank.mask(split) if isinstance(split, str) else np.asarray(split)
    rows = np.flatnonzero(m) if m.dtype == bool else m
    feats = {k: bank.rows(k).take(rows) for k in keys} if keys else None
    flip = {k: flip_bank.rows(k).take(rows) for k in keys} if keys and flip_bank is not None else None
    imgs = None
    if images is not None:
        imgs = images[torch.from_numpy(rows)] if isinstance(images, torch.Tensor) else images.take(rows)
    data = ClassifierData(torch.from_numpy(bank.labels[rows]), feats, imgs, flip)
    return data.in_memory() if in_memory else data


def _load_images(cfg, bank, in_memory: bool | None = None):
    """Every image of train, val and test in bank order, read on demand (``medfx.data.rows.DatasetRows``: one
    batch at a time), or decoded into one tensor with ``in_memory`` (default: ``heads.in_memory``)."""

    splits = load_splits(cfg.data)
    ds = [splits[s] for s in ("train", "val", "test")]
    if [str(i) for d in ds for i in d.ids] != bank.ids:
        raise RuntimeError("the data changed since the feature bank was built; delete the bank to rebuild it")
    images = DatasetRows(ds)
    return images.load() if (cfg.heads.in_memory if in_memory is None else in_memory) else images


def flip_axis(cfg, spatial_dims: int) -> int:
    """The spatial axis of flips: ``heads.flip_axis``, or for "auto" the last axis in 2D (image width) and in 3D
    the axis whose ``data.orientation`` code is L or R (the last axis, with a warning, without an orientation)."""
    v = cfg.heads.flip_axis
    if v != "auto":
        a = int(v)
        if not -spatial_dims <= a < spatial_dims:
            raise ValueError(f"heads.flip_axis={v} is not a spatial axis of {spatial_dims}D images")
        return a
    if spatial_dims == 2:
        return -1
    codes = cfg.data.orientation
    if codes:
        return next(i for i, c in enumerate(codes) if c in "LR")
    logger.warning("3D flips without data.orientation: mirroring the last axis, which is not left-right for RAS "
                   "volumes; set data.orientation or heads.flip_axis")
    return -1


def head_train_config(cfg, seed: int, baseline: bool, axis: int = -1):
    """The harness settings of one classifier run: ``cfg.heads`` for feature heads, ``baseline_*`` for CNNs;
    ``axis`` is the spatial flip axis (see :func:`flip_axis`)."""

    hc = cfg.heads
    shared = {f.name: getattr(hc, f.name) for f in dataclasses.fields(HeadTrainConfig) if hasattr(hc, f.name)}
    return HeadTrainConfig(**{**shared, "epochs": hc.baseline_epochs if baseline else hc.epochs,
                              "lr": hc.baseline_lr if baseline else hc.lr, "seed": seed, "device": cfg.run.device,
                              "flip_axis": axis})


def build_method(name: str, cfg, in_shapes: dict, spatial_dims: int, k: int):

    hc = cfg.heads
    if name == "cats":
        if hc.cats_preset == "paper":

            kw = {x: v for x, v in paper3d_cats_config(k).items() if x not in ("in_shapes", "num_classes")}
            return CATSHead(in_shapes, k, **{**kw, "norm": hc.cats_norm})
        return CATSHead(in_shapes, k, width=hc.cats_width, depth=hc.cats_depth, pool_grid=hc.grid, norm=hc.cats_norm)
    dcube_kw = {"fuse_channels": hc.dcube_fuse, "resnet": hc.dcube_resnet, "pretrained_path": hc.dcube_pretrained,
                "resnet_widen_factor": hc.dcube_widen, "fusion": hc.dcube_fusion,
                "imagenet_stem": hc.dcube_imagenet_stem, "feature_norm": hc.dcube_feature_norm}
    if name == "dcube":
        return DCubeHead(in_shapes, k, **dcube_kw)
    if name in ("dcube_feats", "dcube_cnn"):  # ablations of the label-budget harness

        return DCubeAblation(in_shapes, k, branch="feats" if name == "dcube_feats" else "image", **dcube_kw)
    return build_baseline(name.removesuffix("+synth"), spatial_dims, k)


def fit_and_score(model, tr, va, te, tcfg, *, decision: str = "argmax", loss_fn=None, progress: bool = False,
                  on_epoch=None) -> dict:
    """Train one classifier (``fit_classifier``: the epoch is chosen on ``va``) and score it on ``te``; the shared
    core of the heads stage, its CV variant and the label-budget harness.

    ``decision="val_threshold"`` (binary tasks): the threshold on the class-1 probability that maximises
    validation balanced accuracy (``medfx.metrics.threshold``) replaces argmax at 0.5; the returned
    probabilities are shifted so that their argmax is that decision (AUC unchanged). Returns ``fit``, ``proba``
    (``{"val", "test"}``), ``threshold`` (None for argmax) and ``metrics`` (``classification_metrics`` on ``te``).
    """

    if hasattr(model, "fit_feature_stats"):  # heads that standardise their inputs, on the training rows only
        model.fit_feature_stats(tr)
    fit = fit_classifier(model, tr, va, tcfg, loss_fn=loss_fn, progress=progress, on_epoch=on_epoch)
    proba = {"val": predict_proba(fit.model, va), "test": predict_proba(fit.model, te)}
    threshold = None
    if decision == "val_threshold":
        threshold = tune_threshold(va.labels.numpy(), proba["val"], "bacc")
        proba = {s: apply_threshold(p, threshold) for s, p in proba.items()}
    metrics = classification_metrics(te.labels.numpy(), proba["test"], num_classes=proba["test"].shape[1])
    return {"fit": fit, "proba": proba, "threshold": threshold, "metrics": metrics}


def score_row(res: dict, tcfg) -> dict:
    """The per-seed row of a trained classifier (``fit_and_score``'s result): test metrics, per-class metrics,
    confusion, epochs, wall time, validation metrics at the chosen epoch, trainable parameters and the per-epoch
    history (``train_<term>``, ``val_<metric>``: the report's head curves and TensorBoard's)."""
    fit, m = res["fit"], res["metrics"]
    return {**jsonable({x: m[x] for x in METRIC_NAMES}), **per_class_metrics(m["confusion"]),
            "n_test": int(m["n"]), "confusion": jsonable(m["confusion"]), "best_epoch": fit.best_epoch,
            "epochs_run": len(fit.history), "epoch_cap": tcfg.epochs, "stopped_early": fit.stopped_early,
            "wall_time_s": fit.wall_time_s, "val": jsonable({x: v for x, v in fit.val_metrics.items()
                                                             if x != "confusion"}),
            "params": fit.num_trainable, "decision": "argmax" if res["threshold"] is None else "val_threshold",
            "threshold": res["threshold"], "train_precision": fit.precision, "history": jsonable(fit.history)}


def fit_line(res: dict, tcfg, eta: str) -> str:
    """The one-line console result of a trained classifier (``fit_and_score``'s result): test AUC and balanced
    accuracy, best epoch / cap, epochs run, wall time, ``eta``, and a warning when it predicts one class only."""
    fit, m = res["fit"], res["metrics"]
    one = int((np.asarray(m["confusion"]).sum(0) > 0).sum()) <= 1
    return (f"test auc {_f3(m['auc'])}, bacc {_f3(m['bacc'])}; best epoch {fit.best_epoch}/{tcfg.epochs}"
            f"{' (= cap: may be under-trained)' if fit.best_epoch >= tcfg.epochs else ''}, {len(fit.history)} epochs "
            f"run{' (stopped early)' if fit.stopped_early else ''}; {fmt_s(fit.wall_time_s)}; {eta}"
            f"{'; PREDICTS ONE CLASS ONLY' if one else ''}")


class DCubeLosses:
    """D-Cube's training loss, with the frozen DDPM backbone loaded once per stage (on first use; ``ddpm()`` also
    hands it to the label-budget harness's ``backbone_ft``)."""

    def __init__(self, cfg, ckpt, axis: int):
        self.cfg, self.ckpt, self.axis = cfg, ckpt, axis
        self.backbone = self.diffusion = self.stored = None

    def ddpm(self):
        """``(backbone, stored checkpoint, DiffusionConfig)`` of the stage's checkpoint (EMA weights), loaded once."""
        if self.backbone is None:
            self.backbone, self.stored = load_backbone(self.ckpt, ema=True)
            self.diffusion = from_dict(DiffusionConfig, self.stored["config"]["diffusion"])
        return self.backbone, self.stored, self.diffusion

    def __call__(self, method: str):
        if method != "dcube":
            return None
        backbone, stored, diffusion = self.ddpm()
        return DCubeLoss(_cycle_backbone(backbone, stored), diffusion, self.cfg.heads.dcube_weights,
                         flip_axis=self.axis)


def _stage_heads(cfg, ckpt, bank, probe, gauss, run_dir: Path, progress: bool, tb=None) -> dict:

    hc = cfg.heads
    cfg_dict = to_dict(cfg)
    k = len(bank.class_names) or int(bank.labels.max()) + 1
    class_names = bank.class_names or [str(i) for i in range(k)]
    methods = list(hc.methods)
    cats_keys = cats_inputs(probe, hc)
    dcube_keys = [tuple(x) for x in gauss["selected"]]
    need = sorted(set(cats_keys if "cats" in methods else []) | set(dcube_keys if "dcube" in methods else []))
    gbank = _grid_bank(cfg, ckpt, need, run_dir, progress) if need else None
    need_images = any(m not in ("linear_best", "cats") for m in methods) or hc.synthetic_balance is not None
    images = _load_images(cfg, bank) if need_images else None
    spatial_dims = (images.ndim - 2) if images is not None else len(gbank.shapes[need[0]]) - 1 if need else 2
    axis = flip_axis(cfg, spatial_dims)
    fbank = _grid_bank(cfg, ckpt, dcube_keys, run_dir, progress, flip=axis) \
        if hc.dcube_flip_features and "dcube" in methods and dcube_keys else None
    results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").exists() else {}
    results.setdefault("methods", {})
    results["class_names"] = class_names
    results["inputs"] = {"cats": [list(x) for x in cats_keys], "dcube": [list(x) for x in dcube_keys]}
    losses = DCubeLosses(cfg, ckpt, axis)

    plan = [(m, None) for m in methods]
    if hc.synthetic_balance is not None:
        syn = _synthetic_training_data(cfg, ckpt, bank, images, run_dir, progress)
        if syn is not None:
            results["synthetic"] = syn["info"]
            plan += [(f"{m}+synth", syn["data"]) for m in hc.synthetic_methods]

    fits = [(m, s) for m, _ in plan if m != "linear_best" for s in hc.seeds]
    eta = SeedETA(fits)
    for method, train_override in plan:
        mdir = run_dir / "heads" / method
        entry = results["methods"].get(method, {"seeds": {}})
        if method == "linear_best":
            entry = _linear_best_entry(cfg, probe, bank, k, results)
            b, t = probe.best()
            seed_row = entry["seeds"]["-"]
            seed_row.update(deterministic=True, mode=probe.mode)
            try:
                seed_row.update(_linear_best_predictions(bank, (b, t), probe.row(b, t), probe, cfg, class_names,
                                                         mdir / "seed-", k))
            except Exception as e:  # noqa: BLE001 - predictions are an extra; the probe's numbers stand
                logger.warning("linear probe predictions not written: %s", e)
            entry["deterministic"] = True
            results["methods"][method] = _summarize(entry)
            if tb is not None:
                tb.head_result(method, "-", seed_row, head_hparams(method, "-", seed_row, cfg_dict, entry))
            logger.info("%s (%s, t=%s): test auc %s, bacc %s (deterministic)", method, b, t,
                        _f3(seed_row.get("auc")), _f3(seed_row.get("bacc")))
            continue
        keys = cats_keys if method == "cats" else dcube_keys if method == "dcube" else []
        shapes = {key: gbank.shapes[key] for key in keys} if keys else {}
        imgs = None if method == "cats" else images
        tr, va, te = (_classifier_data(gbank if keys else bank, keys, imgs, split, fbank if method == "dcube" else None,
                                       hc.in_memory) for split in ("train", "val", "test"))
        baseline = method not in ("cats", "dcube")
        if train_override is not None:
            tr = train_override
        entry["seeds"] = {s: r for s, r in entry["seeds"].items() if s in {str(x) for x in hc.seeds}}
        for seed in hc.seeds:
            sdir = mdir / f"seed{seed}"
            tcfg = head_train_config(cfg, seed, baseline, axis)
            torch.manual_seed(seed)
            model = build_method(method, cfg, shapes, spatial_dims, k)
            settings = _head_settings(method, model, tcfg, bank, gbank if keys else None, keys,
                                      results.get("synthetic") if train_override is not None else None,
                                      hc.decision)
            done = entry["seeds"].get(str(seed))
            if done is not None and (sdir / "model.pt").exists() and (sdir / "predictions.csv").exists():
                if done.get("settings_sha") == settings:
                    eta.plan.remove((method, seed))
                    if tb is not None:  # trained in an earlier session: logged then, or now from its history
                        tb.head_result(method, seed, done, head_hparams(method, seed, done, cfg_dict, entry))
                    continue
                logger.info("%s seed %d: settings changed since it was trained; retraining", method, seed)
            loss_fn = losses(method)
            logger.info("training %s (seed %d, %.2fM parameters)", method, seed, count_parameters(model) / 1e6)
            res = fit_and_score(model, tr, va, te, tcfg, decision=hc.decision, loss_fn=loss_fn, progress=progress,
                                on_epoch=tb.head_curves(method, seed) if tb is not None else None)
            fit, metrics, proba = res["fit"], res["metrics"], res["proba"]["test"]
            sdir.mkdir(parents=True, exist_ok=True)
            config_dict = {"method": method, "spatial_dims": spatial_dims, "num_classes": k,
                           "head": fit.model.get_config() if hasattr(fit.model, "get_config") else {}}
            save_classifier(sdir / "model.pt", fit.model, config_dict,
                            {"best_epoch": fit.best_epoch, "val": jsonable(fit.val_metrics),
                             "threshold": res["threshold"]})
            _write_split_predictions(sdir / "predictions.csv", bank, class_names, res["proba"])
            plot_confusion(np.asarray(metrics["confusion"]), class_names, sdir / "confusion.png",
                           title=f"{method}, seed {seed} (test)")
            plot_roc(te.labels.numpy(), proba, class_names, sdir / "roc.png", title=f"{method}, seed {seed} (test)")
            if method == "cats":
                plot_mixing_weights(fit.model, sdir / "mixing_weights.png")
            seed_row = {**score_row(res, tcfg), "settings_sha": settings}
            if method == "dcube":
                seed_row["cycle_term"] = _dcube_cycle_on(loss_fn)
            eta.done(method, fit.wall_time_s)
            i = eta.plan.index((method, seed)) + 1
            logger.info("%s seed %d [%d/%d]: %s", method, seed, i, len(eta.plan),
                        fit_line(res, tcfg, f"heads ETA ~{fmt_s(eta.remaining(i))}"))
            write_json(sdir / "metrics.json", seed_row)
            entry["seeds"][str(seed)] = seed_row
            entry["params"] = fit.num_trainable
            entry["params_total"] = fit.num_params
            if keys:
                entry["input"] = [list(x) for x in keys]
            results["methods"][method] = _summarize(entry)
            write_json(run_dir / "results.json", results)
            if tb is not None:
                tb.head_result(method, seed, seed_row, head_hparams(method, seed, seed_row, cfg_dict, entry))
    write_json(run_dir / "results.json", results)
    _write_tables(run_dir, results)
    _mark(run_dir, "heads", {"methods": methods})
    return results


def _write_tables(run_dir: Path, results: dict) -> None:
    """``results.csv`` (tidy), and ``uncertainty.json`` + ``summary.csv`` (CIs and paired comparisons) when the
    predictions allow them."""

    write_results_csv(run_dir / "results.csv", results)
    try:

        write_uncertainty(run_dir, results)
    except ImportError:
        pass


_METRICS = ("acc", "bacc", "precision", "recall", "f1", "auc")


def _linear_best_entry(cfg, probe, bank, k: int, results: dict) -> dict:
    """The ``linear_best`` row of the test table. In holdout mode: the best cell by validation, scored on test.
    In cv mode the cell and C were chosen by k-fold CV on train+val, so the probe is refit on train+val and
    scored on test; the CV mean itself goes to ``results["cv_scores"]`` under its own label (it is selection
    biased: the same folds chose the cell) and never into the test table."""

    b, t = probe.best()
    row = probe.row(b, t)
    params = (int(row.get("dims", 0)) + 1) * (1 if k == 2 else k)
    if probe.mode == "holdout":
        m = {x: row.get(f"{x}_mean") for x in _METRICS}
        return _summarize({"seeds": {"-": m}, "params": params, "input": [b, t], "score_on": "test",
                           "note": "deterministic (logistic regression); C and (block, t) chosen on validation"})
    test = refit_test(bank[(b, t)], bank.labels, bank.split, row["C"], seed=cfg.probe.seed, num_classes=k)
    label = probe.score_label
    results.setdefault("cv_scores", {})["linear_best"] = {
        "score_on": label, "input": [b, t], "n_eval": row.get("n_eval"),
        "summary": {x: [row.get(f"{x}_mean"), row.get(f"{x}_sd")] for x in _METRICS},
        "note": f"{label}: mean and sd over folds; optimistic, because the same folds chose (block, t)"}
    m = {x: test[x] for x in _METRICS}
    return _summarize({"seeds": {"-": m}, "params": params, "input": [b, t], "score_on": "test",
                       "note": f"(block, t) and C chosen by {label}; refit on train+val; scored on test"})


def _fold_splits(labels: np.ndarray, split: np.ndarray, folds: int, val_fraction: float, seed: int):
    """Stratified ``folds``-fold CV over the train+val rows. Per fold: ``(rows, names)`` where ``names`` marks
    the rows ``train`` / ``val`` (a stratified ``val_fraction`` of the training folds, for C, (block, t), KS and
    epoch choices) and ``test`` (the held-out fold). The test split of the data is never used."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    pool = np.flatnonzero((split == "train") | (split == "val"))
    out = []
    for f, (tr, te) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(pool, labels[pool])):
        tr_i, va_i = train_test_split(pool[tr], test_size=val_fraction, stratify=labels[pool[tr]],
                                      random_state=seed + f)
        rows = np.concatenate([tr_i, va_i, pool[te]])
        names = np.array(["train"] * len(tr_i) + ["val"] * len(va_i) + ["test"] * len(te))
        out.append((rows, names))
    return out


def _summarize_folds(per_fold: list[dict]) -> dict:
    """Mean and sd (ddof=1) over folds; a NaN fold makes the summary NaN (never silently dropped)."""
    out = {}
    for m in _METRICS:
        v = np.array([np.nan if r.get(m) is None else r[m] for r in per_fold], dtype=float)
        out[m] = [float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0]
    return out


def _stage_heads_cv(cfg, ckpt, bank, run_dir: Path, progress: bool, tb=None) -> dict:
    """``heads.cv_folds=k``: every method (probe, heads, baselines) by k-fold CV over train+val, with every
    choice (probe C and best cell, CATS inputs, KS selection, head epochs) made inside the training folds.
    Results go to ``results["cv"]`` (mean and sd over folds), never to the test table."""

    hc, pc, gc = cfg.heads, cfg.probe, cfg.gaussianity
    k = len(bank.class_names) or int(bank.labels.max()) + 1
    label = cv_label(hc.cv_folds)
    C = "auto" if pc.C == "auto" else float(pc.C)
    plan = []
    for rows, names in _fold_splits(bank.labels, bank.split, hc.cv_folds, hc.cv_val_fraction, pc.seed):
        sub = {key: np.asarray(bank[key])[rows] for key in bank}
        y = bank.labels[rows]
        probe = probe_grid(sub, y, names, mode="holdout", seed=pc.seed, C=C, num_classes=k,
                           select_metric=pc.select_metric, progress=False)
        ks = ks_map(sub, split=names, use_split="train", alpha=gc.alpha, max_dims=gc.max_dims,
                    aggregate=gc.aggregate, seed=pc.seed)
        plan.append({"rows": rows, "names": names, "probe": probe, "cats": cats_inputs(probe, hc),
                     "dcube": select_blocks(ks, alpha=gc.alpha, top_k=gc.top_k, t=gc.t)})
    methods = list(hc.methods)
    need = sorted({key for p in plan for m in ("cats", "dcube") if m in methods for key in p[m]})
    gbank = _grid_bank(cfg, ckpt, need, run_dir, progress) if need else None
    images = _load_images(cfg, bank) if any(m not in ("linear_best", "cats") for m in methods) else None
    spatial_dims = (images.ndim - 2) if images is not None else len(gbank.shapes[need[0]]) - 1 if need else 2
    axis = flip_axis(cfg, spatial_dims)
    dkeys = sorted({key for p in plan for key in p["dcube"]})
    fbank = _grid_bank(cfg, ckpt, dkeys, run_dir, progress, flip=axis) \
        if hc.dcube_flip_features and "dcube" in methods and dkeys else None
    results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").exists() else {}
    cv = {"folds": hc.cv_folds, "pool": "train+val", "score_on": label, "val_fraction": hc.cv_val_fraction,
          "methods": {}}
    losses = DCubeLosses(cfg, ckpt, axis)

    def data(keys, imgs, idx, flip_bank=None):
        return _classifier_data(gbank if keys else bank, keys, imgs, idx, flip_bank, hc.in_memory)

    for method in methods:
        per_fold, inputs = [], []
        for f, p in enumerate(plan):
            idx = {n: p["rows"][p["names"] == n] for n in ("train", "val", "test")}
            if method == "linear_best":
                b, t = p["probe"].best()
                row = p["probe"].row(b, t)
                per_fold.append({m: row.get(f"{m}_mean") for m in _METRICS})
                inputs.append([b, t])
                continue
            keys = p["cats"] if method == "cats" else p["dcube"] if method == "dcube" else []
            imgs = None if method == "cats" else images
            tr, va, te = (data(keys, imgs, idx[n], fbank if method == "dcube" else None)
                          for n in ("train", "val", "test"))
            seed = hc.seeds[0] + f
            tcfg = head_train_config(cfg, seed, method not in ("cats", "dcube"), axis)
            torch.manual_seed(seed)
            model = build_method(method, cfg, {key: gbank.shapes[key] for key in keys} if keys else {},
                                 spatial_dims, k)
            logger.info("%s fold %d/%d (seed %d)", method, f + 1, hc.cv_folds, seed)
            res = fit_and_score(model, tr, va, te, tcfg, decision=hc.decision, loss_fn=losses(method),
                                progress=progress,
                                on_epoch=tb.head_curves(method, f"fold{f}") if tb is not None else None)
            per_fold.append({**jsonable({m: res["metrics"][m] for m in _METRICS}),
                             "best_epoch": res["fit"].best_epoch, "threshold": res["threshold"],
                             "n_eval": int(len(idx["test"]))})
            if tb is not None:  # the held-out fold's metrics under test/ (the run dir's CV scores, not a test set)
                tb.head_result(method, f"fold{f}", {**per_fold[-1], "epoch_cap": tcfg.epochs},
                               {"method": method, "fold": f, "seed": seed, "epoch_cap": tcfg.epochs})
            inputs.append([list(x) for x in keys])
        cv["methods"][method] = {"folds": per_fold, "inputs": inputs, "summary": _summarize_folds(per_fold),
                                 "score_on": label,
                                 "note": "every choice inside the training folds (stratified inner validation)"}
        results["cv"] = cv
        write_json(run_dir / "results.json", results)
    results["cv"] = cv
    write_json(run_dir / "results.json", results)
    _mark(run_dir, "heads", {"methods": methods, "cv_folds": hc.cv_folds})
    return results


def _head_settings(method, model, tcfg, bank, gbank, keys, synthetic, decision: str = "argmax") -> str:
    """Fingerprint of everything a trained seed depends on (data and DDPM via the banks' keys, the model's
    config, the harness settings, the inputs, synthetic data, the decision rule): a seed is reused only when it
    matches."""

    train = train_settings(tcfg)  # seeds trained before heads.precision / grad_accum existed stay valid
    extra = {} if decision == "argmax" else {"decision": decision}  # argmax seeds from before the key stay valid
    return bank_key({"method": method, "train": train, "inputs": [list(x) for x in keys],
                     "model": model.get_config() if hasattr(model, "get_config") else type(model).__name__,
                     "bank": bank.meta.get("key"), "grid_bank": None if gbank is None else gbank.meta.get("key"),
                     "synthetic": synthetic, **extra})


def _synthetic_training_data(cfg, ckpt, bank, images, run_dir: Path, progress: bool) -> dict | None:
    """Synthesize the rebalancing images once (``<run>/synthetic``) and return real + synthetic training data."""

    hc = cfg.heads
    if load_checkpoint(ckpt)["backbone"]["config"].get("num_classes") is None:
        logger.warning("heads.synthetic_balance is set but the DDPM is unconditional (model.conditional=false): "
                       "no synthetic rebalancing")
        return None
    out = run_dir / "synthetic"
    if not (out / "manifest.csv").exists():

        remove_owned(out, legacy=lambda p: True)  # <run>/synthetic of an interrupted synthesis (the run is ours)
        res = _synthesize(ckpt, cfg.data, hc.synthetic_balance, out, steps=hc.synthetic_steps, seed=cfg.run.seed,
                          device=cfg.run.device, progress=progress)
        counts = {str(k): v for k, v in res.counts.items()}
        real = {str(k): v for k, v in res.real_counts.items()}
    else:
        rows, _ = read_manifest(out)
        counts = {}
        for r in rows:
            counts[str(r["class"])] = counts.get(str(r["class"]), 0) + 1
        real = None
    train = load_splits(cfg.data)["train"]
    mixed = mixed_training_set(train, out, cfg.data)
    x = DatasetRows([mixed])  # read batch by batch
    x = x.load() if hc.in_memory else x
    y = torch.as_tensor(mixed.labels)
    info = {"balance": hc.synthetic_balance, "synthetic_counts": counts, "real_counts": real,
            "n_real": len(train), "n_synthetic": len(mixed) - len(train), "sampler": f"ddim-{hc.synthetic_steps}"}
    return {"data": ClassifierData(y, None, x), "info": info}


@collective
def _synthesize(ckpt, data_cfg, balance: float, out: Path, steps: int, seed: int, device: str, progress: bool):
    """``workflows.generate.synthesize`` with DDIM, sharded over the ranks under torchrun (rank 0 writes ``out``)."""

    dist, dev = init_distributed(device)
    return synthesize(ckpt, data_cfg, balance, out, sampler="ddim", steps=steps, seed=seed, device=str(dev),
                      progress=progress, dist=dist)


def _f3(v) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{v:.3f}"


def per_class_metrics(confusion) -> dict:
    """Per-class recall, precision and F1 from a confusion matrix (rows true, columns predicted)."""
    cm = np.asarray(confusion, dtype=float)
    tp = np.diag(cm)
    recall = tp / np.maximum(cm.sum(1), 1)
    precision = tp / np.maximum(cm.sum(0), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {"recall_per_class": recall.tolist(), "precision_per_class": precision.tolist(), "f1_per_class": f1.tolist(),
            "support_per_class": cm.sum(1).astype(int).tolist(), "predicted_classes": int((cm.sum(0) > 0).sum())}


def _cycle_backbone(backbone, ckpt: dict):
    """The backbone of D-Cube's cycle term: None (term off) for a latent diffusion checkpoint, whose U-Net reads
    latents while the cycle term noises images."""
    if (ckpt.get("extra") or {}).get("latent"):
        logger.warning("D-Cube: the cycle term is off for a latent diffusion checkpoint (it noises images, the "
                       "U-Net reads latents)")
        return None
    return backbone


def _dcube_cycle_on(loss_fn) -> bool:
    """Whether a DCubeLoss trains with its cycle term (needs a class-conditional DDPM and a non-zero weight)."""

    weights = getattr(loss_fn, "weights", (1.0, 1.0, 1.0))
    return bool(float(weights[1]) > 0 and _cycle_active(getattr(loss_fn, "backbone", None),
                                                         getattr(loss_fn, "diffusion_cfg", None)))


def _write_split_predictions(path: Path, bank, class_names, proba_by_split: dict, rows_by_split=None) -> None:
    """``predictions.csv`` for the given splits: the bank rows of each split (``rows_by_split[split]``, default
    every row of that split, in bank order) and their probabilities."""

    ids, splits, labels, probas = [], [], [], []
    for split, proba in proba_by_split.items():
        rows = np.flatnonzero(bank.mask(split)) if rows_by_split is None else np.asarray(rows_by_split[split])
        ids += [bank.ids[i] for i in rows]
        splits += [split] * len(rows)
        labels.append(bank.labels[rows])
        probas.append(np.asarray(proba))
    write_predictions(path, ids, splits, np.concatenate(labels), np.concatenate(probas), class_names)


def _linear_best_predictions(bank, key, row, probe, cfg, class_names, prefix: Path, k: int) -> dict:
    """Refit the probe of the best cell with its chosen C and write ``heads/linear_best/seed-/predictions.csv``
    (val + test). Holdout mode: fit on train (the same deterministic fit as the grid; its test metrics are
    checked against the grid row). cv mode: fit on train+val, predict test."""

    X = np.asarray(bank[key]).reshape(len(bank.ids), -1)  # the bank's dtype (float32), exactly as the grid fit it
    y, s = bank.labels, bank.split
    fit_mask = (s == "train") if probe.mode == "holdout" else (s == "train") | (s == "val")
    lp = LinearProbe(C=float(row["C"]), random_state=cfg.probe.seed).fit(X[fit_mask], y[fit_mask])

    def full(Xp):
        p = lp.predict_proba(Xp)
        out = np.zeros((p.shape[0], k))
        out[:, lp.classes_.astype(int)] = p
        return out

    proba = {sp: full(X[s == sp]) for sp in ("val", "test") if (s == sp).any()}
    sdir = Path(str(prefix))
    _write_split_predictions(sdir / "predictions.csv", bank, class_names, proba)
    m = classification_metrics(y[s == "test"], proba["test"], num_classes=k)
    if probe.mode == "holdout" and row.get("auc_mean") is not None and np.isfinite(row["auc_mean"]) \
            and abs(m["auc"] - row["auc_mean"]) > 1e-6:
        logger.warning("linear probe refit: test AUC %.6f differs from the grid's %.6f", m["auc"], row["auc_mean"])

    plot_confusion(np.asarray(m["confusion"]), class_names, sdir / "confusion.png", title="linear probe (test)")
    plot_roc(y[s == "test"], proba["test"], class_names, sdir / "roc.png", title="linear probe (test)")
    return {**per_class_metrics(m["confusion"]), "confusion": m["confusion"], "n_test": int(m["n"])}


def _summarize(entry: dict) -> dict:
    """Mean and sd (ddof=1) over seeds. A NaN seed (e.g. an undefined AUC) makes the mean NaN: it is never
    dropped silently (as ``_summarize_folds`` over CV folds)."""
    rows = [r for r in entry["seeds"].values()]
    summary = {}
    for m in METRIC_NAMES:
        vals = np.array([r[m] for r in rows if r.get(m) is not None], dtype=float)
        if len(vals):  # sd is None (not 0) for one seed or a deterministic method: there is no spread to show
            summary[m] = [float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else None]
    for name in ("recall_per_class", "precision_per_class", "f1_per_class"):
        per_class = [r[name] for r in rows if r.get(name)]
        if per_class:
            summary[name] = np.mean(np.array(per_class, dtype=float), axis=0).tolist()
    summary["n_seeds"] = len(rows)
    times = [r["wall_time_s"] for r in rows if "wall_time_s" in r]
    if times:
        summary["wall_time_s"] = float(np.mean(times))
    entry["summary"] = summary
    return entry


def evaluate_run(run_dir: str | Path) -> dict:
    """Re-evaluate every saved classifier of a pipeline run on its test split; rewrites results.json."""

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir}: not a medfx pipeline run (no config.yaml)")
    if not (run_dir / "results.json").is_file():
        raise DataError(f"{run_dir}: no results.json (the heads stage has not finished); run `medfx run` first")
    with locked(run_dir, "run directory"):
        return _evaluate_run(run_dir)


def _evaluate_run(run_dir: Path) -> dict:
    import yaml


    results = json.loads((run_dir / "results.json").read_text())
    if results.get("label_budgets"):  # no models to re-run: intervals recomputed from the cells' predictions
        from .label_budgets import evaluate_budgets

        return evaluate_budgets(run_dir, results)
    cfg = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    bank = FeatureBank(run_dir / "features")
    gbank = FeatureBank(run_dir / "features_grid") if (run_dir / "features_grid").exists() else None
    images = None
    for method, entry in results["methods"].items():
        if method == "linear_best":
            continue
        for seed_dir in sorted((run_dir / "heads" / method).glob("seed*")):
            obj = load_classifier(seed_dir / "model.pt")
            c = obj["config"]
            head = c["head"]
            keys = [tuple(x[:2]) for x in head.get("in_shapes", [])]
            shapes = {tuple(x[:2]): tuple(x[2]) for x in head.get("in_shapes", [])}
            if method == "cats":

                model = CATSHead(**{"norm": "layer", **head})  # files without "norm" predate the BatchNorm default
            elif method == "dcube":

                model = DCubeHead(**head)
            else:
                model = build_method(method, cfg, shapes, c["spatial_dims"], c["num_classes"])
            model.load_state_dict(obj["state_dict"])
            if method != "cats" and images is None:
                images = _load_images(cfg, bank)
            te = _classifier_data(gbank if keys else bank, keys, None if method == "cats" else images, "test")
            va = _classifier_data(gbank if keys else bank, keys, None if method == "cats" else images, "val")
            proba = {"val": predict_proba(model, va), "test": predict_proba(model, te)}
            threshold = obj.get("extra", {}).get("threshold")
            if threshold is not None:  # heads.decision=val_threshold: the threshold chosen on validation

                proba = {sp: apply_threshold(p, threshold) for sp, p in proba.items()}
            m = classification_metrics(te.labels.numpy(), proba["test"], num_classes=c["num_classes"])
            seed = seed_dir.name.removeprefix("seed")
            entry["seeds"].setdefault(seed, {}).update(jsonable({x: m[x] for x in ("acc", "bacc", "precision", "recall",
                                                                                  "f1", "auc")}))
            entry["seeds"][seed].update(per_class_metrics(m["confusion"]), confusion=m["confusion"], n_test=m["n"])
            _write_split_predictions(seed_dir / "predictions.csv", bank, results.get("class_names") or
                                     [str(i) for i in range(c["num_classes"])],
                                     proba)
        results["methods"][method] = _summarize(entry)
    write_json(run_dir / "results.json", results)
    _write_tables(run_dir, results)
    return results
