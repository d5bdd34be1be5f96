"""Late fusion of two (or three) label-budget methods' cells (issue 13, forty-first session): per (budget, head seed),
the class probabilities of method A's cell and method B's cell (and method C's, ``--c-runs``/``--c-method``,
forty-second session) averaged with equal weights, validation and test rows alike.

A is one run directory's method (e.g. ``linear_topk`` of a DDPM run), B the same (budget, seed) cell of another method
in any of the ``--b-runs`` (e.g. ``small_cnn`` of a baselines run). Both cells must have been trained on the same
subsets (``budgets/subsets.json`` is checked) and predict the same validation and test rows. The fused cells are
written as a pseudo run directory that the bench readers take like any other (``bench/paired_methods.py``,
``bench/label_efficiency_summary.py``):

    <out>/budgets/subsets.json                          (A's)
    <out>/budgets/b<B>/seed<s>/<name>/predictions.csv   (validation subset + complete test split, argmax decision)
    <out>/budgets/b<B>/seed<s>/<name>/metrics.json      (test metrics, validation metrics, both components)

Equal weights: nothing is chosen, so nothing is fitted on the 10-50 validation images of a budget. A cell that one
side lacks is skipped (and named). Nothing is trained; the test rows only pass through.

    python bench/fuse_cells.py --a-run bench/runs/le-b64-s4-d41 --a-method linear_topk \
        --b-runs bench/runs/le-b64-baselines-d39sc --b-method small_cnn --name fuse_topk_sc --out bench/runs/fuse-b64-s4
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from label_efficiency_summary import check_subsets

from medfx.metrics.classification import classification_metrics
from medfx.report.tables import read_predictions, write_predictions
from medfx.workflows.label_budgets import fuse_predictions


def fuse_cell(pa: Path, others: list[Path], out: Path) -> dict:
    """Average the probabilities of the predictions.csv files ``pa`` and ``others``
    (``medfx.workflows.label_budgets.fuse_predictions``, the package's ``fused`` method: the rows must be the same, in
    the same order); write ``out/predictions.csv`` and return the test and validation metrics of the average."""
    rows = {split: read_predictions(pa, split) for split in ("val", "test")}
    try:
        proba = fuse_predictions([pa, *others], {split: d["ids"] for split, d in rows.items()})
    except ValueError as e:
        raise SystemExit(str(e)) from None
    names = _label_names(pa)  # the class names as the component wrote them (label -> label_name)
    k = proba["test"].shape[1]
    class_names = [names.get(c, str(c)) for c in range(k)]
    write_predictions(out / "predictions.csv", [i for d in rows.values() for i in d["ids"]],
                      [split for split, d in rows.items() for _ in d["ids"]],
                      np.concatenate([d["labels"] for d in rows.values()]),
                      np.concatenate([proba[split] for split in rows]), class_names)  # atomic
    res = {}
    for split, d in rows.items():
        m = classification_metrics(d["labels"], proba[split], num_classes=k)
        res[split] = {x: m[x] for x in ("f1", "bacc", "auc", "acc")}
    return res


def _label_names(pred: Path) -> dict[int, str]:
    with pred.open(newline="") as f:
        return {int(r["label"]): r["label_name"] for r in csv.DictReader(f)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a-run", required=True)
    ap.add_argument("--a-method", required=True)
    ap.add_argument("--b-runs", nargs="+", required=True)
    ap.add_argument("--b-method", required=True)
    ap.add_argument("--c-runs", nargs="+", help="a third component's runs (optional; then weights 1/3 each)")
    ap.add_argument("--c-method")
    ap.add_argument("--name", required=True, help="method name of the fused cells")
    ap.add_argument("--out", required=True, help="pseudo run directory to write")
    args = ap.parse_args()
    if (args.c_runs is None) != (args.c_method is None):
        ap.error("--c-runs and --c-method go together")
    a_run, out = Path(args.a_run), Path(args.out)
    others = [([Path(r) for r in args.b_runs], args.b_method)]
    if args.c_runs:
        others.append(([Path(r) for r in args.c_runs], args.c_method))
    check_subsets([a_run, *(r for runs, _ in others for r in runs)])  # every (budget, seed) the runs share: the same
    # training, validation and test ids
    cells = [_cells(runs, method) for runs, method in others]  # per component: (budget, seed) -> (predictions, run)
    (out / "budgets").mkdir(parents=True, exist_ok=True)
    (out / "budgets" / "subsets.json").write_text((a_run / "budgets" / "subsets.json").read_text())  # A's
    n = 0
    for f in sorted(a_run.glob(f"budgets/b*/seed*/{args.a_method}/predictions.csv")):
        budget, seed = f.parts[-4][1:], f.parts[-3][4:]
        lacking = [m for c, (_, m) in zip(cells, others) if (budget, seed) not in c]
        if lacking:
            print(f"skipped: {lacking[0]} has no cell at budget {budget} seed {seed}")
            continue
        found = [c[(budget, seed)] for c in cells]
        cell = out / "budgets" / f"b{budget}" / f"seed{seed}" / args.name
        res = fuse_cell(f, [fb for fb, _ in found], cell)
        meta = {**res["test"], "val": res["val"], "params": None,
                "components": [{"run": str(a_run), "method": args.a_method},
                               *({"run": str(rb), "method": m} for (_, rb), (_, m) in zip(found, others))],
                "weights": [1 / (1 + len(others))] * (1 + len(others))}
        (cell / "metrics.json").write_text(json.dumps(meta, indent=1))
        n += 1
    print(f"{out}: {n} fused cells ({args.a_method} of {a_run.name} + {' + '.join(m for _, m in others)})")


def _cells(runs: list[Path], method: str) -> dict:
    """(budget, seed) -> (predictions.csv, run) of that method's cells in any of the runs; a cell found in two runs is
    an error (which one to fuse would be a silent choice)."""
    found = {}
    for r in runs:
        for f in sorted(r.glob(f"budgets/b*/seed*/{method}/predictions.csv")):
            key = (f.parts[-4][1:], f.parts[-3][4:])
            if key in found:
                raise SystemExit(f"{method} budget {key[0]} seed {key[1]} is in both {found[key][1]} and {r}")
            found[key] = (f, r)
    return found


if __name__ == "__main__":
    main()
