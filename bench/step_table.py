"""The probes-against-pretraining-length tables of ``a3d35_summary.sh steps`` and ``pn36_summary.sh k4``: the finished
cells of a method at a budget in some runs, and their mean +- sd (ddof 1) of test macro-F1 and AUC."""

import json
import statistics
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
