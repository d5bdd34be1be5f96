"""Per-sample predictions and tidy result tables of a pipeline run.

``predictions.csv`` (one per classifier and seed, ``heads/<method>/seed<k>/predictions.csv``), columns::

    sample_id, split, label, label_name, p_0 .. p_{K-1}, pred, pred_name

``p_c`` is the predicted probability of class ``c`` (softmax of the logits for networks, ``predict_proba`` for
the linear probe); ``pred`` is its argmax, the prediction every argmax metric (acc, bacc, F1...) uses. Rows hold
the validation and test samples (``split``), in the order of the feature bank. MedMNIST's
``Evaluator(flag, "test").evaluate(y_score)`` takes ``y_score = df[df.split == "test"][p_cols]``.

``results.csv`` (tidy: one row per method x seed x metric)::

    method, seed, metric, value, n_test

Both are plain CSV (``csv`` module; no pandas needed to write them, any tool reads them).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..metrics.classification import METRIC_NAMES
from ..metrics.uncertainty import compare_all, format_ci, format_diff
from ..utils.io import write_json

PRED_FIXED = ("sample_id", "split", "label", "label_name")


def write_predictions(path: str | Path, sample_ids: Sequence, splits: Sequence[str], labels, proba,
                      class_names: Sequence[str]) -> Path:
    """Write one ``predictions.csv`` (see the module docstring). ``proba``: ``[N, K]``."""
    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    n, k = proba.shape
    if not (len(sample_ids) == len(splits) == len(labels) == n):
        raise ValueError(f"predictions: {len(sample_ids)} ids, {len(splits)} splits, {len(labels)} labels and "
                         f"{n} probability rows must agree")
    if len(class_names) != k:
        raise ValueError(f"predictions: {k} probability columns but {len(class_names)} class names")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pred = proba.argmax(1)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*PRED_FIXED, *(f"p_{c}" for c in range(k)), "pred", "pred_name"])
        for i in range(n):
            w.writerow([sample_ids[i], splits[i], int(labels[i]), class_names[labels[i]],
                        *(repr(float(x)) for x in proba[i]), int(pred[i]), class_names[pred[i]]])
    tmp.replace(path)
    return path


def read_predictions(path: str | Path, split: str | None = "test") -> dict:
    """``{"ids", "split", "labels" [N], "proba" [N, K], "pred" [N]}`` of one ``predictions.csv`` (one split, or
    every row with ``split=None``)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if split is not None:
        rows = [r for r in rows if r["split"] == split]
    if not rows:
        return {"ids": [], "split": [], "labels": np.zeros(0, int), "proba": np.zeros((0, 0)), "pred": np.zeros(0, int)}
    pcols = sorted((c for c in rows[0] if c.startswith("p_")), key=lambda c: int(c[2:]))
    return {"ids": [r["sample_id"] for r in rows], "split": [r["split"] for r in rows],
            "labels": np.array([int(r["label"]) for r in rows]),
            "proba": np.array([[float(r[c]) for c in pcols] for r in rows]),
            "pred": np.array([int(r["pred"]) for r in rows])}


def results_rows(results: dict) -> list[dict]:
    """Tidy rows ``{method, seed, metric, value, n_test}`` from a ``results.json`` dict (one per method x seed x
    scalar metric, plus ``recall_class_<c>`` per class, ``best_epoch`` and ``wall_time_s`` for trained seeds)."""
    rows = []
    for method, entry in results.get("methods", {}).items():
        for seed, r in entry.get("seeds", {}).items():
            n = r.get("n_test")
            vals = {m: r.get(m) for m in METRIC_NAMES}
            for c, v in enumerate(r.get("recall_per_class") or []):
                vals[f"recall_class_{c}"] = v
            for c, v in enumerate(r.get("precision_per_class") or []):
                vals[f"precision_class_{c}"] = v
            for c, v in enumerate(r.get("f1_per_class") or []):
                vals[f"f1_class_{c}"] = v
            for extra in ("best_epoch", "epochs_run", "wall_time_s"):
                if r.get(extra) is not None:
                    vals[extra] = r[extra]
            for metric, value in vals.items():
                if value is None or (isinstance(value, float) and not math.isfinite(value)):
                    value = ""
                rows.append({"method": method, "seed": seed, "metric": metric, "value": value,
                             "n_test": "" if n is None else n})
    return rows


def write_csv(path: str | Path, rows: list[dict], columns: Sequence[str] | None = None) -> Path:
    """Rows of dicts as CSV (columns: ``columns`` or the keys of the first row)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(columns) if columns else (list(rows[0]) if rows else [])
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in cols})
    tmp.replace(path)
    return path


def write_results_csv(path: str | Path, results: dict) -> Path:
    """``results.csv``: tidy rows of :func:`results_rows`."""
    return write_csv(path, results_rows(results), ("method", "seed", "metric", "value", "n_test"))


def load_run_predictions(run_dir: str | Path, results: dict, split: str = "test",
                         path_of=None) -> tuple[np.ndarray | None, dict]:
    """``(labels [N], {method: proba [S, N, K]})`` from every method's ``predictions.csv`` of one split. Methods
    whose files are missing, or whose samples differ from the first method's, are left out. ``path_of(method,
    seed)`` locates a file (default ``<run_dir>/heads/<method>/seed<seed>/predictions.csv``)."""
    run_dir = Path(run_dir)
    y, ids, out = None, None, {}
    for method, entry in results.get("methods", {}).items():
        seeds = []
        for seed in entry.get("seeds", {}):
            f = path_of(method, seed) if path_of is not None else \
                run_dir / "heads" / method / f"seed{seed}" / "predictions.csv"
            if not f.is_file():
                seeds = []
                break
            seeds.append(read_predictions(f, split))
        if not seeds or any(s["ids"] != seeds[0]["ids"] for s in seeds):
            continue
        if ids is None:
            ids, y = seeds[0]["ids"], seeds[0]["labels"]
        elif seeds[0]["ids"] != ids:
            continue
        out[method] = np.stack([s["proba"] for s in seeds])
    return y, out


REFERENCE = "resnet18"


def write_uncertainty(run_dir: str | Path, results: dict, n_boot: int = 1000, seed: int = 0,
                      reference: str = REFERENCE, path_of=None) -> dict | None:
    """``uncertainty.json`` (bootstrap CIs per method and metric, paired comparisons against ``reference``,
    see :mod:`medfx.metrics.uncertainty`) and ``summary.csv`` (one row per method x metric) in ``run_dir``.
    Returns the dict, or None when no predictions exist. ``path_of``: see :func:`load_run_predictions`."""
    run_dir = Path(run_dir)
    y, preds = load_run_predictions(run_dir, results, path_of=path_of)
    if y is None or not preds or len(np.unique(y)) < 2:
        return None
    k = next(iter(preds.values())).shape[2]
    unc = compare_all(y, preds, reference, METRIC_NAMES, n_boot=n_boot, seed=seed, num_classes=k)
    write_json(run_dir / "uncertainty.json", unc)
    rows = []
    for method, cis in unc["ci"].items():
        for metric, ci in cis.items():
            comp = unc["paired"].get(method, {}).get(metric)
            dl = unc["paired"].get(method, {}).get("auc_delong") if metric == "auc" else None
            rows.append({"method": method, "metric": metric, "estimate": ci["estimate"], "ci_low": ci["low"],
                         "ci_high": ci["high"], "n_seeds": ci["n_seeds"], "seed_sd": ci["seed_sd"],
                         "n_test": unc["n_test"], "reference": reference if comp else "",
                         "diff": comp["diff"] if comp else "", "diff_low": comp["low"] if comp else "",
                         "diff_high": comp["high"] if comp else "", "p_bootstrap": comp["p_value"] if comp else "",
                         "p_delong": dl["p_value"] if dl else "", "text": format_ci(ci),
                         "diff_text": format_diff(comp) if comp else ""})
    write_csv(run_dir / "summary.csv", rows)
    return unc


def _num(v, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:+.3f}" if sign else f"{v:.3f}"


def _method_cells(name: str, entry: dict, unc: dict | None, metrics: Sequence[str]) -> list[str]:
    """One method's cells of a console table: per metric ``mean ± sd [CI]``, then per paired metric (the first
    two) ``diff [CI]`` against the reference of ``unc`` (``(reference)`` on its own row)."""
    ci, paired, ref = (unc or {}).get("ci", {}), (unc or {}).get("paired", {}), (unc or {}).get("reference")
    s = entry.get("summary", {})
    out = []
    for m in metrics:
        mean_sd = s.get(m) or [None, None]
        c = ci.get(name, {}).get(m)
        txt = _num(mean_sd[0]) + (f" ± {_num(mean_sd[1])}" if len(mean_sd) > 1 and mean_sd[1] is not None else "")
        if c and c.get("low") is not None:
            txt += f" [{_num(c['low'])}, {_num(c['high'])}]"
        out.append(txt)
    if paired:
        for m in metrics[:2]:
            d = paired.get(name, {}).get(m)
            out.append("(reference)" if name == ref else
                       f"{_num(d['diff'], True)} [{_num(d['low'], True)}, {_num(d['high'], True)}]" if d else "-")
    return out


def _seeds_text(entry: dict) -> str:
    seeds = entry.get("seeds", {})
    return "det." if entry.get("deterministic") or list(seeds) == ["-"] else str(len(seeds))


def _layout(title: str, head: list[str], rows: list[list[str]], left: int = 1) -> str:
    """Aligned columns: the first ``left`` left-aligned (names), the others right-aligned (numbers)."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]

    def line(r):
        return "  ".join(str(x).ljust(w) if i < left else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, widths)))
    return "\n".join([title, line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def _head(unc: dict | None, metrics: Sequence[str]) -> list[str]:
    head = [f"{m} [95% CI]" for m in metrics]
    if (unc or {}).get("paired"):
        head += [f"d{m} vs {unc['reference']} [95% CI]" for m in metrics[:2]]
    return head


def format_results_table(results: dict, unc: dict | None = None, metrics: Sequence[str] = ("auc", "bacc", "f1"),
                         labels: dict | None = None) -> str:
    """A plain-text results table for the console / log: per method the mean (± sd over seeds), the 95 % CI
    and the paired difference to the reference method (from ``uncertainty.json``)."""
    labels = labels or {}
    rows = [[labels.get(name, name), _seeds_text(e), *_method_cells(name, e, unc, metrics)]
            for name, e in results.get("methods", {}).items()]
    n = (unc or {}).get("n_test")
    return _layout(f"results (test split{f', n = {n}' if n else ''}; mean ± sd over seeds [95% bootstrap CI])",
                   ["method", "seeds", *_head(unc, metrics)], rows)


def format_budget_table(per_budget: Sequence[tuple[str, dict, dict | None]],
                        metrics: Sequence[str] = ("auc", "bacc", "f1"), labels: dict | None = None) -> str:
    """The console table of a label-budget run: one row per budget x method, the cells of
    :func:`format_results_table`. ``per_budget``: ``(budget, {"methods": {method: {"seeds", "summary"}}},
    uncertainty dict of that budget or None)`` in budget order."""
    labels = labels or {}
    rows = []
    with_paired = any((u or {}).get("paired") for _, _, u in per_budget)
    ref = next((u["reference"] for _, _, u in per_budget if (u or {}).get("paired")), None)
    for budget, results, unc in per_budget:
        for name, e in results.get("methods", {}).items():
            cells = _method_cells(name, e, unc, metrics)
            if with_paired and not (unc or {}).get("paired"):
                cells += ["-"] * len(metrics[:2])
            rows.append([str(budget), labels.get(name, name), _seeds_text(e), *cells])
    n = next(((u or {}).get("n_test") for _, _, u in per_budget if (u or {}).get("n_test")), None)
    head = [f"{m} [95% CI]" for m in metrics] + ([f"d{m} vs {ref} [95% CI]" for m in metrics[:2]] if ref else [])
    return _layout(f"label-budget results (test split{f', n = {n}' if n else ''}; labels per class; mean ± sd over "
                   "seeds [95% bootstrap CI])", ["budget", "method", "seeds", *head], rows, left=2)
