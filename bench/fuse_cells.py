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
side lacks is skipped (and named). Nothing is trained; the test rows only pass through. Since the forty-third session
this is a thin wrapper over the package's ``medfx fuse`` (``medfx.workflows.fuse.fuse_runs``), which also writes
learning curves and per-budget intervals into ``<out>``; the fused cells are the same as before (the committed
summaries re-run identically).

    python bench/fuse_cells.py --a-run bench/runs/le-b64-s4-d41 --a-method linear_topk \
        --b-runs bench/runs/le-b64-baselines-d39sc --b-method small_cnn --name fuse_topk_sc --out bench/runs/fuse-b64-s4
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medfx.workflows.fuse import Component, fuse_runs


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
    comps = [Component(args.a_method, (Path(args.a_run),)), Component(args.b_method, tuple(map(Path, args.b_runs)))]
    if args.c_runs:
        comps.append(Component(args.c_method, tuple(map(Path, args.c_runs))))
    try:
        info = fuse_runs(comps, args.out, name=args.name)
    except ValueError as e:  # medfx's DataError included: one line, as before
        raise SystemExit(str(e)) from None
    for cell in info["skipped"]:  # as before: the cells of A that another component lacks
        if info["components"][0] in cell["in"]:
            print(f"skipped: budget {cell['budget']} seed {cell['seed']} is not in every component")
    print(f"{args.out}: {info['cells']} fused cells ({' + '.join(info['components'])})")


if __name__ == "__main__":
    main()
