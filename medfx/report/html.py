"""``build_report(run_dir)`` -> ``run_dir/report.html``: one self-contained file (figures embedded as base64 PNG)
that opens in any browser, offline.

The page is rendered from the Jinja2 template ``templates/report.html.j2`` (autoescaped) with a context built
only from the run directory's files: ``results.json``, ``uncertainty.json``, ``heads/*/seed*/predictions.csv``
and ``metrics.json``, ``config.yaml``, ``versions.json``, ``done.json``, ``stages/*.json``, the feature bank's
``meta.json``, ``probe/``, ``gaussianity/``, ``ddpm/``, when present ``data_check.json`` and, for a label-budget
run, ``learning_curves.png`` and ``budgets/b<B>/`` (``uncertainty.json`` per budget; the cells' ``predictions.csv``
and ``metrics.json`` of the smallest and largest budget for the figures). A missing file
leaves its section out (with a note); it never fails the report.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..data import DataConfig, load_splits
from ..metrics.classification import METRIC_NAMES
from ..utils.dataclass_io import from_dict
from . import figures
from .tables import load_run_predictions

logger = logging.getLogger(__name__)

METRICS = METRIC_NAMES
SECTIONS = ("results", "notes", "per-class", "roc", "confusion", "curves", "probe", "gaussianity", "cats",
            "diffusion", "data", "settings", "environment", "files")
LABELS = {"cats": "CATS-like head (ours)", "dcube": "D-Cube head", "linear_best": "linear probe, best (block, t)",
          "linear_ks": "linear probe, KS-selected keys", "dcube_feats": "D-Cube without image CNN",
          "dcube_cnn": "D-Cube image CNN alone", "resnet18": "ResNet-18 (scratch)", "resnet50": "ResNet-50 (scratch)",
          "small_cnn": "small CNN", "linear_topk": "linear probes, top-k (block, t) averaged",
          "backbone_ft": "diffusion U-Net fine-tuned, best (block, t)",
          "fused": "late fusion (heads.fuse_methods averaged)"}
SMALL_TEST = 200  # below this many test samples the report warns that intervals are wide


def label(method: str) -> str:
    base = method.removesuffix("+synth")
    return LABELS.get(base, base) + (" + synthetic data" if method.endswith("+synth") else "")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError) as e:
        logger.warning("report: cannot read %s (%s)", path, e)
        return None


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _file_b64(path: Path) -> str | None:
    return _b64(path.read_bytes()) if path.is_file() else None


def _fig(data: bytes | None, caption: str, wide: bool = False) -> dict | None:
    return None if data is None else {"b64": _b64(data), "caption": caption, "wide": wide}


def _file_fig(path: Path, caption: str) -> dict | None:
    return {"b64": _file_b64(path), "caption": caption, "wide": False} if path.is_file() else None


def _num(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{v:,}"
    return f"{v:.{digits}f}"


def _p(v) -> str:
    """A p-value: 3 decimals, ``"< 0.001"`` below that."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def _keys(keys) -> str:
    """``[["up.1", 0], ...]`` -> ``"(up.1, t=0), ..."``."""
    try:
        return ", ".join(f"({b}, t={t})" for b, t in keys) or "–"
    except (TypeError, ValueError):
        return str(keys)


def _cap(row: dict):
    """A seed's epoch cap as it trained: ``epoch_cap``, or ``epochs_max`` of a label-budget cell (scaled up)."""
    return row.get("epoch_cap") or row.get("epochs_max")


def _mean_sd(v) -> str:
    if not isinstance(v, (list, tuple)) or not v:
        return "–"
    mean, sd = v[0], v[1] if len(v) > 1 else None
    if mean is None:
        return "–"
    return _num(mean) if sd is None else f"{_num(mean)} ± {_num(sd)}"


def _ci_cell(mean_sd, ci: dict | None) -> dict:
    """A results-table cell: ``mean ± sd`` over seeds and, under it, the 95 % interval of ``uncertainty.json``."""
    return {"mean_sd": _mean_sd(mean_sd),
            "ci": f"[{_num(ci['low'])}, {_num(ci['high'])}]" if ci and ci.get("low") is not None else ""}


def _diff_cell(c: dict | None) -> dict:
    """A paired-difference cell: ``diff`` with its 95 % interval and bootstrap p-value (``sig``: CI excludes 0)."""
    if not c or c.get("diff") is None:
        return {"diff": "–", "sig": False, "p": "", "ci": ""}
    sig = c.get("low") is not None and (c["low"] > 0 or c["high"] < 0)
    return {"diff": f"{c['diff']:+.3f}", "sig": sig, "p": _p(c.get("p_value")),
            "ci": f"[{c['low']:+.3f}, {c['high']:+.3f}]" if c.get("low") is not None else ""}


def _delong(dl: dict | None) -> str:
    if not dl or dl.get("diff") is None:
        return "–"
    p = _p(dl["p_value"])
    return f"{dl['diff']:+.3f} [{dl['low']:+.3f}, {dl['high']:+.3f}]; p {p if p.startswith('<') else '= ' + p}"


# -- context pieces ---------------------------------------------------------------------------------------
def _results_rows(results: dict, unc: dict | None, cfg: dict) -> list[dict]:
    heads = cfg.get("heads", {})
    rows = []
    for name, e in results.get("methods", {}).items():
        s = e.get("summary", {})
        seeds = e.get("seeds", {})
        cis = (unc or {}).get("ci", {}).get(name, {})
        cells = [_ci_cell(s.get(m), cis.get(m)) for m in METRICS]
        best = [r.get("best_epoch") for r in seeds.values() if r.get("best_epoch") is not None]
        cap = next((_cap(r) for r in seeds.values() if _cap(r)), None)
        if cap is None and best and not heads.get("label_budgets"):
            cap = heads.get("epochs") if name in ("cats", "dcube") else heads.get("baseline_epochs")
        inputs = e.get("input") or next((r.get("input") for r in seeds.values() if r.get("input")), None)
        rows.append({"name": name, "label": label(name), "cells": cells,
                     "params": _num(e.get("params")) if e.get("params") is not None else "–",
                     "time": _num(s.get("wall_time_s"), 1) if s.get("wall_time_s") is not None else "–",
                     "seeds": "deterministic" if e.get("deterministic") or list(seeds) == ["-"] else str(len(seeds)),
                     "best_epoch": (", ".join(str(b) for b in best) + (f" / {cap}" if cap else "")) if best else "–",
                     "at_cap": bool(best and cap and any(b == cap for b in best)),
                     "input": ", ".join(f"({b}, t={t})" for b, t in inputs) if isinstance(inputs, list) and inputs
                     and isinstance(inputs[0], list) else (f"({inputs[0]}, t={inputs[1]})" if inputs else "image")})
    return rows


def _cv_rows(results: dict) -> list[dict]:
    """Cross-validated scores (``results["cv_scores"]`` / ``results["cv"]["methods"]``): never test scores."""
    cv = dict(results.get("cv_scores", {}))
    cv.update((results.get("cv") or {}).get("methods", {}))
    rows = []
    for name, e in cv.items():
        s = e.get("summary", {})
        rows.append({"label": label(name), "score_on": str(e.get("score_on", "CV")),
                     "cells": [_mean_sd(s.get(m)) if s.get(m) is not None and None not in s[m][:1] else "–"
                               for m in METRICS], "note": str(e.get("note", ""))})
    return rows


def _by_t_rows(selection: dict | None) -> tuple[str, list[dict]]:
    """Selected vs rejected blocks at the same timestep (``selection.json``'s ``by_t``)."""
    rows = [r for r in (selection or {}).get("by_t", []) if r.get("delta")]
    if not rows:
        return "", []
    on = (rows[0].get("selected_probe") or {}).get("score_on", "test")
    return on, [{"t": r.get("t"), "selected": _keys(r.get("selected", [])), "rejected": _keys(r.get("rejected", [])),
                 "auc_sel": _num((r.get("selected_probe") or {}).get("auc_mean")),
                 "auc_rej": _num((r.get("rejected_probe") or {}).get("auc_mean")),
                 "diff": _num((r.get("delta") or {}).get("auc"))} for r in rows]


def _paired_rows(unc: dict | None) -> list[dict]:
    if not unc:
        return []
    return [{"label": label(name), "cells": [_diff_cell(comps.get(m)) for m in METRICS],
             "delong": _delong(comps.get("auc_delong"))} for name, comps in unc.get("paired", {}).items()]


def _per_class(results: dict) -> list[dict]:
    names = results.get("class_names") or []
    out = []
    for name, e in results.get("methods", {}).items():
        s = e.get("summary", {})
        rec, prec, f1 = s.get("recall_per_class"), s.get("precision_per_class"), s.get("f1_per_class")
        if not rec:
            continue
        support = next((r.get("support_per_class") for r in e.get("seeds", {}).values()
                        if r.get("support_per_class")), None)
        rows = [{"cls": names[c] if c < len(names) else str(c), "recall": _num(rec[c]),
                 "precision": _num(prec[c]) if prec else "–", "f1": _num(f1[c]) if f1 else "–",
                 "support": support[c] if support else "–"} for c in range(len(rec))]
        out.append({"label": label(name), "rows": rows})
    return out


def _notes(run_dir: Path, results: dict, cfg: dict, selection: dict | None, ks: dict | None,
           n_test: int | None) -> list[dict]:
    """Every deviation of the run from what its names suggest, as ``{"level", "text"}``."""
    notes = []
    methods = results.get("methods", {})
    heads = cfg.get("heads", {})
    if "dcube" in methods:
        seeds = methods["dcube"].get("seeds", {})
        flags = [r.get("cycle_term") for r in seeds.values() if "cycle_term" in r]
        uncond = not (cfg.get("model", {}) or {}).get("conditional", False)
        if (flags and not any(flags)) or (not flags and uncond):
            notes.append({"level": "warn", "text": "D-Cube head ran WITHOUT its cycle term: the DDPM is not "
                          "class-conditional (model.conditional=false), so the cycle loss is 0. The row is "
                          "D-Cube's architecture with cross-entropy + flip consistency only."})
    if selection is not None:
        fallback = selection.get("fallback")
        if fallback is None and ks is not None:  # files written before the flag existed
            alpha = selection.get("alpha", 0.05)
            pv = {(r["block"], r["t"]): r.get("pvalue") for r in ks.get("table", [])}
            fallback = not any((pv.get(tuple(k)) or 1.0) < alpha for k in selection.get("selected", []))
        if fallback:
            notes.append({"level": "warn", "text": f"KS fallback: no (block, t) had p < alpha = "
                          f"{selection.get('alpha')}; the D-Cube inputs are the least Gaussian keys, not "
                          "non-Gaussian ones."})
    lb = results.get("label_budgets")
    top = f" (budget {(lb.get('budgets') or ['?'])[-1]})" if lb else ""  # a budget run's results: its largest
    for name, e in methods.items():
        at_cap = []
        for seed, r in e.get("seeds", {}).items():
            cap = _cap(r) or (None if heads.get("label_budgets") else heads.get("epochs")
                              if name in ("cats", "dcube") else heads.get("baseline_epochs"))
            if r.get("best_epoch") is not None and cap and r["best_epoch"] >= cap:
                at_cap.append((seed, cap))
        if at_cap:
            notes.append({"level": "warn", "text": f"{label(name)}{top}: best validation epoch = epoch cap "
                          f"({at_cap[0][1]}) for seed(s) {', '.join(s for s, _ in at_cap)} of "
                          f"{len(e.get('seeds', {}))}; the model may be under-trained (raise the epochs)."})
        for seed, r in e.get("seeds", {}).items():
            cm = r.get("confusion")
            if cm is not None:
                used = int((np.asarray(cm).sum(0) > 0).sum())
                if used <= 1:
                    notes.append({"level": "warn", "text": f"{label(name)}{top}, seed {seed}: degenerate, predicts "
                                  "one class for every test sample (balanced accuracy 0.5 by construction)."})
    probe_mode = (cfg.get("probe") or {}).get("mode", "holdout")
    if probe_mode == "cv":
        notes.append({"level": "info", "text": "Probes ran in cv mode: probe numbers are cross-validation means "
                      "over train+val folds, not test-split numbers; the linear-probe row's predictions refit on "
                      "train+val and predict the test split."})
    if n_test is not None and n_test < SMALL_TEST:
        notes.append({"level": "info", "text": f"Small test set (n = {n_test}): intervals are wide; differences "
                      "inside them are not evidence of a difference."})
    if lb:
        top = (lb.get("budgets") or ["?"])[-1]
        notes.append({"level": "info", "text": f"Label-budget run (budgets {', '.join(lb.get('budgets', []))} "
                      f"labelled images per class, seeds {', '.join(str(x) for x in lb.get('seeds', []))}): the "
                      f"results table holds the largest budget ({top}) only; every budget is under 'Learning curves'. "
                      "Epochs and patience of the trained methods were scaled up so each gets at least "
                      f"heads.budget_min_steps = {heads.get('budget_min_steps', '?')} optimisation steps (best epoch "
                      f"/ cap shows the scaled cap){'; random flips / shifts augment the training images' if heads.get('budget_augment') else ''}. "
                      f"{lb.get('validation_rule', '')}. The probe grid further down (when the probe stage "
                      "ran) uses every training label; the budget rows refit their probes on each budget's labels."})
        notes += _budget_flags(run_dir, lb)
        notes.append(_budget_note(run_dir, lb))
    elif results.get("methods") and not (run_dir / "uncertainty.json").is_file():
        notes.append({"level": "info", "text": "No per-sample predictions: confidence intervals and paired "
                      "comparisons are missing (run `medfx evaluate RUN` to write them)."})
    return notes


BUDGET_METRICS = ("f1", "bacc", "auc", "acc")  # the learning curves' metrics
BUDGET_DIFFS = ("f1", "bacc", "auc")


def _budget_dir(run_dir: Path, budget: str) -> Path:
    return run_dir / "budgets" / f"b{budget}"


def shown_budgets(lb: dict) -> list[str]:
    """The budgets whose per-class tables, ROC, confusion and training-curve figures the report shows open: the
    smallest and the largest. Every other budget's are there too, folded (``<details>``), so that the page stays
    readable with many budgets."""
    b = [str(x) for x in (lb.get("budgets") or [])]
    return list(dict.fromkeys(b[:1] + b[-1:]))


def _budget_cell(run_dir: Path, budget: str, seed, method: str) -> dict | None:
    return _read_json(_budget_dir(run_dir, budget) / f"seed{seed}" / method / "metrics.json")


def _budget_flags(run_dir: Path, lb: dict) -> list[dict]:
    """Degenerate cells (one predicted class for every test sample) and cells whose best epoch is their (scaled)
    epoch cap, at every budget but the largest (whose cells are the results table's, flagged per method above)."""
    methods = list(dict.fromkeys(r.get("method") for r in lb.get("table", [])))
    degenerate: dict = {}
    at_cap: dict = {}
    for b in [str(x) for x in lb.get("budgets", [])][:-1]:
        for m in methods:
            for s in lb.get("seeds", []):
                r = _budget_cell(run_dir, b, s, m) or {}
                cm = r.get("confusion")
                if cm is not None and int((np.asarray(cm).sum(0) > 0).sum()) <= 1:
                    degenerate.setdefault(b, {}).setdefault(m, []).append(str(s))
                if r.get("best_epoch") is not None and _cap(r) and r["best_epoch"] >= _cap(r):
                    at_cap.setdefault(b, {}).setdefault(m, []).append(str(s))

    def listing(flags: dict) -> str:
        return "; ".join(f"budget {b}: " + ", ".join(f"{label(m)} (seed {', '.join(s)})" for m, s in per.items())
                         for b, per in flags.items())
    notes = []
    if degenerate:
        notes.append({"level": "warn", "text": "Degenerate cells at smaller budgets, predicting one class for every "
                      f"test sample (balanced accuracy 0.5 by construction): {listing(degenerate)}."})
    if at_cap:
        notes.append({"level": "warn", "text": "Cells at smaller budgets whose best validation epoch is their (scaled) "
                      f"epoch cap, possibly under-trained: {listing(at_cap)}."})
    return notes


def _budget_note(run_dir: Path, lb: dict) -> dict:
    """What the report of a budget run shows and what it does not, from the files the run holds."""
    budgets = [str(b) for b in lb.get("budgets", [])]
    uncs = {b: _read_json(_budget_dir(run_dir, b) / "uncertainty.json") for b in budgets}
    with_ci = [b for b in budgets if uncs[b]]
    with_paired = [b for b in with_ci if uncs[b].get("paired")]
    trained = no_hist = 0
    methods = {r.get("method") for r in lb.get("table", [])}
    for b, s, m in ((b, s, m) for b in budgets for s in lb.get("seeds", []) for m in methods):
        r = _budget_cell(run_dir, b, s, m) or {}
        if r.get("best_epoch") is not None:  # a trained cell (probes have no epochs)
            trained += 1
            no_hist += not r.get("history")
    shown = shown_budgets(lb)
    parts = []
    if with_ci:
        parts.append(f"Intervals (budgets/b<B>/uncertainty.json) for budget(s) {', '.join(with_ci)}"
                     + (f"; paired differences against ResNet-18 for {', '.join(with_paired)}" if with_paired else
                        "; no paired differences (ResNet-18 is not among heads.methods, or its cells are missing)")
                     + ".")
    missing = [b for b in budgets if b not in with_ci]
    if missing:
        parts.append(f"No intervals for budget(s) {', '.join(missing)} (no uncertainty.json, e.g. a run written "
                     "by an older medfx: `medfx evaluate RUN` computes them from the cells' predictions.csv).")
    folded = [b for b in budgets if b not in shown]
    parts.append(f"Per-class metrics, ROC curves, confusion matrices and training curves are shown for budget(s) "
                 f"{', '.join(shown)} (the smallest and the largest)"
                 + (f", and folded (click to open) for budget(s) {', '.join(folded)}" if folded else "")
                 + "; every cell's predictions are in "
                 "budgets/b<B>/seed<s>/<method>/predictions.csv and its per-epoch history in metrics.json.")
    if no_hist:
        parts.append(f"{no_hist} of {trained} trained cells have no epoch history (trained before histories were "
                     "stored; delete their metrics.json to retrain them).")
    parts.append("The learning-curve bands are mean ± sd over seeds; differences between budgets are not tested, "
                 "paired tests compare methods within a budget only.")
    return {"level": "info", "text": " ".join(parts)}


def _budgets(run_dir: Path, results: dict, uncs: dict) -> dict | None:
    """The label-budget section: ``learning_curves.png`` and, per budget, every method's mean ± sd over seeds
    (``results["label_budgets"]["table"]``) with its 95 % interval and paired difference against the same-run
    reference (ResNet-18) from ``budgets/b<B>/uncertainty.json`` (``uncs``: budget -> dict or None)."""
    lb = results.get("label_budgets")
    if not lb:
        return None
    tables = []
    for b in lb.get("budgets", []):
        rows = [r for r in lb.get("table", []) if r.get("budget") == b]
        if not rows:
            continue
        unc = uncs.get(b) or {}
        ci, paired, ref = unc.get("ci", {}), unc.get("paired", {}), unc.get("reference")
        out = []
        for r in rows:
            m = r.get("method", "?")
            one = r.get("seeds") == 1  # no "± 0.000" for a single seed
            out.append({"label": label(m), "seeds": r.get("seeds", "–"), "reference": bool(paired) and m == ref,
                        "cells": [_ci_cell([r.get(f"{x}_mean"), None if one else r.get(f"{x}_sd")],
                                           ci.get(m, {}).get(x)) for x in BUDGET_METRICS],
                        "diffs": [_diff_cell(paired.get(m, {}).get(x)) for x in BUDGET_DIFFS],
                        "delong": _delong(paired.get(m, {}).get("auc_delong"))})
        tables.append({"budget": b, "n_train": rows[0].get("n_train", "–"), "n_val": rows[0].get("n_val", "–"),
                       "rows": out, "has_ci": bool(ci), "has_paired": bool(paired), "n_boot": unc.get("n_boot")})
    ref = next((u.get("reference") for u in uncs.values() if u and u.get("paired")), None)
    return {"tables": tables, "rule": lb.get("validation_rule", ""), "test_n": lb.get("test_n"),
            "top": (lb.get("budgets") or ["?"])[-1],
            "metrics": BUDGET_METRICS, "diffs": BUDGET_DIFFS, "reference": label(ref) if ref else None,
            "fig": _file_fig(run_dir / "learning_curves.png", "learning curves: mean ± sd over seeds per budget")}


def _roc_confusion(y, preds: dict, class_names: list[str], det: set, where: str = "test") -> dict:
    """The ROC figures (every method overlaid for binary tasks; per method every seed) and the confusion matrices
    (summed over seeds; ``data``: the counts drawn) of one set of test predictions ``{method: [S, N, K]}``."""
    out = {"overlay": None, "roc": [], "confusion": []}
    if not preds:
        return out
    out["overlay"] = _fig(figures.roc_overlay(y, preds, {m: label(m) for m in preds}, f"ROC, every method ({where})"),
                          f"every method, seed-averaged scores ({where})")
    for name, p in preds.items():
        what = "deterministic" if name in det else f"{p.shape[0]} seed(s)"
        f = _fig(figures.roc_per_seed(y, p, class_names, f"{label(name)}\n({what}, {where})"), label(name))
        if f:
            out["roc"].append(f)
        what = "deterministic" if name in det else f"summed over {p.shape[0]} seed(s)"
        cm = np.zeros((p.shape[2], p.shape[2]), dtype=np.int64)
        for s in p:
            np.add.at(cm, (np.asarray(y), s.argmax(1)), 1)
        f = _fig(figures.confusion_summed(cm, class_names or [str(i) for i in range(p.shape[2])],
                                          f"{label(name)}\n({where}, {what})"), label(name))
        out["confusion"].append({**f, "method": name, "data": cm.tolist()})
    return out


def _curve_fig(name: str, rows: dict, cap, select_metric: str, title: str) -> dict | None:
    """The training-curve figure of one method from its per-seed rows (``{seed: row with "history"}``);
    ``epochs``: the number of epochs drawn per seed."""
    hist = {s: r.get("history") for s, r in rows.items() if r and r.get("history")}
    if not hist:
        return None
    f = _fig(figures.training_curves(hist, {s: r.get("best_epoch") for s, r in rows.items() if r}, cap,
                                     select_metric, title), label(name), wide=True)
    return None if f is None else {**f, "method": name, "epochs": {s: len(h) for s, h in hist.items()}}


def _budget_figures(run_dir: Path, lb: dict, class_names: list[str], select_metric: str) -> list[dict]:
    """Per budget: ROC / confusion from the cells' ``predictions.csv`` (test rows, seeds pooled as in a run without
    budgets), the training curves of the trained methods from the cells' ``metrics.json`` histories and the
    per-class metrics (mean over seeds) of their ``metrics.json``. Budgets other than :func:`shown_budgets` are
    marked ``folded`` (the template puts them in ``<details>``)."""
    methods = list(dict.fromkeys(r.get("method") for r in lb.get("table", [])))
    seeds = [str(s) for s in lb.get("seeds", [])]
    shown = shown_budgets(lb)
    out = []
    for b in [str(x) for x in lb.get("budgets", [])]:
        per = {"methods": {m: {"seeds": dict.fromkeys(seeds, {})} for m in methods}}
        try:
            y, preds = load_run_predictions(run_dir, per, path_of=lambda m, s, b=b: _budget_dir(run_dir, b)
                                            / f"seed{s}" / m / "predictions.csv")
        except Exception as e:  # noqa: BLE001
            logger.warning("report: budget %s predictions unreadable (%s)", b, e)
            y, preds = None, {}
        figs = _roc_confusion(y, preds, class_names, set(), f"test, budget {b}/class")
        curves, cells = [], {}
        for m in methods:
            rows = {s: _budget_cell(run_dir, b, s, m) for s in seeds}
            cells[m] = _per_class_entry({s: r for s, r in rows.items() if r})
            cap = next((_cap(r) for r in rows.values() if r and _cap(r)), None)
            f = _curve_fig(m, rows, cap, select_metric, f"{label(m)}, budget {b}/class: training and validation")
            if f:
                curves.append({**f, "budget": b})
        out.append({"budget": b, "folded": b not in shown, **figs, "curves": curves,
                    "per_class": _per_class({"class_names": class_names, "methods": cells})})
    return out


def _per_class_entry(rows: dict) -> dict:
    """``{"seeds", "summary"}`` of one budget's method from its cells: per-class metrics averaged over seeds."""
    summary = {}
    for name in ("recall_per_class", "precision_per_class", "f1_per_class"):
        v = [r[name] for r in rows.values() if r.get(name)]
        if v:
            summary[name] = np.mean(np.array(v, dtype=float), axis=0).tolist()
    return {"seeds": rows, "summary": summary}


def _dataset(run_dir: Path, cfg: dict, class_names: list[str]) -> dict:
    meta = _read_json(run_dir / "features" / "meta.json")
    out = {"source": (cfg.get("data") or {}).get("path"), "table": [], "classes": class_names, "images": None}
    if meta:
        labels = np.asarray(meta.get("labels", []))
        split = np.asarray(meta.get("split", []))
        names = meta.get("class_names") or class_names or [str(i) for i in range(int(labels.max()) + 1)]
        out["classes"] = names
        for s in ("train", "val", "test"):
            m = split == s
            counts = np.bincount(labels[m], minlength=len(names)) if m.any() else np.zeros(len(names), int)
            out["table"].append({"split": s, "n": int(m.sum()),
                                 "counts": [f"{int(c)} ({c / max(m.sum(), 1):.0%})" for c in counts]})
    try:  # a few real training images per class
        dc = from_dict(DataConfig, cfg.get("data") or {})
        train = load_splits(dc)["train"]
        per: dict[str, list] = {n: [] for n in out["classes"]}
        lab = np.asarray(getattr(train, "labels", None) if getattr(train, "labels", None) is not None else
                         [int(train[i][1]) for i in range(min(len(train), 400))])  # labels without reading images
        for c, name in enumerate(out["classes"]):
            for i in np.flatnonzero(lab == c)[:6]:
                x = train[int(i)][0].numpy()[0]
                while x.ndim > 2:
                    x = x[x.shape[0] // 2]
                per[name].append(x)
        out["images"] = _fig(figures.image_grid(per, "training images (first per class; 3D: middle slice)"),
                             "real training images, one row per class")
    except Exception as e:  # noqa: BLE001 - images are an extra
        logger.info("report: no data images (%s)", e)
    return out


def _flatten(d, prefix: str = "", out=None, limit: int = 80) -> list[tuple[str, str]]:
    out = [] if out is None else out
    if isinstance(d, dict):
        for k, v in d.items():
            if len(out) >= limit:
                break
            _flatten(v, f"{prefix}{k}.", out, limit)
    elif isinstance(d, list) and len(d) <= 8 and all(not isinstance(x, (dict, list)) for x in d):
        out.append((prefix.rstrip("."), ", ".join(str(x) for x in d)))
    elif isinstance(d, list):
        for i, v in enumerate(d[:20]):
            if len(out) >= limit:
                break
            _flatten(v, f"{prefix}{i}.", out, limit)
    else:
        out.append((prefix.rstrip("."), str(d)))
    return out


def _predictions(run_dir: Path, results: dict):
    try:
        return load_run_predictions(run_dir, results)
    except Exception as e:  # noqa: BLE001
        logger.warning("report: predictions unreadable (%s)", e)
        return None, {}


def build_context(run_dir: str | Path) -> dict:
    """Everything the template shows, from the run directory's files."""
    import yaml

    run_dir = Path(run_dir)
    results = _read_json(run_dir / "results.json") or {}
    unc = _read_json(run_dir / "uncertainty.json")
    cfg = {}
    if (run_dir / "config.yaml").is_file():
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    versions = _read_json(run_dir / "versions.json")
    done = _read_json(run_dir / "done.json")
    selection = _read_json(run_dir / "gaussianity" / "selection.json")
    ks = _read_json(run_dir / "gaussianity" / "ks_map.json")
    best = _read_json(run_dir / "probe" / "best.json")
    class_names = results.get("class_names") or []
    heads = cfg.get("heads", {})
    lb = results.get("label_budgets")
    select_metric = heads.get("select_metric", "auc")
    if lb:  # a budget run: figures from its cells, per shown budget; the results table is the largest budget
        uncs = {b: _read_json(_budget_dir(run_dir, b) / "uncertainty.json") for b in lb.get("budgets", [])}
        unc = uncs.get((lb.get("budgets") or [None])[-1]) or unc  # the largest budget's, as its results table
        groups = _budget_figures(run_dir, lb, class_names, select_metric)
        n_test = lb.get("test_n")
    else:
        uncs = {}
        y, preds = _predictions(run_dir, results)
        n_test = int(len(y)) if y is not None else None
        det = {m for m, e in results.get("methods", {}).items() if m == "linear_best" or e.get("deterministic")}
        curves = []
        for name, e in results.get("methods", {}).items():
            cap = next((r.get("epoch_cap") for r in e.get("seeds", {}).values() if r.get("epoch_cap")), None) or \
                (heads.get("epochs") if name in ("cats", "dcube") else heads.get("baseline_epochs"))
            f = _curve_fig(name, e.get("seeds", {}), cap, select_metric, f"{label(name)}: training and validation")
            if f:
                curves.append(f)
        groups = [{"budget": None, **_roc_confusion(y, preds, class_names, det), "curves": curves,
                   "per_class": _per_class(results)}]

    ddpm = run_dir / "ddpm"
    diffusion_figs = [_file_fig(ddpm / "loss.png", "pretraining loss"),
                      _file_fig(run_dir / "ddpm-finetune" / "loss.png", "fine-tuning loss")]
    for d, what in ((ddpm, "pretrained"), (run_dir / "ddpm-finetune", "fine-tuned")):
        grids = sorted((d / "samples").glob("*.png")) if (d / "samples").is_dir() else []
        if grids:
            step = grids[-1].stem.removeprefix("step-").lstrip("0") or "0"
            steps = (cfg.get("train") or {}).get("sample_steps", "?")
            diffusion_figs.append(_fig(figures.labelled_png(grids[-1].read_bytes(),
                                                            f"DDPM samples ({what}, EMA, step {step}, "
                                                            f"DDIM {steps} steps)"), f"samples ({what})"))
    probe_mode = (cfg.get("probe") or {}).get("mode", "holdout")
    what = "test" if probe_mode == "holdout" else "CV mean"
    what = (best or {}).get("score_on", what)
    probe_figs = [_file_fig(run_dir / "probe" / f"probe_{m}_test.png", f"probe {m} ({what})")
                  for m in ("auc", "bacc", "f1")]
    lin = [_file_fig(run_dir / "heads" / "linear_best" / "seed-" / f, f"linear probe {f[:-4]}")
           for f in ("confusion.png", "roc.png")]

    stage_times = (done or {}).get("stage_times_s") or {}
    if not stage_times:
        for f in sorted((run_dir / "stages").glob("*.json")):
            t = (_read_json(f) or {}).get("wall_time_s")
            if t is not None:
                stage_times[f.stem] = t
    data_check = _read_json(run_dir / "data_check.json")
    files = [f for f in ("results.csv", "summary.csv", "uncertainty.json", "results.json", "config.yaml",
                         "versions.json", "done.json", "pipeline.log", "data_check.json", "learning_curves.csv",
                         "learning_curves.json") if (run_dir / f).is_file()]
    files += sorted(str(p.relative_to(run_dir)) for p in (run_dir / "heads").glob("*/seed*/predictions.csv"))
    budgets = _budgets(run_dir, results, uncs)
    files += sorted(str(p.relative_to(run_dir)) for p in (run_dir / "budgets").glob("b*/*.*") if p.is_file())
    return {
        "run": run_dir.name,
        "generated": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
        "sections": SECTIONS[:1] + ("budgets",) + SECTIONS[1:] if budgets else SECTIONS,
        "budgets": budgets,
        "metrics": METRICS,
        "results": _results_rows(results, unc, cfg),
        "has_results": bool(results.get("methods")),
        "unc": unc,
        "reference": label((unc or {}).get("reference", "resnet18")),
        "paired": _paired_rows(unc),
        "n_test": n_test,
        "inputs": {k: _keys(v) for k, v in (results.get("inputs") or {}).items()},
        "notes": _notes(run_dir, results, cfg, selection, ks, n_test),
        "per_class": [t for g in groups for t in g["per_class"]],
        "figure_groups": groups,
        "roc": [f for g in groups for f in g["roc"]], "confusion": [f for g in groups for f in g["confusion"]],
        "curves": [f for g in groups for f in g["curves"]],
        "probe_best": best, "probe_mode": probe_mode, "probe_figs": [f for f in probe_figs if f],
        "linear_figs": [f for f in lin if f],
        "selection": selection,
        "selected_keys": _keys((selection or {}).get("selected", [])),
        "rejected_keys": _keys((selection or {}).get("rejected", [])),
        "ks_fig": _file_fig(run_dir / "gaussianity" / "ks_pvalues.png", "KS p-value per block (log scale)"),
        "ks_block_fig": _file_fig(run_dir / "gaussianity" / "ks_by_block.png", "KS p-value per block, all t pooled"),
        "by_t_on": _by_t_rows(selection)[0], "by_t": _by_t_rows(selection)[1],
        "cv_rows": _cv_rows(results),
        "selection_probes": [(n.split("_")[0], [_num((selection or {}).get(n, {}).get(f"{m}_mean")) for m in METRICS])
                             for n in ("selected_probe", "rejected_probe") if selection and n in selection],
        "cats_figs": [f for f in (_file_fig(p, f"mixing weights ({p.parent.name})") for p in
                                  sorted((run_dir / "heads" / "cats").glob("seed*/mixing_weights.png"))) if f],
        "diffusion_figs": [f for f in diffusion_figs if f],
        "dataset": _dataset(run_dir, cfg, class_names),
        "data_check": _flatten(data_check) if data_check is not None else None,
        "synthetic": results.get("synthetic"),
        "config_yaml": (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else None,
        "versions": versions,
        "packages": (versions or {}).get("packages") or {},
        "env_threads": (versions or {}).get("env_threads") or {},
        "stage_times": [(k, _num(v, 1)) for k, v in stage_times.items()],
        "total_time": _num((done or {}).get("wall_time_s"), 1) if done else None,
        "files": files,
    }


def render(context: dict) -> str:
    from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

    # lenient on missing keys: versions.json / data_check.json of other medfx versions must still render
    env = Environment(loader=PackageLoader("medfx.report", "templates"), autoescape=select_autoescape(["j2", "html"]),
                      undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**context)


def build_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` and return its path."""
    run_dir = Path(run_dir)
    html = render(build_context(run_dir))
    path = run_dir / "report.html"
    tmp = path.with_name(".report.html.tmp")
    tmp.write_text(html)
    tmp.replace(path)
    return path
