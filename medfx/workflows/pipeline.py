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

from ..config import ExperimentConfig, save_config
from ..metrics.classification import METRIC_NAMES
from ..utils.io import jsonable, write_json
from .logs import log_to_file

logger = logging.getLogger("medfx")


def _done(run_dir: Path, stage: str) -> dict | None:
    f = run_dir / "stages" / f"{stage}.json"
    return json.loads(f.read_text()) if f.is_file() else None


def _mark(run_dir: Path, stage: str, info: dict) -> dict:
    (run_dir / "stages").mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "stages" / f"{stage}.json", info)
    return info


def _sub_cfg(cfg: ExperimentConfig, **sections) -> ExperimentConfig:
    return dataclasses.replace(cfg, **sections)


def run_pipeline(cfg: ExperimentConfig, progress: bool = True) -> Path:
    """Run the stages listed in ``cfg.pipeline.stages``; returns the run directory."""
    run_dir = Path(cfg.run.out_dir) / cfg.run.name
    stages = cfg.pipeline.stages
    _validate_inputs(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with log_to_file(run_dir / "pipeline.log"):
        return _run_stages(cfg, run_dir, stages, progress)


def _run_stages(cfg: ExperimentConfig, run_dir: Path, stages, progress: bool) -> Path:
    save_config(cfg, run_dir / "config.yaml")
    t_start = time.perf_counter()
    _check_data(cfg, run_dir)

    ckpt = _stage_diffusion(cfg, run_dir, stages)
    bank = None
    if {"extract", "probe", "gaussianity", "heads"} & set(stages):
        bank = _stage_extract(cfg, ckpt, run_dir, stages, progress)
    probe = gauss = None
    if "probe" in stages or "heads" in stages:
        probe = _stage_probe(cfg, bank, run_dir, progress)
    if "gaussianity" in stages or "heads" in stages:
        gauss = _stage_gaussianity(cfg, bank, run_dir)
    if "heads" in stages:
        if cfg.heads.cv_folds:
            _stage_heads_cv(cfg, ckpt, bank, run_dir, progress)
        else:
            _stage_heads(cfg, ckpt, bank, probe, gauss, run_dir, progress)
    if "report" in stages:
        from ..report import build_report

        path = build_report(run_dir)
        _mark(run_dir, "report", {"report": str(path)})
        logger.info("report: %s", path)
    logger.info("pipeline finished in %.1f s: %s", time.perf_counter() - t_start, run_dir)
    return run_dir


def _check_data(cfg: ExperimentConfig, run_dir: Path) -> None:
    """``<run>/splits.csv`` (the exact split) and ``<run>/data_check.json`` (duplicates of the target data, and of
    ``pipeline.pretrain_data`` against it); a val/test leak warns, or stops the run with ``data.leakage=error``."""
    from ..data.check import check_data, default_cache_dir, write_split_manifest

    write_split_manifest(cfg.data, run_dir / "splits.csv", cache_dir=default_cache_dir())
    if cfg.data.leakage == "off":
        return
    against = [cfg.pipeline.pretrain_data] if cfg.pipeline.pretrain_data else []
    res = check_data(cfg.data, against=against, cache_dir=default_cache_dir())
    write_json(run_dir / "data_check.json", res.to_dict())
    msg = res.leak_message()
    if msg and cfg.data.leakage == "error":
        raise ValueError(msg + "; de-duplicate with `medfx data check --dedup` or set data.leakage=warn")
    if msg:
        logger.warning("%s", msg)


def check_config(cfg: ExperimentConfig) -> None:
    """Cross-field checks of a pipeline config, against ``run.checkpoint``'s model and diffusion when given."""
    from ..config import ModelConfig, check_cross_fields
    from ..diffusion.schedule import DiffusionConfig
    from ..utils.dataclass_io import from_dict

    if cfg.pipeline.checkpoint is None:
        check_cross_fields(cfg)
        return
    from ..train.checkpoint import load_checkpoint

    stored = load_checkpoint(cfg.pipeline.checkpoint).get("config") or {}
    model = from_dict(ModelConfig, stored["model"]) if "model" in stored else None
    diffusion = from_dict(DiffusionConfig, stored["diffusion"]) if "diffusion" in stored else None
    check_cross_fields(cfg, model, diffusion, source=str(cfg.pipeline.checkpoint))


def _validate_inputs(cfg: ExperimentConfig) -> None:
    """Fail before creating anything when the config, the data or the given checkpoint is unusable."""
    from ..data import load_splits

    check_config(cfg)
    splits = load_splits(cfg.data)
    for s in ("train", "val", "test"):
        if s not in splits:
            raise ValueError(f"{cfg.data.path}: the pipeline needs train, val and test splits (missing {s!r}); "
                             "set data.val_fraction / data.test_fraction")
    if cfg.pipeline.checkpoint is not None:
        from ..provenance import check_provenance
        from ..train.checkpoint import load_checkpoint

        check_provenance(cfg, load_checkpoint(cfg.pipeline.checkpoint), cfg.pipeline.checkpoint)


def _stage_diffusion(cfg, run_dir: Path, stages) -> Path:
    from .train import pretrain as train_diffusion

    if cfg.pipeline.checkpoint:
        ckpt = Path(cfg.pipeline.checkpoint)
    else:
        ckpt = run_dir / "ddpm" / "last.pt"
        if "pretrain" in stages or not ckpt.exists():
            data = cfg.data if cfg.pipeline.pretrain_data is None else dataclasses.replace(
                cfg.data, path=cfg.pipeline.pretrain_data)
            pre = _sub_cfg(cfg, data=data, run=dataclasses.replace(cfg.run, out_dir=str(run_dir), name="ddpm"))
            train_diffusion(pre)
            _mark(run_dir, "pretrain", {"checkpoint": str(ckpt)})
    if cfg.pipeline.finetune_steps > 0 and ("finetune" in stages or (run_dir / "ddpm-finetune").exists()):
        ft = _sub_cfg(cfg, run=dataclasses.replace(cfg.run, out_dir=str(run_dir), name="ddpm-finetune"),
                      train=dataclasses.replace(cfg.train, steps=cfg.pipeline.finetune_steps))
        train_diffusion(ft, init_from=ckpt)
        ckpt = run_dir / "ddpm-finetune" / "last.pt"
        _mark(run_dir, "finetune", {"checkpoint": str(ckpt)})
    return ckpt


def _stage_extract(cfg, ckpt, run_dir: Path, stages, progress: bool):
    """The pooled bank of ``cfg.features`` for the probe grid and the KS map and, when the heads will read
    feature maps, the grid bank of every (block, t) from the SAME forward passes (one pass per image and t):
    which keys the heads read is only known after the probe and KS stages, and any key can be chosen."""
    from .features import build_banks

    fc, hc = cfg.features, cfg.heads
    ride = []
    if "heads" in stages and {"cats", "dcube"} & set(hc.methods) and not (fc.pool == "grid" and fc.grid == hc.grid):
        ride = [(run_dir / "features_grid", "grid", hc.grid)]
    banks = build_banks(cfg, ckpt, [(run_dir / "features", fc.pool, fc.grid)], ride_along=ride, progress=progress)
    bank = banks[0]
    _mark(run_dir, "extract", {"bank": str(bank.path), "keys": len(bank),
                               "grid_bank": str(banks[1].path) if len(banks) > 1 and banks[1] is not None else None})
    return bank


def _stage_probe(cfg, bank, run_dir: Path, progress: bool):
    from ..probes import ProbeGridResult
    from .features import run_probe

    done = _done(run_dir, "probe")
    if done and done.get("bank_key") == bank.meta["key"]:
        return ProbeGridResult.from_json(run_dir / "probe" / "probe_grid.json")
    res = run_probe(cfg, bank, run_dir / "probe", progress=progress)
    _mark(run_dir, "probe", {"bank_key": bank.meta["key"], "best": list(res.best())})
    return res


def _stage_gaussianity(cfg, bank, run_dir: Path) -> dict:
    from .features import run_gaussianity

    done = _done(run_dir, "gaussianity")
    if done and done.get("bank_key") == bank.meta["key"]:
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
    blocks = [b for b, _ in _cats_keys(probe, 3)]
    keys = []
    for b in blocks:
        rows = sorted((r for r in probe.table if r["block"] == b),
                      key=lambda r: -(r.get("val_auc") if r.get("val_auc") is not None else -1))
        keys += [(b, int(r["t"])) for r in rows[:3]]
    return keys


def _cats_keys(probe, k: int) -> list[tuple[str, int]]:
    """Top-k (block, t) by validation AUC, at most one per block (then the next-best blocks)."""
    rows = sorted(probe.table, key=lambda r: -(r.get("val_auc") if r.get("val_auc") is not None else -1))
    keys, blocks = [], set()
    for r in rows:
        if r["block"] not in blocks:
            keys.append((r["block"], int(r["t"])))
            blocks.add(r["block"])
        if len(keys) == k:
            break
    return keys


def _grid_bank(cfg, ckpt, keys, run_dir, progress, flip: int | None = None):
    """Grid-pooled maps of ``keys`` (``flip``: of the images mirrored along that spatial axis)."""
    from ..features.extractor import FeaturesConfig
    from .features import build_bank

    blocks = sorted({b for b, _ in keys})
    ts = sorted({t for _, t in keys})
    fc = dataclasses.replace(cfg.features, blocks=tuple(blocks), timesteps=tuple(ts), pool="grid",
                             grid=cfg.heads.grid, flip_axis=flip)
    FeaturesConfig(**dataclasses.asdict(fc))  # validate
    # the extract stage wrote every key's maps in its pass; any bank holding these keys is reused as it is
    # (the flipped-image bank has other settings, so it is never taken for the plain one)
    out = run_dir / ("features_grid" if flip is None else "features_grid_flipped")
    return build_bank(_sub_cfg(cfg, features=fc), ckpt, out, progress=progress, reuse_from=[run_dir / "features"])


def _classifier_data(bank, keys, images, split, flip_bank=None):
    from ..heads import ClassifierData

    m = bank.mask(split) if isinstance(split, str) else split
    feats = {k: torch.from_numpy(np.ascontiguousarray(bank.maps(k)[m])) for k in keys} if keys else None
    flip = {k: torch.from_numpy(np.ascontiguousarray(flip_bank.maps(k)[m])) for k in keys} \
        if keys and flip_bank is not None else None
    return ClassifierData(torch.from_numpy(bank.labels[m]), feats, None if images is None else images[m], flip)


def _load_images(cfg, bank) -> torch.Tensor:
    from ..data import load_splits

    splits = load_splits(cfg.data)
    imgs, ids = [], []
    for s in ("train", "val", "test"):
        ds = splits[s]
        imgs += [ds[i][0] for i in range(len(ds))]
        ids += [str(i) for i in ds.ids]
    if ids != bank.ids:
        raise RuntimeError("the data changed since the feature bank was built; delete the bank to rebuild it")
    return torch.stack(imgs)


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
    from ..heads import HeadTrainConfig

    hc = cfg.heads
    shared = {f.name: getattr(hc, f.name) for f in dataclasses.fields(HeadTrainConfig) if hasattr(hc, f.name)}
    return HeadTrainConfig(**{**shared, "epochs": hc.baseline_epochs if baseline else hc.epochs,
                              "lr": hc.baseline_lr if baseline else hc.lr, "seed": seed, "device": cfg.run.device,
                              "flip_axis": axis})


def build_method(name: str, cfg, in_shapes: dict, spatial_dims: int, k: int):
    from ..heads import CATSHead, DCubeHead
    from ..models.baselines import build_baseline

    hc = cfg.heads
    if name == "cats":
        if hc.cats_preset == "paper":
            from ..heads.cats import paper3d_cats_config

            kw = {x: v for x, v in paper3d_cats_config(k).items() if x not in ("in_shapes", "num_classes")}
            return CATSHead(in_shapes, k, **kw)
        return CATSHead(in_shapes, k, width=hc.cats_width, depth=hc.cats_depth, pool_grid=hc.grid)
    if name == "dcube":
        return DCubeHead(in_shapes, k, fuse_channels=hc.dcube_fuse, resnet=hc.dcube_resnet,
                         pretrained_path=hc.dcube_pretrained, resnet_widen_factor=hc.dcube_widen,
                         fusion=hc.dcube_fusion, imagenet_stem=hc.dcube_imagenet_stem)
    return build_baseline(name.removesuffix("+synth"), spatial_dims, k)


def _stage_heads(cfg, ckpt, bank, probe, gauss, run_dir: Path, progress: bool) -> dict:
    from ..diffusion.schedule import DiffusionConfig
    from ..heads import DCubeLoss, evaluate, fit_classifier, predict_proba, save_classifier
    from ..heads.cats import plot_mixing_weights
    from ..metrics.classification import plot_confusion, plot_roc
    from ..models import count_parameters
    from ..train.checkpoint import load_backbone
    from ..utils.dataclass_io import from_dict

    hc = cfg.heads
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
    backbone = diffusion = None

    plan = [(m, None) for m in methods]
    if hc.synthetic_balance is not None:
        syn = _synthetic_training_data(cfg, ckpt, bank, images, run_dir, progress)
        if syn is not None:
            results["synthetic"] = syn["info"]
            plan += [(f"{m}+synth", syn["data"]) for m in hc.synthetic_methods]
    for method, train_override in plan:
        mdir = run_dir / "heads" / method
        entry = results["methods"].get(method, {"seeds": {}})
        if method == "linear_best":
            results["methods"][method] = _linear_best_entry(cfg, probe, bank, k, results)
            continue
        keys = cats_keys if method == "cats" else dcube_keys if method == "dcube" else []
        shapes = {key: gbank.shapes[key] for key in keys} if keys else {}
        imgs = None if method == "cats" else images
        tr, va, te = (_classifier_data(gbank if keys else bank, keys, imgs, split,
                                       fbank if method == "dcube" else None) for split in ("train", "val", "test"))
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
                                      results.get("synthetic") if train_override is not None else None)
            done = entry["seeds"].get(str(seed))
            if done is not None and (sdir / "model.pt").exists():
                if done.get("settings_sha") == settings:
                    continue
                logger.info("%s seed %d: settings changed since it was trained; retraining", method, seed)
            loss_fn = None
            if method == "dcube":
                if backbone is None:
                    backbone, ck = load_backbone(ckpt, ema=True)
                    diffusion = from_dict(DiffusionConfig, ck["config"]["diffusion"])
                loss_fn = DCubeLoss(backbone, diffusion, hc.dcube_weights, flip_axis=axis)
            logger.info("training %s (seed %d, %.2fM parameters)", method, seed, count_parameters(model) / 1e6)
            fit = fit_classifier(model, tr, va, tcfg, loss_fn=loss_fn, progress=progress)
            metrics = evaluate(fit.model, te)
            sdir.mkdir(parents=True, exist_ok=True)
            config_dict = {"method": method, "spatial_dims": spatial_dims, "num_classes": k,
                           "head": fit.model.get_config() if hasattr(fit.model, "get_config") else {}}
            save_classifier(sdir / "model.pt", fit.model, config_dict,
                            {"best_epoch": fit.best_epoch, "val": jsonable(fit.val_metrics)})
            if seed == hc.seeds[0]:
                proba = predict_proba(fit.model, te)
                plot_confusion(np.asarray(metrics["confusion"]), class_names, sdir / "confusion.png",
                               title=f"{method} (test)")
                plot_roc(te.labels.numpy(), proba, class_names, sdir / "roc.png", title=f"{method} (test)")
                if method == "cats":
                    plot_mixing_weights(fit.model, sdir / "mixing_weights.png")
            cm = np.asarray(metrics["confusion"], dtype=float)
            seed_row = {**jsonable({x: metrics[x] for x in METRIC_NAMES}),
                        "recall_per_class": (np.diag(cm) / np.maximum(cm.sum(1), 1)).tolist(),
                        "confusion": jsonable(metrics["confusion"]), "best_epoch": fit.best_epoch,
                        "wall_time_s": fit.wall_time_s, "val": jsonable(fit.val_metrics),
                        "settings_sha": settings, "history": jsonable(fit.history),
                        "train_precision": fit.precision}
            (sdir / "metrics.json").write_text(json.dumps(seed_row, indent=2))
            entry["seeds"][str(seed)] = seed_row
            entry["params"] = fit.num_trainable
            entry["params_total"] = fit.num_params
            if keys:
                entry["input"] = [list(x) for x in keys]
            results["methods"][method] = _summarize(entry)
            write_json(run_dir / "results.json", results)
    write_json(run_dir / "results.json", results)
    _mark(run_dir, "heads", {"methods": methods})
    return results


_METRICS = ("acc", "bacc", "precision", "recall", "f1", "auc")


def _linear_best_entry(cfg, probe, bank, k: int, results: dict) -> dict:
    """The ``linear_best`` row of the test table. In holdout mode: the best cell by validation, scored on test.
    In cv mode the cell and C were chosen by k-fold CV on train+val, so the probe is refit on train+val and
    scored on test; the CV mean itself goes to ``results["cv_scores"]`` under its own label (it is selection
    biased: the same folds chose the cell) and never into the test table."""
    from ..probes.grid import refit_test

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


def _stage_heads_cv(cfg, ckpt, bank, run_dir: Path, progress: bool) -> dict:
    """``heads.cv_folds=k``: every method (probe, heads, baselines) by k-fold CV over train+val, with every
    choice (probe C and best cell, CATS inputs, KS selection, head epochs) made inside the training folds.
    Results go to ``results["cv"]`` (mean and sd over folds), never to the test table."""
    from ..diffusion.schedule import DiffusionConfig
    from ..features.gaussianity import ks_map, select_blocks
    from ..heads import DCubeLoss, evaluate, fit_classifier
    from ..probes import probe_grid
    from ..probes.grid import cv_label
    from ..train.checkpoint import load_backbone
    from ..utils.dataclass_io import from_dict

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
    backbone = diffusion = None

    def data(keys, imgs, idx, flip_bank=None):
        return _classifier_data(gbank if keys else bank, keys, imgs, idx, flip_bank)

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
            loss_fn = None
            if method == "dcube":
                if backbone is None:
                    backbone, ck = load_backbone(ckpt, ema=True)
                    diffusion = from_dict(DiffusionConfig, ck["config"]["diffusion"])
                loss_fn = DCubeLoss(backbone, diffusion, hc.dcube_weights, flip_axis=axis)
            logger.info("%s fold %d/%d (seed %d)", method, f + 1, hc.cv_folds, seed)
            fit = fit_classifier(model, tr, va, tcfg, loss_fn=loss_fn, progress=progress)
            metrics = evaluate(fit.model, te)
            per_fold.append({**jsonable({m: metrics[m] for m in _METRICS}), "best_epoch": fit.best_epoch,
                             "n_eval": int(len(idx["test"]))})
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


def _head_settings(method, model, tcfg, bank, gbank, keys, synthetic) -> str:
    """Fingerprint of everything a trained seed depends on (data and DDPM via the banks' keys, the model's
    config, the harness settings, the inputs, synthetic data): a seed is reused only when it matches."""
    from ..features.bank import bank_key

    train = {k: v for k, v in dataclasses.asdict(tcfg).items() if k not in ("seed", "device", "eval_batch_size")}
    if train.get("precision") == "fp32":  # seeds trained before heads.precision existed stay valid
        del train["precision"]
    return bank_key({"method": method, "train": train, "inputs": [list(x) for x in keys],
                     "model": model.get_config() if hasattr(model, "get_config") else type(model).__name__,
                     "bank": bank.meta.get("key"), "grid_bank": None if gbank is None else gbank.meta.get("key"),
                     "synthetic": synthetic})


def _synthetic_training_data(cfg, ckpt, bank, images, run_dir: Path, progress: bool) -> dict | None:
    """Synthesize the rebalancing images once (``<run>/synthetic``) and return real + synthetic training data."""
    from ..data import load_splits
    from ..generate import mixed_training_set, synthesize
    from ..generate.sample import read_manifest
    from ..heads import ClassifierData
    from ..train.checkpoint import load_checkpoint

    hc = cfg.heads
    if load_checkpoint(ckpt)["backbone"]["config"].get("num_classes") is None:
        logger.warning("heads.synthetic_balance is set but the DDPM is unconditional (model.conditional=false): "
                       "no synthetic rebalancing")
        return None
    out = run_dir / "synthetic"
    if not (out / "manifest.csv").exists():
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        res = synthesize(ckpt, cfg.data, hc.synthetic_balance, out, sampler="ddim", steps=hc.synthetic_steps,
                         seed=cfg.run.seed, device=cfg.run.device, progress=progress)
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
    x = torch.stack([mixed[i][0] for i in range(len(mixed))])
    y = torch.as_tensor([int(mixed[i][1]) for i in range(len(mixed))])
    info = {"balance": hc.synthetic_balance, "synthetic_counts": counts, "real_counts": real,
            "n_real": len(train), "n_synthetic": len(mixed) - len(train), "sampler": f"ddim-{hc.synthetic_steps}"}
    return {"data": ClassifierData(y, None, x), "info": info}


def _summarize(entry: dict) -> dict:
    """Mean and sd (ddof=1) over seeds. A NaN seed (e.g. an undefined AUC) makes the mean NaN: it is never
    dropped silently (as ``_summarize_folds`` over CV folds)."""
    rows = [r for r in entry["seeds"].values()]
    summary = {}
    for m in METRIC_NAMES:
        vals = np.array([r[m] for r in rows if r.get(m) is not None], dtype=float)
        if len(vals):
            summary[m] = [float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0]
    per_class = [r["recall_per_class"] for r in rows if "recall_per_class" in r]
    if per_class:
        summary["recall_per_class"] = np.mean(np.array(per_class, dtype=float), axis=0).tolist()
    times = [r["wall_time_s"] for r in rows if "wall_time_s" in r]
    if times:
        summary["wall_time_s"] = float(np.mean(times))
    entry["summary"] = summary
    return entry


def evaluate_run(run_dir: str | Path) -> dict:
    """Re-evaluate every saved classifier of a pipeline run on its test split; rewrites results.json."""
    import yaml

    from ..config import config_from_dict
    from ..features.bank import FeatureBank
    from ..heads import evaluate, load_classifier

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir}: not a medfx pipeline run (no config.yaml)")
    cfg = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    results = json.loads((run_dir / "results.json").read_text())
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
                from ..heads import CATSHead

                model = CATSHead(**{"norm": "layer", **head})  # files without "norm" predate the BatchNorm default
            elif method == "dcube":
                from ..heads import DCubeHead

                model = DCubeHead(**head)
            else:
                model = build_method(method, cfg, shapes, c["spatial_dims"], c["num_classes"])
            model.load_state_dict(obj["state_dict"])
            if method != "cats" and images is None:
                images = _load_images(cfg, bank)
            te = _classifier_data(gbank if keys else bank, keys, None if method == "cats" else images, "test")
            m = evaluate(model, te)
            seed = seed_dir.name.removeprefix("seed")
            entry["seeds"].setdefault(seed, {}).update(jsonable({x: m[x] for x in METRIC_NAMES}))
        results["methods"][method] = _summarize(entry)
    write_json(run_dir / "results.json", results)
    return results
