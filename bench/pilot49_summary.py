"""The forty-ninth session's pilot rule applied to ``bench/pilot49_aug.py`` outputs (BENCHMARKS "Issue 13:
forty-ninth session"): per budget, every variant's mean hidden-label AUC and macro-F1 over the cells of all files,
the mean paired difference from ``base`` (the same cell without copies) and its sd over cells, and the verdict: a
variant passes when, at 5 labels per class, AUC >= base + 0.01 and macro-F1 >= base, and at 10 labels AUC >= base.

    python bench/pilot49_summary.py bench/results/pilot49_a3d_s7.tsv bench/results/pilot49_a3d_s8.tsv
"""

import csv
import sys
from collections import defaultdict

import numpy as np

EPS = 1e-9


def main(files: list[str]) -> None:
    cells = defaultdict(dict)  # (budget, file, seed) -> {variant: (auc, f1)}
    for f in files:
        with open(f) as fh:
            for r in csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"):
                cells[(int(r["budget"]), f, int(r["seed"]))][r["variant"]] = (float(r["score AUC"]),
                                                                             float(r["score macro-F1"]))
    budgets = sorted({b for b, _, _ in cells})
    variants = list(next(iter(cells.values())))
    diff = {}
    for b in budgets:
        cs = [v for (bb, _, _), v in cells.items() if bb == b]
        if any(set(c) != set(variants) for c in cs):
            raise SystemExit(f"budget {b}: some cells lack a variant")
        print(f"## {b} labels / class, {len(cs)} cells: mean hidden-label AUC / macro-F1 (paired diff from base, sd)")
        for v in variants:
            a = np.array([c[v] for c in cs])
            d = a - np.array([c["base"] for c in cs])
            diff[(b, v)] = d.mean(0)
            extra = "" if v == "base" else (f"  ({d[:, 0].mean():+.3f} / {d[:, 1].mean():+.3f}; "
                                            f"sd {d[:, 0].std(ddof=1):.3f} / {d[:, 1].std(ddof=1):.3f})")
            print(f"{v:8s} {a[:, 0].mean():.3f} / {a[:, 1].mean():.3f}{extra}")
    print("## rule: 5 labels AUC >= base + 0.01 and macro-F1 >= base; 10 labels AUC >= base")
    for v in variants:
        if v == "base":
            continue
        ok = diff[(5, v)][0] >= 0.01 - EPS and diff[(5, v)][1] >= -EPS and diff[(10, v)][0] >= -EPS
        print(f"{v:8s} {'PASS' if ok else 'fail'}")


if __name__ == "__main__":
    main(sys.argv[1:])
