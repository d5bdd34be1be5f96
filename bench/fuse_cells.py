"""Late fusion of two label-budget methods' cells (issue 13, forty-first session): per (budget, head seed), the
class probabilities of method A's cell and method B's cell averaged with equal weights, validation and test rows alike.

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

from medfx.metrics.classification import classification_metrics
from medfx.report.tables import read_predictions


def _subsets(run: Path) -> dict:
    return json.loads((run / "budgets" / "subsets.json").read_text())


def _same_subsets(a: dict, b: dict, budget: str, seed: str, where: str) -> None:
    if a["test_ids"] != b["test_ids"]:
        raise SystemExit(f"{where}: test ids differ from the A run's")
    sa, sb = a["seeds"][seed][budget], b["seeds"][seed][budget]
    if sa["train_ids"] != sb["train_ids"] or sa["val_ids"] != sb["val_ids"]:
        raise SystemExit(f"{where}: budget {budget} seed {seed} has other training or validation ids than the A run")


def _rows(pred: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    with pred.open(newline="") as f:
        rows = list(csv.DictReader(f))
    pcols = sorted((c for c in rows[0] if c.startswith("p_")), key=lambda c: int(c[2:]))
    return rows, {(r["split"], r["sample_id"]): np.array([float(r[c]) for c in pcols]) for r in rows}


def fuse_cell(pa: Path, pb: Path, out: Path) -> dict:
    """Average the probabilities of two predictions.csv files row by row (matched on split and sample id); write
    ``out/predictions.csv`` and return the test metrics of the fused probabilities."""
    rows_a, prob_a = _rows(pa)
    _, prob_b = _rows(pb)
    if set(prob_a) != set(prob_b):
        raise SystemExit(f"{pa} and {pb} predict different rows")
    names = {}
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "predictions.csv.tmp"
    with tmp.open("w", newline="") as f:
        k = len(next(iter(prob_a.values())))
        w = csv.writer(f)
        w.writerow(["sample_id", "split", "label", "label_name", *[f"p_{c}" for c in range(k)], "pred", "pred_name"])
        for r in rows_a:
            names[int(r["label"])] = r["label_name"]
        for r in rows_a:
            key = (r["split"], r["sample_id"])
            p = (prob_a[key] + prob_b[key]) / 2.0
            c = int(p.argmax())
            w.writerow([r["sample_id"], r["split"], r["label"], r["label_name"], *[repr(float(x)) for x in p], c,
                        names.get(c, str(c))])
    tmp.replace(out / "predictions.csv")
    res = {}
    for split in ("test", "val"):
        d = read_predictions(out / "predictions.csv", split)
        m = classification_metrics(d["labels"], d["proba"], num_classes=d["proba"].shape[1])
        res[split] = {x: m[x] for x in ("f1", "bacc", "auc", "acc")}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a-run", required=True)
    ap.add_argument("--a-method", required=True)
    ap.add_argument("--b-runs", nargs="+", required=True)
    ap.add_argument("--b-method", required=True)
    ap.add_argument("--name", required=True, help="method name of the fused cells")
    ap.add_argument("--out", required=True, help="pseudo run directory to write")
    args = ap.parse_args()
    a_run, out = Path(args.a_run), Path(args.out)
    sub_a = _subsets(a_run)
    b_cells = {}
    for r in map(Path, args.b_runs):
        sub_b = _subsets(r)
        for f in sorted(r.glob(f"budgets/b*/seed*/{args.b_method}/predictions.csv")):
            b_cells[(f.parts[-4][1:], f.parts[-3][4:])] = (f, r, sub_b)
    (out / "budgets").mkdir(parents=True, exist_ok=True)
    (out / "budgets" / "subsets.json").write_text(json.dumps(sub_a))
    n = 0
    for f in sorted(a_run.glob(f"budgets/b*/seed*/{args.a_method}/predictions.csv")):
        budget, seed = f.parts[-4][1:], f.parts[-3][4:]
        if (budget, seed) not in b_cells:
            print(f"skipped: {args.b_method} has no cell at budget {budget} seed {seed}")
            continue
        fb, rb, sub_b = b_cells[(budget, seed)]
        _same_subsets(sub_a, sub_b, budget, seed, str(rb))
        cell = out / "budgets" / f"b{budget}" / f"seed{seed}" / args.name
        res = fuse_cell(f, fb, cell)
        meta = {**res["test"], "val": res["val"], "params": None,
                "components": [{"run": str(a_run), "method": args.a_method}, {"run": str(rb), "method": args.b_method}],
                "weights": [0.5, 0.5]}
        (cell / "metrics.json").write_text(json.dumps(meta, indent=1))
        n += 1
    print(f"{out}: {n} fused cells ({args.a_method} of {a_run.name} + {args.b_method})")


if __name__ == "__main__":
    main()
