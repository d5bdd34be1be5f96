"""The probes-against-pretraining-length tables of ``a3d35_summary.sh steps`` and ``pn36_summary.sh k4``: the finished
cells of a method at a budget in some runs, and their mean +- sd (ddof 1) of test macro-F1 and AUC. As a command, the
means tables of ``fuse43_summary.sh`` and ``fuse44_summary.sh`` (TAG "" for none):

    python step_table.py BUDGET "SEED SEED ..." TAG RUN[,RUN...]:METHOD ...
"""

import json
import statistics
import sys
from pathlib import Path


def cells(runs, method: str, budget, seeds=None) -> list[dict]:
    """``metrics.json`` of every finished cell ``<run>/budgets/b<budget>/seed*/<method>`` of ``runs`` (paths under
    the current folder, in the given order, seeds in file-name order); ``seeds``: only these head seeds."""
    keep = None if seeds is None else {str(s) for s in seeds}
    return [json.loads(f.read_text()) for r in runs
            for f in sorted((Path(r) / "budgets" / f"b{budget}").glob(f"seed*/{method}/metrics.json"))
            if keep is None or f.parts[-3][4:] in keep]


def stats(c: list[dict]) -> str:
    """``<cells>\\t<macro-F1 mean> +- <sd>\\t<AUC mean> +- <sd>`` of cells from :func:`cells` (at least two)."""
    f1, auc = [x["f1"] for x in c], [x["auc"] for x in c]
    return (f"{len(c)}\t{statistics.mean(f1):.3f} +- {statistics.stdev(f1):.3f}\t"
            f"{statistics.mean(auc):.3f} +- {statistics.stdev(auc):.3f}")


def means(pairs, budget, seeds=None, tag: str = "") -> list[str]:
    """One line per ``RUN[,RUN...]:METHOD`` with at least two cells: ``[<tag>\t]<method> (<first run's name>)\t``
    and :func:`stats` of those cells."""
    out = []
    for p in pairs:
        runs, m = p.rsplit(":", 1)
        c = cells(runs.split(","), m, budget, seeds)
        if len(c) > 1:
            out.append(f"{tag}\t" * bool(tag) + f"{m} ({Path(runs.split(',')[0]).name})\t{stats(c)}")
    return out


if __name__ == "__main__":
    b, seeds, tag, *pairs = sys.argv[1:]
    for line in means(pairs, b, seeds.split(), tag):
        print(line)
