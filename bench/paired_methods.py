"""Paired differences per diffusion-feature method at one label budget (issue 13 tables).

Each diffusion method's cells (``--runs``) against either a reference method's cells (``--ref resnet18``, read from
``--runs`` and ``--ref-runs``) or the SAME method's cells in other run directories (``--against-runs``: e.g. the
same methods on DDPMs pretrained for fewer steps). Macro-F1 and AUC of the cell-averaged probabilities, paired
bootstrap over the test images (``label_efficiency_summary._compare``: 2000 resamples, argmax decision). Prints one
line per method.

    python bench/paired_methods.py --budget 5 --runs bench/runs/le-b64-s{0,1}-d2000 \
        --ref resnet18 --ref-runs bench/runs/le-b64-baselines-fp32
    python bench/paired_methods.py --budget 5 --runs bench/runs/le-b64-s{0,1}-d2000 \
        --against-runs bench/runs/le-b64-s{0,1}-fp32
"""

from __future__ import annotations

import argparse
from pathlib import Path

from label_efficiency_summary import DIFFUSION, _compare, _fmt, read_cells


def cells(runs: list[str], budget: str) -> list[dict]:
    return [c for r in runs for c in read_cells(Path(r), [budget])]


def reference_runs(runs: list[str], ref_runs: list[str]) -> list[str]:
    """The ``--ref-runs`` that are not also ``--runs``: the reference side reads ``--runs`` anyway, so a run named on
    both sides is read once (its cells are not counted twice)."""
    mine = {Path(r).resolve() for r in runs}
    return [r for r in ref_runs if Path(r).resolve() not in mine]


def restrict(cells: list[dict], specs: list[str], strict: bool = True) -> list[dict]:
    """Keep only the named head seeds of the named run directories (``NAME=0,2``; other runs untouched).

    For a reference assembled from several runs, e.g. an early-stopped run's seed-1 cell that trained to the
    epoch cap next to re-runs of its other seeds."""
    only: dict[str, set[int]] = {}
    for s in specs:
        name, sep, seeds = s.partition("=")
        if not sep or not name or not seeds:
            raise SystemExit(f"--run-seeds {s!r}: expected RUN=SEED[,SEED...]")
        only[Path(name).name] = {int(x) for x in seeds.split(",")}
    unknown = set(only) - {c["run"] for c in cells}
    if strict and unknown:
        raise SystemExit(f"--run-seeds names run directories with no cells at this budget: {sorted(unknown)}")
    return [c for c in cells if c["run"] not in only or int(c["seed"]) in only[c["run"]]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", required=True)
    ap.add_argument("--runs", nargs="+", required=True, help="run directories holding the diffusion methods")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--ref", help="reference method (e.g. resnet18, small_cnn)")
    g.add_argument("--against-runs", nargs="+", help="run directories holding the same methods to compare with")
    ap.add_argument("--ref-runs", nargs="*", default=[], help="run directories holding the reference method")
    ap.add_argument("--seeds", nargs="*", type=int, default=None,
                    help="only these head seeds on both sides (e.g. the seeds the reference has)")
    ap.add_argument("--run-seeds", nargs="*", default=[], metavar="RUN=SEEDS",
                    help="only these head seeds of these run directories (e.g. runs/x=1 runs/y=0,2)")
    ap.add_argument("--methods", nargs="*", default=None,
                    help="methods to compare (default: the diffusion-feature methods; CNNs may be named too)")
    args = ap.parse_args()
    keep = (lambda c: int(c["seed"]) in args.seeds) if args.seeds is not None else (lambda c: True)
    mine = [c for c in cells(args.runs, args.budget) if keep(c)]
    other = [c for c in cells(args.against_runs or reference_runs(args.runs, args.ref_runs), args.budget) if keep(c)]
    if args.run_seeds:
        restrict(mine + other, args.run_seeds)  # every named run must hold cells at this budget
        mine, other = restrict(mine, args.run_seeds, strict=False), restrict(other, args.run_seeds, strict=False)
    if not args.against_runs:
        other += mine
    for m in args.methods or DIFFUSION:
        a = [c for c in mine if c["method"] == m]
        b = [c for c in other if c["method"] == (m if args.against_runs else args.ref)]
        r = _compare(a, b, tuned=False)
        if r:
            print(f"{args.budget}\t{m}\t{len(a)} vs {len(b)} cells\tF1 {_fmt(r['f1'])}\tAUC {_fmt(r['auc'])}")


if __name__ == "__main__":
    main()
