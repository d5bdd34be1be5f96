"""One learning-curve figure and table from committed per-cell metrics (issue 13).

The learning curves of one dataset were measured over several sessions and machines, so their cells live in several
``bench/results/*.json`` files (``"cells"`` of ``label_efficiency_summary.py`` outputs, ``"ref_cells"`` of
``seed_paired_cells.py`` outputs, hand-transcribed ``"cells"``). This script pools them per (method, budget),
mean +- sd over the cells (head seeds x DDPM seeds), and draws them with medfx's own ``plot_learning_curves``.
Cells are de-duplicated by (run, budget, seed, method); the same (budget, seed, method) from two runs (two DDPM
seeds) are both kept. No test-image bootstrap here: the JSON files hold metrics, not predictions
(``paired_methods.py`` does the paired intervals from run directories).

    cd bench && python plot_cells_curve.py --cells results/label_efficiency_a3d_d2000_fp32.json \
        results/a3d_resnet18_fp32_seedpaired.json ... --all-x 200 \
        --title "AdrenalMNIST3D 28^3" --png ../docs/img/label_efficiency_adrenal3d_fp32.png \
        --out results/label_efficiency_a3d_fp32_all_budgets.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from label_efficiency_summary import _mean_sd

from medfx.workflows.label_budgets import LABELS, plot_learning_curves

METRICS = ("f1", "bacc", "auc")


def _parse_exclude(e: str) -> tuple[str, str, str | None]:
    parts = e.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"--exclude {e!r}: expected RUN:METHOD or RUN:METHOD:BUDGET")
    return parts[0], parts[1], (parts[2] if len(parts) == 3 else None)


def load_cells(paths, methods=None, budgets=None, exclude=()) -> list[dict]:
    """Every cell of ``paths``, de-duplicated; ``exclude``: ``RUN:METHOD`` pairs left out (e.g. a re-run of a
    reference that is already pooled from another run directory), or ``RUN:METHOD:BUDGET`` to leave out one budget
    of a run that holds several (e.g. early-stopped cells replaced by a re-run without early stopping)."""
    drop = [_parse_exclude(e) for e in exclude]
    seen, cells = set(), []
    for p in paths:
        d = json.loads(Path(p).read_text())
        for c in [*d.get("cells", []), *d.get("ref_cells", [])]:
            key = (c["run"], str(c["budget"]), int(c["seed"]), c["method"])
            if key in seen or (methods and c["method"] not in methods) or (budgets and str(c["budget"]) not in budgets):
                continue
            if any(c["run"] == r and c["method"] == m and (b is None or str(c["budget"]) == b) for r, m, b in drop):
                continue
            seen.add(key)
            cells.append({**c, "budget": str(c["budget"]), "source": str(p)})
    return cells


def table_of(cells: list[dict], all_x: float, order=None) -> list[dict]:
    methods = list(dict.fromkeys(order or [c["method"] for c in cells]))
    budgets = sorted({c["budget"] for c in cells}, key=lambda b: (b == "all", int(b) if b != "all" else 0))
    table = []
    for m in methods:
        for b in budgets:
            rows = [c for c in cells if c["method"] == m and c["budget"] == b]
            if not rows:
                continue
            r = {"method": m, "label": LABELS.get(m, m), "budget": b,
                 "labels_per_class": all_x if b == "all" else float(b), "n": len(rows),
                 "runs": sorted({c["run"] for c in rows}), "params": next((c["params"] for c in rows if c.get("params")), None)}
            for k in METRICS:
                r[f"{k}_mean"], r[f"{k}_sd"] = _mean_sd([c[k] for c in rows])
            table.append(r)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", required=True, help="JSON files with 'cells' and/or 'ref_cells'")
    ap.add_argument("--methods", nargs="*", default=None, help="only these methods, in this order (legend order)")
    ap.add_argument("--budgets", nargs="*", default=None)
    ap.add_argument("--exclude", nargs="*", default=[], metavar="RUN:METHOD[:BUDGET]",
                    help="leave out the cells of METHOD from run RUN (e.g. a reference re-run on another machine), "
                         "only those of BUDGET when given")
    ap.add_argument("--all-x", type=float, required=True, help="x position of budget 'all' (mean labels per class)")
    ap.add_argument("--title", required=True)
    ap.add_argument("--subtitle", default="")
    ap.add_argument("--png", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cells = load_cells(a.cells, a.methods, a.budgets, a.exclude)
    if not cells:
        raise SystemExit("no cells matched")
    table = table_of(cells, a.all_x, a.methods)
    Path(a.out).write_text(json.dumps({"sources": a.cells, "table": table,
                                       "cells": cells}, indent=1, default=float))
    plot_learning_curves(table, Path(a.png), title=f"{a.title}: test metrics vs labels per class (mean +- sd over cells)",
                         subtitle=a.subtitle)
    print("| method | labels / class | cells | macro-F1 | BACC | AUC |")
    print("|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['label']} | {r['budget']} | {r['n']} | " + " | ".join(
            f"{r[k + '_mean']:.3f} ± {r[k + '_sd']:.3f}" for k in METRICS) + " |")


if __name__ == "__main__":
    main()
