"""Compare methods cell by cell when the test predictions of one side are gone: paired by head seed.

``bench/paired_methods.py`` pairs two methods on the test images (bootstrap over images); it needs both sides'
``predictions.csv``. When one side survives only as the per-cell metrics of a results JSON (``"cells"`` of
``bench/label_efficiency_summary.py``'s output, e.g. after the machine that held the run directories was replaced),
this script pairs by what the cells share: the budget and the head seed (which fixes the labelled subset, the
validation subset and the head's initialisation). For each budget and head seed k it takes
``delta_k = mean over DDPM seeds of metric(method, k) - mean over runs of metric(ref, k)``, and reports the mean of
the deltas with a t interval over the head seeds (n = 3 gives t = 4.30: wide, and honest about it) and the
per-seed deltas. The interval covers seed variation (subset + initialisation), not test-sampling error.

    python bench/seed_paired_cells.py --cells bench/results/label_efficiency_a3d_d2000_fp32.json \
        --runs bench/runs/le-a3d-baselines-fp32rn{0,1,2} --ref resnet18 --budgets 5 10 25 \
        --out bench/results/a3d_resnet18_fp32_seedpaired.json

``FILE@RUN,RUN#TAG`` keeps only the cells of those runs and renames their methods ``METHOD#TAG`` (e.g. the same
``dcube`` on 1000-step and 4000-step DDPMs); ``DIR#TAG`` does the same for a run directory.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from label_efficiency_summary import _mean_sd, read_cells  # noqa: E402  (bench/ is on sys.path when run as a script)
from scipy import stats

METRICS = ("f1", "bacc", "auc")


def _tag(cell: dict, tag: str) -> dict:
    """``method`` -> ``method#tag`` (to tell apart the same method from different DDPMs or controls)."""
    return {**cell, "method": f"{cell['method']}#{tag}"} if tag else cell


def t_interval(values) -> tuple[float, float | None, float | None]:
    """Mean of ``values`` and its 95% t interval (mean +- t(0.975, n - 1) * sd / sqrt(n)); no interval for n < 2."""
    d = np.asarray(values, dtype=float)
    if len(d) < 2:
        return float(d.mean()), None, None
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def seed_paired(cells: list[dict], method: str, ref: str, budget: str, metric: str) -> dict | None:
    """Mean over head seeds of (method - ref), each side first averaged over its runs (DDPM seeds) per head seed."""
    by = defaultdict(lambda: defaultdict(list))
    for c in cells:
        if c["budget"] == budget and c["method"] in (method, ref) and c.get(metric) is not None:
            by[c["method"]][c["seed"]].append(float(c[metric]))
    seeds = sorted(set(by[method]) & set(by[ref]))
    if not seeds:
        return None
    mine, theirs = (np.array([np.mean(by[name][s]) for s in seeds]) for name in (method, ref))
    d = mine - theirs
    out = {"method": method, "ref": ref, "budget": budget, "metric": metric, "seeds": seeds,
           "per_seed": [round(float(x), 4) for x in d], "diff": float(d.mean()),
           "method_mean": float(mine.mean()), "ref_mean": float(theirs.mean())}
    _, low, high = t_interval(d)
    if low is not None:
        out.update(low=low, high=high)
    return out


def _fmt(x: dict) -> str:
    return f"{x['diff']:+.3f}" + (f" [{x['low']:+.3f}, {x['high']:+.3f}]" if "low" in x else "")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", nargs="*", default=[],
                    help="results JSON files with a 'cells' list: FILE[@RUN,RUN...][#TAG] (only those runs; "
                    "methods renamed METHOD#TAG)")
    ap.add_argument("--runs", nargs="*", default=[],
                    help="run directories (their finished cells are read): DIR[#TAG]")
    ap.add_argument("--ref", required=True, help="the reference method (e.g. resnet18)")
    ap.add_argument("--methods", nargs="*", default=None, help="methods to compare (default: all but --ref)")
    ap.add_argument("--budgets", nargs="+", required=True)
    ap.add_argument("--out")
    ap.add_argument("--png", help="also draw learning curves (mean +- sd over every cell of a method) to this PNG")
    ap.add_argument("--png-methods", nargs="*", default=None,
                    help="methods drawn in the figure, in this order (default: every method of the table)")
    ap.add_argument("--all-per-class", type=float, default=None,
                    help="x position of budget 'all' in the figure: mean training labels per class")
    ap.add_argument("--title", default="")
    ap.add_argument("--subtitle", default="")
    args = ap.parse_args(argv)

    cells = []
    for spec in args.cells:  # FILE[@RUN,RUN...][#TAG]
        spec, _, tag = spec.partition("#")
        f, _, runs = spec.partition("@")
        keep = set(runs.split(",")) if runs else None
        cells += [_tag(c, tag) for c in json.loads(Path(f).read_text())["cells"] if keep is None or c["run"] in keep]
    for spec in args.runs:  # DIR[#TAG]
        r, _, tag = spec.partition("#")
        keys = ("run", "budget", "seed", "method", *METRICS, "params", "wall_time_s", "best_epoch")
        cells += [_tag({k: v for k, v in c.items() if k in keys}, tag) for c in read_cells(Path(r))]
    methods = args.methods or sorted({c["method"] for c in cells} - {args.ref})
    rows = []
    print(f"| method | labels / class | head seeds | Δ macro-F1 vs {args.ref} [t 95% CI over head seeds] "
          "| Δ AUC [t 95% CI] | per-seed Δ macro-F1 | per-seed Δ AUC |")
    print("|---|---|---|---|---|---|---|")
    for b in args.budgets:
        for m in methods:
            r = {k: seed_paired(cells, m, args.ref, b, k) for k in METRICS}
            if r["f1"] is None:
                continue
            rows.append(r)
            print(f"| {m} | {b} | {len(r['f1']['seeds'])} | {_fmt(r['f1'])} | {_fmt(r['auc'])} | "
                  f"{' / '.join(f'{x:+.3f}' for x in r['f1']['per_seed'])} | "
                  f"{' / '.join(f'{x:+.3f}' for x in r['auc']['per_seed'])} |")
    ref_cells = sorted((c for c in cells if c["method"] == args.ref and c["budget"] in args.budgets),
                       key=lambda c: (int(c["budget"]) if c["budget"] != "all" else 10**9, c["seed"]))
    print(f"\n{args.ref} cells:")
    for c in ref_cells:
        print(f"  budget {c['budget']} seed {c['seed']}: macro-F1 {c['f1']:.3f} BACC {c['bacc']:.3f} AUC {c['auc']:.3f}"
              f" best epoch {c.get('best_epoch')} wall {c.get('wall_time_s') or 0:.0f} s ({c['run']})")
    table = method_table(cells, [*methods, args.ref], args.budgets, args.all_per_class)
    print("\n| method | labels / class | cells | macro-F1 | BACC | AUC |\n|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['label']} | {r['budget']} | {r['n']} | " + " | ".join(
            f"{r[k + '_mean']:.3f} ± {r[k + '_sd']:.3f}" for k in METRICS) + " |")
    if args.png:
        from medfx.workflows.label_budgets import plot_learning_curves

        drawn = args.png_methods or list(dict.fromkeys(r["method"] for r in table))
        plot_learning_curves([r for m in drawn for r in table if r["method"] == m and r["labels_per_class"] is not None],
                             Path(args.png), args.subtitle, args.title)
    if args.out:
        Path(args.out).write_text(json.dumps({"ref": args.ref, "rows": rows, "ref_cells": ref_cells,
                                              "table": table}, indent=1))


def method_table(cells: list[dict], methods: list[str], budgets: list[str], all_per_class: float | None) -> list[dict]:
    """Mean and sd over every cell (DDPM seed x head seed) of each method and budget, labelled for the figure."""
    from medfx.workflows.label_budgets import LABELS

    table = []
    for m in methods:
        base, _, tag = m.partition("#")
        for b in budgets:
            mine = [c for c in cells if c["method"] == m and c["budget"] == b]
            if not mine:
                continue
            row = {"method": m, "label": LABELS.get(base, base) + (f" [{tag}]" if tag else ""), "budget": b,
                   "labels_per_class": float(b) if b != "all" else all_per_class, "n": len(mine)}
            for k in METRICS:
                row[f"{k}_mean"], row[f"{k}_sd"] = _mean_sd([c[k] for c in mine])
            table.append(row)
    return table


if __name__ == "__main__":
    main()
