"""Label-budget stage of ``medfx run`` (``heads.label_budgets=[5, 10, 25, all]``): learning curves.

The DDPM is trained once without labels and the feature banks are extracted once (the pipeline's earlier
stages); this stage then runs every method of ``heads.methods`` for every budget and every seed:

* training labels: ``medfx.data.budgets.nested_subsets`` of the training split, drawn with the head seed (seed
  ``s`` varies the labelled images AND the initialisation; the subsets are nested across budgets and identical for
  every method);
* validation: ``heads.val_budget`` (``budget``: the same per-class budget from the validation split, at least
  ``heads.val_min_per_class``; ``full``: the whole split); every choice (probe C, best (block, t), CATS inputs,
  best epoch) is made on it;
* test: the complete test split, only ever evaluated.

Linear probes (``linear_best``: a probe grid over the pooled bank, best cell by validation AUC; ``linear_ks``: one
probe on the concatenated KS-selected keys, the KS map being label-free) are refitted per budget and seed. Trained
methods get at least ``heads.budget_min_steps`` optimisation steps (epochs and patience scaled up for tiny
training sets) and, with ``heads.budget_augment``, random flips (+-2 px shifts for image inputs).
``fused`` (late fusion) trains nothing: once the cells of ``heads.fuse_methods`` (e.g. ``linear_topk`` and
``small_cnn``) of a (budget, seed) exist, their saved class probabilities are averaged with equal weights
(:func:`fuse_predictions`) and scored like any cell (with ``heads.decision=val_threshold`` the threshold is tuned
again on the fused validation probabilities).

Layout (resumable per budget, seed and method; a finished cell is reused while its settings fingerprint matches)::

    <run>/budgets/subsets.json                         ids of every (seed, budget) train / val subset
    <run>/budgets/b<B>/seed<s>/probe_grid.json         the probe grid of that budget and seed
    <run>/budgets/b<B>/seed<s>/<method>/metrics.json   test metrics, validation metrics, settings and (trained
                                                       methods) the per-epoch history, as in the heads stage
    <run>/budgets/b<B>/seed<s>/<method>/predictions.csv  validation subset and complete test split
    <run>/budgets/b<B>/{uncertainty.json,summary.csv}  CIs and paired comparisons against ResNet-18 per budget
    <run>/learning_curves.{csv,json,png}               mean and sd over seeds per method and budget
    <run>/results.csv                                  tidy: budget, method, seed, metric, value, n_test
    <run>/tb/budgets/b<B>/<method>/seed<s>             TensorBoard (pipeline.tensorboard): curves, test metrics

The stage ends with a console table (one row per budget x method, :func:`medfx.report.tables.format_budget_table`).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from ..data.budgets import ALL, budget_name, describe_rule, nested_subsets, validation_subset
from ..features.bank import bank_key
from ..heads.finetune import BackboneClassifier
from ..metrics.classification import classification_metrics
from ..metrics.threshold import apply_threshold, tune_threshold
from ..probes import ProbeGridResult, concat_probe, probe_grid
from ..probes.linear import LinearProbe
from ..report.html import label as report_label
from ..report.tables import format_budget_table, read_predictions, results_rows, write_csv, write_uncertainty
from ..utils.dataclass_io import to_dict
from ..utils.io import jsonable
from ..utils.io import write_json as _write_json
from .console import SeedETA, fmt_s
from .pipeline import (
    DCubeLosses,
    _cats_keys,
    _classifier_data,
    _grid_bank,
    _load_images,
    _summarize,
    _write_split_predictions,
    build_method,
    fit_and_score,
    fit_line,
    flip_axis,
    head_train_config,
    per_class_metrics,
    score_row,
)
from .tracking import budget_hparams

logger = logging.getLogger("medfx")

CURVE_METRICS = ("f1", "bacc", "auc", "acc")
PROBES = ("linear_best", "linear_ks", "linear_topk")
# a method's plot colour is its position here: new methods go last
LABELS = {"linear_best": "linear probe, best (block, t)", "linear_ks": "linear probe, KS-selected keys",
          "cats": "CATS-like head", "dcube": "D-Cube head", "dcube_feats": "D-Cube without image CNN",
          "dcube_cnn": "D-Cube image CNN alone", "small_cnn": "small CNN", "resnet18": "ResNet-18 (scratch)",
          "resnet50": "ResNet-50 (scratch)", "linear_topk": "linear probes, top-k (block, t) averaged",
          "backbone_ft": "diffusion U-Net fine-tuned, best (block, t)",
          "fused": "late fusion (heads.fuse_methods averaged)"}


class _Rows(Mapping):
    """A read-only view of a feature bank restricted to some rows (the probes' train / val / test rows)."""

    def __init__(self, bank, rows: np.ndarray):
        self.bank, self.rows = bank, rows

    def __getitem__(self, key):
        return np.asarray(self.bank[key][self.rows])

    def __iter__(self):
        return iter(self.bank)

    def __len__(self):
        return len(self.bank)


def budget_plan(bank, budgets, seeds, val_rule: str, val_min: int) -> dict:
    """``{seed: {budget: {"train": bank rows, "val": bank rows}}}`` plus ``"test"``: the complete test rows."""
    split = np.asarray(bank.split)
    tr, va, te = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    y = np.asarray(bank.labels)
    plan: dict = {"test": te}
    for s in seeds:
        subsets = nested_subsets(y[tr], budgets, seed=int(s))
        plan[int(s)] = {b: {"train": tr[subsets[b]],
                            "val": va[validation_subset(y[va], b, val_rule, seed=int(s), min_per_class=val_min)]}
                        for b in budgets}
    return plan


def _scaled_train_config(cfg, seed: int, method: str, n_train: int, axis: int = -1):
    """The harness settings of one trained method under a budget (see the module docstring)."""

    hc = cfg.heads
    baseline = method not in ("cats", "dcube", "dcube_feats", "dcube_cnn")
    t = head_train_config(cfg, seed, baseline, axis)
    bs = max(2, min(t.batch_size, n_train))
    steps = max(1, n_train // bs) * t.epochs
    factor = max(1, math.ceil(hc.budget_min_steps / steps)) if hc.budget_min_steps else 1
    changes = {"batch_size": bs, "epochs": t.epochs * factor, "patience": t.patience * factor}
    if hc.budget_augment and method != "cats":
        # standardised D-Cube inputs are never mirrored (see heads.dcube_feature_norm); the image shifts stay
        changes["augment_flip"] = not (method in ("dcube", "dcube_feats") and hc.dcube_feature_norm == "standard")
        if method not in ("dcube_feats",):
            changes["augment_shift"] = 2
    return dataclasses.replace(t, **changes)


def _fingerprint(obj) -> str:

    return bank_key(obj)


def _ids_sha(bank, rows) -> str:
    return _fingerprint([bank.ids[i] for i in rows])


def run_label_budgets(cfg, ckpt, bank, gauss: dict, run_dir: Path, progress: bool = True, tb=None) -> dict:
    """Every method x budget x seed; writes the per-cell files, learning curves and ``results.json`` entries.
    ``tb``: the run's ``LiveTensorBoard`` (curves of every trained cell as it trains, then its test metrics)."""

    hc, pc = cfg.heads, cfg.probe
    cfg_dict = to_dict(cfg)
    budgets, seeds, methods = list(hc.label_budgets), [int(s) for s in hc.seeds], list(hc.methods)
    k = len(bank.class_names) or int(bank.labels.max()) + 1
    class_names = bank.class_names or [str(i) for i in range(k)]
    y = np.asarray(bank.labels)
    plan = budget_plan(bank, budgets, seeds, hc.val_budget, hc.val_min_per_class)
    te = plan["test"]
    bdir = run_dir / "budgets"
    bdir.mkdir(parents=True, exist_ok=True)
    _write_json(bdir / "subsets.json", {
        "rule": describe_rule(hc.val_budget, hc.val_min_per_class), "test_ids": [bank.ids[i] for i in te],
        "seeds": {str(s): {budget_name(b): {"train_ids": [bank.ids[i] for i in plan[s][b]["train"]],
                                            "val_ids": [bank.ids[i] for i in plan[s][b]["val"]]}
                           for b in budgets} for s in seeds}})
    C = "auto" if pc.C == "auto" else float(pc.C)
    ks_keys = [tuple(x) for x in gauss["selected"]] if gauss else []

    def rows_and_split(s, b):
        rows = np.concatenate([plan[s][b]["train"], plan[s][b]["val"], te])
        split = np.array(["train"] * len(plan[s][b]["train"]) + ["val"] * len(plan[s][b]["val"]) + ["test"] * len(te))
        return rows, split

    # 1. probes per (budget, seed): the grid (linear_best, and the CATS inputs) and the KS-keys probe
    grids: dict = {}
    cells: dict = {}
    for b in budgets:
        for s in seeds:
            cdir = bdir / f"b{budget_name(b)}" / f"seed{s}"
            rows, split = rows_and_split(s, b)
            sha = _fingerprint({"bank": bank.meta.get("key"), "rows": _ids_sha(bank, rows), "probe":
                                dataclasses.asdict(pc)})
            gfile = cdir / "probe_grid.json"
            meta = cdir / "probe_grid.settings"
            if gfile.exists() and meta.exists() and meta.read_text() == sha:
                grid = ProbeGridResult.from_json(gfile)
            else:
                grid = probe_grid(_Rows(bank, rows), y[rows], split, mode="holdout", seed=pc.seed, C=C,
                                  num_classes=k, select_metric=pc.select_metric, progress=False)
                grid.to_json(gfile)
                meta.write_text(sha)
            grids[(b, s)] = grid
            sha_p = sha if hc.decision == "argmax" else _fingerprint([sha, hc.decision])
            for method in [m for m in PROBES if m in methods]:
                keys = {"linear_best": [grid.best()], "linear_topk": grid.top(hc.probe_topk)}.get(method, ks_keys)
                if not keys:
                    continue
                sha_m = _fingerprint([sha_p, hc.probe_topk]) if method == "linear_topk" else sha_p
                f = cdir / method / "metrics.json"
                prev = _finished(f, sha_m)
                if prev is not None:
                    cells[(b, s, method)] = prev
                    continue
                if method == "linear_topk":  # one probe per cell, each with the C the grid chose for it
                    grid_rows = [grid.row(*key) for key in keys]
                    raw = _probe_proba(bank, [[key] for key in keys], rows, split, y, [r["C"] for r in grid_rows],
                                       pc.seed, k)
                    cell = _ensemble_cell(raw, y[rows][split == "val"], grid_rows, k,
                                          {"input": [list(x) for x in keys], "settings_sha": sha_m})
                else:
                    row = grid.row(*keys[0]) if method == "linear_best" else concat_probe(
                        _Rows(bank, rows), keys, y[rows], split, mode="holdout", seed=pc.seed, C=C, num_classes=k)
                    cell = _probe_cell(row, k, {"input": list(keys[0]) if method == "linear_best"
                                                else [list(x) for x in keys], "settings_sha": sha_m})
                    raw = _probe_proba(bank, [keys], rows, split, y, [row["C"]], pc.seed, k)
                proba, threshold = _decide(raw, y[rows][split == "val"], hc.decision)
                m = classification_metrics(y[te], proba["test"], num_classes=k)
                if method == "linear_topk":  # the ensemble's own test metrics (the grid scored single cells)
                    cell.update({x: float(m[x]) for x in ("acc", "bacc", "precision", "recall", "f1", "auc")})
                elif threshold is not None:
                    cell.update({x: float(m[x]) for x in ("acc", "bacc", "precision", "recall", "f1")})
                cell.update(_decision_fields(m, hc.decision, threshold))
                _write_split_predictions(f.parent / "predictions.csv", bank, class_names, proba,
                                         {"val": plan[s][b]["val"], "test": te})
                _write_json(f, cell)
                cells[(b, s, method)] = cell

    # 2. trained methods
    trained = [m for m in methods if m not in PROBES and m != "fused"]
    cats_keys = {(b, s): _cats_keys(grids[(b, s)], hc.cats_inputs) for b in budgets for s in seeds}
    # the grid bank holds every (block, t) of the pooled bank, so it does not change with the budgets or seeds
    # (adding a budget later reuses every finished cell); heads read the keys they need batch by batch
    need = list(bank) if {"cats", "dcube", "dcube_feats", "dcube_cnn"} & set(trained) else []
    gbank = _grid_bank(cfg, ckpt, need, run_dir, progress) if need and trained else None
    images = _load_images(cfg, bank) if any(m != "cats" for m in trained) else None
    spatial_dims = images.ndim - 2 if images is not None else (len(gbank.shapes[need[0]]) - 1 if need else 2)
    axis = flip_axis(cfg, spatial_dims)
    losses = DCubeLosses(cfg, ckpt, axis)
    tuned = _FineTuned(cfg, losses, images, k) if "backbone_ft" in trained else None
    eta = SeedETA([(m, (b, s)) for b in budgets for s in seeds for m in trained])
    for b in budgets:
        for s in seeds:
            for method in trained:
                keys = cats_keys[(b, s)] if method == "cats" else ks_keys if method.startswith("dcube") else []
                ft_key = grids[(b, s)].best() if method == "backbone_ft" else None  # chosen on validation
                cdir = bdir / f"b{budget_name(b)}" / f"seed{s}" / method
                tr_rows, va_rows = plan[s][b]["train"], plan[s][b]["val"]
                tcfg = _scaled_train_config(cfg, s, method, len(tr_rows), axis)
                torch.manual_seed(s)
                shapes = {key: gbank.shapes[key] for key in keys} if keys else {}
                model = tuned(*ft_key) if ft_key else build_method(method, cfg, shapes, spatial_dims, k)
                sha = _fingerprint({"method": method, "train": dataclasses.asdict(tcfg),
                                    "model": model.get_config() if hasattr(model, "get_config") else type(model).__name__,
                                    "inputs": [list(x) for x in keys], "bank": bank.meta.get("key"),
                                    "grid_bank": None if gbank is None or not keys else gbank.meta.get("key"),
                                    "train_ids": _ids_sha(bank, tr_rows), "val_ids": _ids_sha(bank, va_rows),
                                    **({} if hc.decision == "argmax" else {"decision": hc.decision})})
                f = cdir / "metrics.json"
                prev = json.loads(f.read_text()) if f.exists() else None
                if prev is not None and prev.get("settings_sha") == sha:
                    cells[(b, s, method)] = prev
                    eta.plan.remove((method, (b, s)))
                    continue
                imgs = None if method == "cats" else images

                def data(rows, keys=keys, imgs=imgs):  # the heads stage's loader: lazy unless heads.in_memory
                    return _classifier_data(gbank if keys else bank, keys, imgs, np.asarray(rows, dtype=np.int64),
                                            in_memory=hc.in_memory)

                name = budget_name(b)
                logger.info("budget %s seed %d: training %s (%d train, %d val)", name, s, method,
                            len(tr_rows), len(va_rows))
                res = fit_and_score(model, data(tr_rows), data(va_rows), data(te), tcfg, decision=hc.decision,
                                    loss_fn=losses(method),
                                    on_epoch=tb.head_curves(method, s, name) if tb is not None else None)
                cell = {**score_row(res, tcfg), "batch_size": tcfg.batch_size,
                        "augment": {"flip": tcfg.augment_flip, "shift": tcfg.augment_shift},
                        "input": list(ft_key) if ft_key else [list(x) for x in keys], "settings_sha": sha}
                cdir.mkdir(parents=True, exist_ok=True)
                _write_split_predictions(cdir / "predictions.csv", bank, class_names, res["proba"],
                                         {"val": va_rows, "test": te})
                _write_json(f, cell)
                cells[(b, s, method)] = cell
                eta.done(method, res["fit"].wall_time_s)
                i = eta.plan.index((method, (b, s))) + 1
                logger.info("budget %s seed %d %s [%d/%d]: %s", name, s, method, i, len(eta.plan),
                            fit_line(res, tcfg, f"budgets ETA ~{fmt_s(eta.remaining(i))}"))
                if tb is not None:
                    tb.head_result(method, s, cell, budget_hparams(method, s, name, cell, cfg_dict), name)

    # 2b. late fusion: the components' cells of the same budget and seed, their saved probabilities averaged
    if "fused" in methods:
        for b in budgets:
            for s in seeds:
                cdir = bdir / f"b{budget_name(b)}" / f"seed{s}"
                parts = [cells.get((b, s, m)) for m in hc.fuse_methods]
                if any(p is None for p in parts):  # a component without a cell (e.g. no KS keys): nothing to fuse
                    continue
                sha = _fingerprint({"fuse": list(hc.fuse_methods), "parts": [p.get("settings_sha") for p in parts],
                                    "decision": hc.decision})
                f = cdir / "fused" / "metrics.json"
                prev = _finished(f, sha)
                if prev is not None:
                    cells[(b, s, "fused")] = prev
                    continue
                va_rows = plan[s][b]["val"]
                raw = fuse_predictions([cdir / m / "predictions.csv" for m in hc.fuse_methods],
                                       {"val": [bank.ids[i] for i in va_rows], "test": [bank.ids[i] for i in te]})
                proba, threshold = _decide(raw, y[va_rows], hc.decision)
                m = classification_metrics(y[te], proba["test"], num_classes=k)
                val = classification_metrics(y[va_rows], proba["val"], num_classes=k)
                params = [p.get("params") for p in parts]
                cell = {**fused_cell_fields(m, val, params), "input": list(hc.fuse_methods),
                        "weights": [1.0 / len(parts)] * len(parts), "settings_sha": sha,
                        **_decision_fields(m, hc.decision, threshold)}
                _write_split_predictions(f.parent / "predictions.csv", bank, class_names, proba,
                                         {"val": va_rows, "test": te})
                _write_json(f, cell)
                cells[(b, s, "fused")] = cell

    # 3. per budget: bootstrap CIs and paired comparisons with the same-run ResNet-18 on the same test images,
    # and the console's results table (one row per budget x method)
    per_budget, uncs = [], {}
    for b in budgets:
        unc = uncs[b] = budget_uncertainty(bdir / f"b{budget_name(b)}", methods, seeds)
        summaries = {m: _summarize({"seeds": {str(s): cells[(b, s, m)] for s in seeds if (b, s, m) in cells}})
                     for m in methods if any((b, s, m) in cells for s in seeds)}
        per_budget.append((budget_name(b), {"methods": summaries}, unc))
    logger.info("%s", format_budget_table(per_budget, labels={m: report_label(m) for m in methods}))

    # 4. curves and results
    n_per_class = {b: _labels_per_class(y, plan, seeds, b) for b in budgets}
    table = learning_curve_table(cells, budgets, seeds, methods, n_per_class, plan, uncs)
    rule = describe_rule(hc.val_budget, hc.val_min_per_class)
    write_learning_curves(run_dir, table, cells, rule, class_names)
    tidy = [{"budget": budget_name(b), **r} for b in budgets for r in results_rows(
        {"methods": {m: {"seeds": {str(s): cells[(b, s, m)] for s in seeds if (b, s, m) in cells}} for m in methods}})]
    write_csv(run_dir / "results.csv", tidy, ("budget", "method", "seed", "metric", "value", "n_test"))
    results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").exists() else {}
    results["class_names"] = class_names
    results["label_budgets"] = {"budgets": [budget_name(b) for b in budgets], "seeds": seeds, "validation_rule": rule,
                                "test_n": int(len(te)), "table": table,
                                "files": ["learning_curves.csv", "learning_curves.json", "learning_curves.png"]}
    top = budgets[-1]
    results.setdefault("methods", {})
    for method in methods:
        seeds_rows = {str(s): cells[(top, s, method)] for s in seeds if (top, s, method) in cells}
        if seeds_rows:
            entry = {"seeds": seeds_rows, "params": next(iter(seeds_rows.values())).get("params"),
                     "note": f"label budget {budget_name(top)} per class"}
            results["methods"][method] = _summarize(entry)
    _write_json(run_dir / "results.json", results)
    return results


class _FineTuned:
    """``backbone_ft`` models: the run's DDPM (EMA weights; loaded once per stage by ``DCubeLosses.ddpm``, shared
    with D-Cube's loss) as a ``BackboneClassifier``."""

    def __init__(self, cfg, losses: DCubeLosses, images, k: int):
        self.cfg, self.losses, self.k, self.shape = cfg, losses, k, tuple(images.shape[1:])

    def __call__(self, block: str, t: int):
        backbone, _, diffusion = self.losses.ddpm()
        return BackboneClassifier(backbone, block, int(t), self.k, diffusion, self.shape,
                                  backbone_lr_scale=self.cfg.heads.ft_lr_scale, noise_seed=self.cfg.features.seed)


def budget_uncertainty(out: Path, methods, seeds) -> dict | None:
    """``uncertainty.json`` and ``summary.csv`` of one budget directory ``out`` (``budgets/b<B>``) from its cells'
    test predictions (``seed<s>/<method>/predictions.csv``): intervals of every method, paired comparisons
    against the same-run ResNet-18. None when no cell has predictions."""
    per = {"methods": {m: {"seeds": {s: {} for s in seeds}} for m in methods}}
    return write_uncertainty(out, per, path_of=lambda m, s: out / f"seed{s}" / m / "predictions.csv")


def evaluate_budgets(run_dir: Path, results: dict) -> dict:
    """``medfx evaluate`` of a label-budget run: its cells keep predictions, not models, so nothing is re-run;
    every budget's ``uncertainty.json`` / ``summary.csv`` is recomputed from the cells' ``predictions.csv`` (a run
    written before they existed gets them). Returns ``results`` unchanged."""
    lb = results["label_budgets"]
    methods = list(dict.fromkeys(r["method"] for r in lb.get("table", [])))
    for b in lb.get("budgets", []):
        if budget_uncertainty(Path(run_dir) / "budgets" / f"b{b}", methods, lb.get("seeds", [])) is None:
            logger.warning("budget %s: no cell predictions, no intervals", b)
    return results


def _probe_proba(bank, groups, rows, split, y, Cs, seed: int, k: int) -> dict:
    """Validation and test probabilities of budget probes refitted on the budget's training rows (the same
    deterministic fit as the grid's): one probe per entry of ``groups`` (a list of keys, concatenated) with the
    matching ``Cs``, their class probabilities averaged. ``groups=[keys]``: one probe (one key, or the concatenation
    of several); ``groups=[[key] for key in keys]``: an ensemble of one probe per key. Returns
    ``{"val": [n, K], "test": [n, K]}``."""

    tr = split == "train"
    out = {name: np.zeros((int((split == name).sum()), k)) for name in ("val", "test")}
    for group, c in zip(groups, Cs, strict=True):
        X = np.concatenate([np.asarray(bank[key][rows]).reshape(len(rows), -1) for key in group], axis=1)
        lp = LinearProbe(C=float(c), random_state=seed).fit(X[tr], y[rows][tr])
        for name, acc in out.items():  # float64 before averaging: float32 fifths of 1.0 sum to 1 + 1.5e-8
            acc[:, lp.classes_.astype(int)] += np.asarray(lp.predict_proba(X[split == name]), np.float64) / len(groups)
    return {name: np.clip(acc, 0.0, 1.0) for name, acc in out.items()}  # a last-ulp excess breaks logit thresholds


def _finished(f: Path, sha: str) -> dict | None:
    """The ``metrics.json`` content of a probe or fused cell that finished with these settings (its
    ``predictions.csv`` written too), else None."""
    prev = json.loads(f.read_text()) if f.exists() else None
    if prev is not None and prev.get("settings_sha") == sha and (f.parent / "predictions.csv").exists():
        return prev
    return None


def _decision_fields(m: dict, decision: str, threshold) -> dict:
    """The decision rule and the test confusion-matrix fields of a probe or fused cell (``m``: its test metrics)."""
    return {"decision": decision, "threshold": threshold, "confusion": jsonable(m["confusion"]), "n_test": int(m["n"]),
            **per_class_metrics(m["confusion"])}


def fuse_predictions(files, ids_by_split: dict) -> dict:
    """Late fusion: the class probabilities of several cells' ``predictions.csv`` files averaged with equal weights
    (float64, clipped to [0, 1]), per split in the order of ``ids_by_split[split]`` (every file must hold exactly
    those rows). Returns ``{split: [n, K]}``."""
    out = {}
    for split, ids in ids_by_split.items():
        acc = None
        for path in files:
            d = read_predictions(path, split)
            if list(d["ids"]) != list(ids):
                raise ValueError(f"{path}: its {split} rows are not the fused cells' (other sample ids or order)")
            p = np.asarray(d["proba"], np.float64)
            acc = p if acc is None else acc + p
        out[split] = np.clip(acc / len(files), 0.0, 1.0)
    return out


def fused_cell_fields(m: dict, val: dict, params: list) -> dict:
    """The metrics.json fields of a fused cell (the ``fused`` method here, ``medfx fuse`` across runs): test metrics
    ``m`` and validation metrics ``val`` (``classification_metrics`` of the average), and its parameters: the
    components' sum, None unless every component counted its own."""
    return {**{x: float(m[x]) for x in ("acc", "bacc", "precision", "recall", "f1", "auc")},
            "params": sum(params) if all(isinstance(x, int) for x in params) else None,
            "val": {x: float(val[x]) for x in ("auc", "bacc", "f1")}}


def _decide(proba: dict, y_val, decision: str):
    """``decision=val_threshold``: the threshold tuned on the validation rows, applied to every split. Returns
    ``(proba, threshold)`` (``threshold`` None with argmax)."""
    if decision != "val_threshold":
        return proba, None
    threshold = tune_threshold(y_val, proba["val"], "bacc")
    return {name: apply_threshold(p, threshold) for name, p in proba.items()}, threshold


def _ensemble_cell(raw: dict, y_val, rows: list[dict], k: int, extra: dict) -> dict:
    """The metrics.json fields of an ensemble of probes (linear_topk) from its averaged validation probabilities;
    the test metrics are filled in by the caller. ``params``: the probes' coefficients and intercepts together."""
    val = classification_metrics(y_val, raw["val"], num_classes=k)
    return {"params": sum(_probe_params(r, k) for r in rows),
            "val": {m: float(val[m]) for m in ("auc", "bacc", "f1")}, "C": [r.get("C") for r in rows], **extra}


def _probe_params(row: dict, k: int) -> int:
    """Coefficients and intercepts of the logistic regression of one probe-grid row (one set for two classes)."""
    return (int(row.get("dims", 0)) + 1) * (1 if k == 2 else k)


def _probe_cell(row: dict, k: int, extra: dict) -> dict:
    out = {m: (None if row.get(f"{m}_mean") is None or (isinstance(row.get(f"{m}_mean"), float)
                                                           and math.isnan(row[f"{m}_mean"])) else float(row[f"{m}_mean"]))
           for m in ("acc", "bacc", "precision", "recall", "f1", "auc")}
    out["params"] = _probe_params(row, k)
    out["val"] = {m: row.get(f"val_{m}") for m in ("auc", "bacc", "f1")}
    out["C"] = row.get("C")
    return {**out, **extra}


def _labels_per_class(y, plan, seeds, b) -> float:
    if b != ALL:
        return float(b)
    rows = plan[seeds[0]][b]["train"]
    return float(len(rows)) / max(1, len(np.unique(y[rows])))


def learning_curve_table(cells: dict, budgets, seeds, methods, n_per_class: dict, plan,
                         uncs: dict | None = None) -> list[dict]:
    """One row per (method, budget): mean and sd (ddof=1) over seeds of every curve metric and, where the budget's
    ``uncertainty.json`` content is given (``uncs[budget]``), its 95 % interval (``<metric>_ci_low`` / ``_high``:
    bootstrap over test images of the seed-averaged metric); None where there is none."""
    table = []
    for method in methods:
        for b in budgets:
            rows = [cells[(b, s, method)] for s in seeds if (b, s, method) in cells]
            if not rows:
                continue
            r = {"method": method, "label": LABELS.get(method, method), "budget": budget_name(b),
                 "labels_per_class": n_per_class[b], "n_train": int(len(plan[seeds[0]][b]["train"])),
                 "n_val": int(len(plan[seeds[0]][b]["val"])), "seeds": len(rows), "params": rows[0].get("params")}
            cis = (((uncs or {}).get(b) or {}).get("ci") or {}).get(method) or {}
            for m in CURVE_METRICS:
                v = np.array([np.nan if x.get(m) is None else x[m] for x in rows], dtype=float)
                r[f"{m}_mean"] = float(np.mean(v))
                r[f"{m}_sd"] = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
                ci = cis.get(m) or {}
                r[f"{m}_ci_low"], r[f"{m}_ci_high"] = ci.get("low"), ci.get("high")
            wt = [x["wall_time_s"] for x in rows if "wall_time_s" in x]
            r["wall_time_s"] = float(np.mean(wt)) if wt else None
            table.append(r)
    return table


def write_learning_curves(run_dir: Path, table: list[dict], cells: dict, rule: str, class_names) -> None:
    """``learning_curves.csv`` (the table), ``.json`` (table, per-seed cells, rule) and ``.png``."""
    run_dir = Path(run_dir)
    if table:
        with (run_dir / "learning_curves.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(table[0]))
            w.writeheader()
            w.writerows(table)
    per_seed = [{"budget": budget_name(b), "seed": s, "method": m,
                 **{x: c.get(x) for x in (*CURVE_METRICS, "params", "best_epoch", "wall_time_s")}}
                for (b, s, m), c in sorted(cells.items(), key=lambda kv: (str(kv[0][0]), kv[0][1], kv[0][2]))]
    (run_dir / "learning_curves.json").write_text(json.dumps(
        {"validation_rule": rule, "class_names": list(class_names), "table": table, "per_seed": per_seed,
         "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1, default=float))
    plot_learning_curves(table, run_dir / "learning_curves.png", subtitle=rule)


# matplotlib's ten cycle colours, then more for the methods after the tenth (each method keeps its colour)
COLORS = [f"C{i}" for i in range(10)] + ["black", "darkgoldenrod", "teal", "slateblue"]


def method_color(method: str, i: int = 0) -> str:
    """A method's plot colour: its position in ``LABELS`` (distinct for every known method), else the ``i``-th."""
    return COLORS[(list(LABELS).index(method) if method in LABELS else i) % len(COLORS)]


def plot_learning_curves(table: list[dict], path: Path, subtitle: str = "", title: str = "") -> Path | None:
    """Macro-F1, balanced accuracy and AUC against labels per class (log x), mean +- sd band per method and, where
    the table has them (``<metric>_ci_low`` / ``_high``), 95 % interval whiskers."""
    if not table:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    methods = list(dict.fromkeys(r["method"] for r in table))
    whiskers = False
    for ax, (m, name) in zip(axes, (("f1", "macro-F1"), ("bacc", "balanced accuracy"), ("auc", "AUC"))):
        for i, method in enumerate(methods):
            rows = sorted((r for r in table if r["method"] == method), key=lambda r: r["labels_per_class"])
            x = np.array([r["labels_per_class"] for r in rows])
            mu = np.array([r[f"{m}_mean"] for r in rows])
            sd = np.array([r[f"{m}_sd"] for r in rows])
            style = "--" if method in ("small_cnn", "resnet18", "resnet50", "dcube_cnn") else "-"
            color = method_color(method, i)
            ax.plot(x, mu, style, marker="o", ms=3, lw=1.5, color=color, label=rows[0]["label"])
            ax.fill_between(x, mu - sd, mu + sd, color=color, alpha=0.12)
            lo = np.array([r.get(f"{m}_ci_low") for r in rows], dtype=float)  # None -> nan
            hi = np.array([r.get(f"{m}_ci_high") for r in rows], dtype=float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                whiskers = True
                # small horizontal offsets so that the methods' whiskers do not cover each other
                xo = x[ok] * (1 + 0.025 * (i - (len(methods) - 1) / 2))
                ax.errorbar(xo, mu[ok], yerr=[np.clip(mu[ok] - lo[ok], 0, None), np.clip(hi[ok] - mu[ok], 0, None)],
                            fmt="none", ecolor=color, elinewidth=0.8, capsize=2, alpha=0.7)
        ax.set_xscale("log")
        ticks = sorted({r["labels_per_class"] for r in table})
        ax.set_xticks(ticks)
        ax.set_xticklabels([next(r["budget"] for r in table if r["labels_per_class"] == t) for t in ticks])
        ax.set_xlim(min(ticks) / 1.3, max(ticks) * 1.3)  # fixed margins (the whiskers' offsets must not set them)
        ax.minorticks_off()
        ax.set_xlabel("labels per class (training split)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    legend = "band: mean ± sd over seeds" + ("; whiskers: 95% CI (bootstrap over test images of the seed-averaged "
                                             "metric)" if whiskers else "")
    fig.suptitle("\n".join(x for x in (title, subtitle, legend) if x), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
