"""Paired comparison of two methods across label-budget runs: ``medfx compare`` (issue 13).

A label-budget run's ``uncertainty.json`` compares every method with the same-run ResNet-18. The attribution
questions need other pairs, across runs: a fusion of diffusion features against the same fusion of two CNNs, or
against the same method on a random-init U-Net; a method on two DDPMs (cells pooled) against a CNN trained once::

    medfx compare fuse_topk_sc@runs/fuse-a,runs/fuse-b --against fuse_rn_sc@runs/fuse-cnn --budgets 5

Each side is ``METHOD@RUN[,RUN...]``; the cells of every listed run are pooled (two DDPMs x six head seeds are twelve
cells). Only the head seeds both sides have are compared (``--seeds`` narrows them further), and every run must have
drawn the same subsets (``budgets/subsets.json``, as for ``medfx fuse``). The difference is that of the cell-averaged
test metric (mean over cells of macro-F1, AUC, balanced accuracy), with a paired percentile bootstrap over the test
images, the same resamples for both sides (``metrics.uncertainty.paired_bootstrap``; stratified by class, 2000
resamples, seed 0, as the benchmarks use). The test split is only evaluated; nothing is chosen here.
"""

from __future__ import annotations

from pathlib import Path

from ..utils.errors import DataError
from ..utils.io import write_json
from .fuse import Component, _order, _seed, _subsets, check_same_subsets, parse_component, run_cells

METRICS = ("f1", "auc", "bacc")


def _side_cells(c: Component, budgets=None, seeds=None) -> dict[str, list[tuple[int, Path]]]:
    """budget -> [(head seed, predictions.csv)] of every cell of ``c.method`` in every run of ``c`` (pooled)."""
    out: dict[str, list[tuple[int, Path]]] = {}
    for run in c.runs:
        for (b, s), f in run_cells(run, c.method).items():
            if (budgets is None or b in budgets) and (seeds is None or int(s) in seeds):
                out.setdefault(b, []).append((int(s), f))
    return out


def _stack(cells: list[tuple[int, Path]], ids: list[str] | None, labels=None):
    """[S, N, K] test probabilities of the cells, their test ids and labels (the same in every cell, or an error)."""
    import numpy as np

    from ..report.tables import read_predictions

    probas = []
    for _, f in cells:
        d = read_predictions(f, "test")
        if ids is None:
            ids, labels = d["ids"], d["labels"]
        if d["ids"] != ids or not np.array_equal(d["labels"], labels):
            raise DataError(f"{f}: its test rows (ids or labels) differ from the other cells'; cannot pair")
        probas.append(d["proba"])
    return np.stack(probas), ids, labels


def compare_runs(a: Component, b: Component, budgets=None, seeds=None, metrics=METRICS, n_boot: int = 2000,
                 level: float = 0.95, seed: int = 0) -> list[dict]:
    """``a`` minus ``b`` per budget (those both have, or ``budgets``): one dict per budget with the cells and head
    seeds compared and, per metric, the difference of the cell-averaged test metric and its paired bootstrap
    interval (``diff``, ``low``, ``high``, ``p``)."""
    from ..metrics.uncertainty import paired_bootstrap

    if a == b:
        raise ValueError(f"both sides are {a}: nothing to compare")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics {unknown}: expected some of {list(METRICS)}")
    runs = list(dict.fromkeys([*a.runs, *b.runs]))
    check_same_subsets({r: _subsets(r) for r in runs})
    want_b = None if budgets is None else {str(x) for x in budgets}
    want_s = None if seeds is None else {int(x) for x in seeds}
    ca, cb = _side_cells(a, want_b, want_s), _side_cells(b, want_b, want_s)
    common = sorted(set(ca) & set(cb), key=lambda x: _order((x, "0")))
    scope = f" (head seeds {sorted(want_s)})" if want_s is not None else ""
    if want_b is not None and set(common) != want_b:
        missing = sorted(want_b - set(common), key=lambda x: _order((x, "0")))
        raise DataError(f"budget(s) {', '.join(missing)}: not in both {a} and {b}{scope}")
    if not common:
        raise DataError(f"no label budget has cells of both {a} and {b}{scope}")
    out = []
    for bud in common:
        shared = {s for s, _ in ca[bud]} & {s for s, _ in cb[bud]}
        if not shared:
            raise DataError(f"budget {bud}: {a} and {b} have no head seed in common (other draws)")
        sa = [c for c in ca[bud] if c[0] in shared]
        sb = [c for c in cb[bud] if c[0] in shared]
        pa, ids, y = _stack(sa, None)
        pb, _, _ = _stack(sb, ids, y)
        res = {"budget": bud, "a": str(a), "b": str(b), "cells_a": len(sa), "cells_b": len(sb),
               "seeds": sorted(shared), "n_test": len(ids), "n_boot": n_boot, "level": level, "metrics": {}}
        for m in metrics:
            r = paired_bootstrap(y, pa, pb, m, n_boot=n_boot, level=level, seed=seed, names=(a.method, b.method))
            res["metrics"][m] = {"diff": r.diff, "low": r.low, "high": r.high, "p": r.p_value}
        out.append(res)
    return out


def format_comparison(r: dict) -> str:
    """One line: ``budget 5: A (12 cells) - B (6 cells), head seeds 0-5, 624 test images: F1 +0.087 [...] ...``."""
    parts = [f"{m.upper() if m != 'f1' else 'macro-F1'} {v['diff']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]"
             for m, v in r["metrics"].items()]
    seeds = r["seeds"]
    run = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1 else \
        ",".join(map(str, seeds))
    return (f"budget {r['budget']}: {r['a']} ({r['cells_a']} cells) - {r['b']} ({r['cells_b']} cells), head seeds "
            f"{run}, {r['n_test']} test images: " + ", ".join(parts))


def cmd_compare(args) -> int:
    rows = compare_runs(parse_component(args.a), parse_component(args.against), budgets=args.budgets,
                        seeds=args.seeds, metrics=args.metrics or METRICS, n_boot=args.n_boot)
    for r in rows:
        print(format_comparison(r))
    if args.out:
        write_json(args.out, rows)  # atomic: never a half-written file under the final name; NaN as null
    return 0


def register(sub, grammar) -> None:
    """Add ``compare`` to the ``medfx`` sub-command parser."""
    sp = sub.add_parser("compare", help="paired difference of two methods across label-budget runs",
                        description="A minus B per label budget: the cell-averaged test macro-F1, AUC and balanced "
                        "accuracy, with a paired bootstrap interval over the test images (the cells of every run of a "
                        "side are pooled; only the head seeds both sides have). The list options go after A.")
    sp.add_argument("a", metavar="METHOD@RUN[,RUN...]", help="side A, e.g. fuse_topk_sc@runs/fuse-a,runs/fuse-b")
    sp.add_argument("--against", required=True, metavar="METHOD@RUN[,RUN...]", help="side B, e.g. resnet18@runs/cnns")
    sp.add_argument("--budgets", nargs="*", metavar="B", help="only these budgets (default: every budget both have)")
    sp.add_argument("--seeds", nargs="*", type=_seed, metavar="SEED", help="only these head seeds")
    sp.add_argument("--metrics", nargs="*", choices=METRICS, help="default: f1 auc bacc")
    sp.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    sp.add_argument("--out", help="also write the comparisons to this JSON file")
    sp.set_defaults(func=cmd_compare)
