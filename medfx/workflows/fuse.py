"""Late fusion across label-budget runs: ``medfx fuse`` (issue 13).

A label-budget run (``medfx run ... heads.label_budgets=[...]``) can fuse methods of its own cells (the ``fused``
method, ``heads.fuse_methods``). Fusing across runs is what needs this module: e.g. the top-5 probe ensembles of two
DDPMs pretrained with different seeds and the small CNN of a baselines run, per (budget, head seed)::

    medfx fuse linear_topk@runs/ddpm-s0 linear_topk@runs/ddpm-s1 small_cnn@runs/cnns \\
        --keep resnet18@runs/cnns --name fuse_ens --out runs/fuse-ens

Every component is ``METHOD@RUN[,RUN...]`` (a method whose head seeds were trained in several runs names them all;
a cell found in two of them is refused). The runs must have drawn the same labelled subsets (same head seeds, budgets, data
and validation rule: ``budgets/subsets.json`` is compared, id for id, test split included); a (budget, seed) cell is
fused where every component has it (the others are named in ``fuse.json``). The class probabilities are averaged with
equal weights (``label_budgets.fuse_predictions``); nothing is fitted, so nothing is chosen on the few validation
images. ``--keep`` copies other methods' cells (e.g. the ResNet-18 of the same draws) next to the fused ones, so
that the per-budget intervals and paired comparisons against the same-run ResNet-18 are in the output too.

The output is a run-like directory (written in a temporary folder and moved into place when complete; an earlier ``medfx
fuse`` output at ``--out`` is replaced, any other folder is refused)::

    <out>/budgets/subsets.json, budgets/b<B>/seed<s>/<method>/{predictions.csv, metrics.json}
    <out>/budgets/b<B>/{uncertainty.json, summary.csv}
    <out>/learning_curves.{csv,json,png}, results.csv, results.json, report.html (learning curves and per-budget
    tables with paired differences), fuse.json (components, cells, skipped cells; written last)
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..utils.errors import DataError

logger = logging.getLogger(__name__)

_TEST_METRICS = ("acc", "bacc", "precision", "recall", "f1", "auc")


@dataclass(frozen=True)
class Component:
    """One method of one or more label-budget runs (e.g. a ResNet-18 trained in two runs of three head seeds
    each); a (budget, seed) cell in two of them is an error."""

    method: str
    runs: tuple[Path, ...]

    def __str__(self) -> str:
        return f"{self.method}@{','.join(map(str, self.runs))}"


def parse_component(spec: str) -> Component:
    """``METHOD@RUN_DIR[,RUN_DIR...]`` -> :class:`Component` (a clear error for anything else)."""
    method, sep, runs = str(spec).partition("@")
    parts = [r.strip() for r in runs.split(",")]
    if not sep or not method.strip() or not all(parts):
        raise ValueError(f"{spec!r}: expected METHOD@RUN_DIR[,RUN_DIR...], e.g. linear_topk@runs/ddpm-s0")
    return Component(method.strip(), tuple(Path(r) for r in parts))


def _subsets(run: Path) -> dict:
    f = run / "budgets" / "subsets.json"
    if not f.is_file():
        raise DataError(f"{run}: not a label-budget run (no budgets/subsets.json); "
                        "run `medfx run ... heads.label_budgets=[...]` first")
    try:
        sub = json.loads(f.read_text())
        sub["seeds"], sub["test_ids"]  # noqa: B018 - the two keys every subsets.json has
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"{f}: not a medfx subsets file ({type(e).__name__}: {e})") from None
    return sub


def run_cells(run: Path, method: str) -> dict[tuple[str, str], Path]:
    """(budget, seed) -> the predictions.csv of every cell of ``method`` in one label-budget run; an error naming
    the methods the run has if it has none of ``method`` (``medfx fuse`` and ``medfx compare``)."""
    mine = {(f.parts[-4][1:], f.parts[-3][4:]): f for f in sorted(run.glob(f"budgets/b*/seed*/{method}/predictions.csv"))}
    if not mine:
        have = sorted({p.name for p in run.glob("budgets/b*/seed*/*") if (p / "predictions.csv").is_file()})
        raise DataError(f"{run}: no cell of method {method!r} with predictions "
                        f"(methods there: {', '.join(have) or 'none'})")
    return mine


def _cells(c: Component) -> dict[tuple[str, str], Path]:
    """(budget, seed) -> the predictions.csv of every cell of ``c.method`` in ``c.runs``."""
    found: dict[tuple[str, str], Path] = {}
    for run in c.runs:
        mine = run_cells(run, c.method)
        for key in mine.keys() & found.keys():
            raise DataError(f"{c.method} budget {key[0]} seed {key[1]} is in both {found[key].parents[4]} and {run}: "
                            "which one to use would be a silent choice")
        found.update(mine)
    return found


def check_same_subsets(subsets: dict[Path, dict]) -> None:
    """Raise unless every (budget, seed) that two runs share has the same training and validation ids in both, and
    every run the same test ids (the same draws of the same data)."""
    seen: dict[tuple[str, str], tuple[Path, tuple]] = {}
    test: tuple[Path, tuple] | None = None
    for run, sub in subsets.items():
        t = tuple(sub["test_ids"])
        if test is not None and t != test[1]:
            raise DataError(f"{run}: its test split differs from {test[0]}'s (other data or split)")
        test = test or (run, t)
        for seed, per_b in sub["seeds"].items():
            for b, ids in per_b.items():
                sig = (tuple(ids["train_ids"]), tuple(ids["val_ids"]))
                key = (b, str(seed))
                if key in seen and seen[key][1] != sig:
                    raise DataError(f"{run}: budget {b} head seed {seed} drew other training or validation images "
                                    f"than {seen[key][0]} (other data, head seeds or heads.val_budget)")
                seen.setdefault(key, (run, sig))


def fuse_runs(components: list[Component], out: str | Path, name: str = "fused",
              keep: list[Component] | tuple = (), seeds=None) -> dict:
    """Fuse ``components`` (at least two) cell by cell into the run-like directory ``out`` (see the module docstring);
    ``keep``: methods copied alongside; ``seeds``: only these head seeds (e.g. those of a kept ResNet-18, so that the
    paired comparison covers the same draws). Returns the content of ``fuse.json``."""
    import numpy as np  # heavy imports here: ``medfx --help`` imports this module

    from ..data.budgets import ALL
    from ..metrics.classification import classification_metrics
    from ..report.html import build_report
    from ..report.html import label as report_label
    from ..report.tables import (
        format_budget_table,
        read_predictions,
        results_rows,
        write_csv,
        write_predictions,
    )
    from .label_budgets import (
        budget_uncertainty,
        fuse_predictions,
        fused_cell_fields,
        learning_curve_table,
        write_learning_curves,
    )
    from .pipeline import _summarize

    components, keep, out = list(components), list(keep), Path(out)
    if len(components) < 2:
        raise ValueError("fuse needs at least two components (METHOD@RUN)")
    if len(set(components)) < len(components):
        raise ValueError(f"a component is named twice: {[str(c) for c in components]}")
    kept_names = [k.method for k in keep]
    if name in kept_names or len(set(kept_names)) < len(kept_names):
        raise ValueError(f"--name {name!r} and the --keep methods {kept_names} must be distinct method names")
    if out.exists() and any(out.iterdir()) and not (out / "fuse.json").is_file():
        raise DataError(f"{out}: exists and is not a `medfx fuse` output (no fuse.json); choose a new --out")
    runs = list(dict.fromkeys(r for c in [*components, *keep] for r in c.runs))
    subsets = {r: _subsets(r) for r in runs}
    check_same_subsets(subsets)
    per_comp = [_cells(c) for c in components]
    per_keep = [_cells(k) for k in keep]
    if seeds is not None:
        wanted = {str(int(x)) for x in seeds}
        per_comp = [{key: f for key, f in pc.items() if key[1] in wanted} for pc in per_comp]
    keys = set(per_comp[0]).intersection(*per_comp[1:])
    skipped = sorted(set().union(*per_comp) - keys, key=_order)
    if not keys:
        raise DataError(f"no (budget, head seed) cell is in every component: {', '.join(map(str, components))}")
    for b, s in skipped:
        logger.warning("budget %s seed %s: not in every component, not fused", b, s)  # fuse.json names who has it

    with _staged(out) as tmp:  # written under a temporary name, renamed when complete, removed on failure
        draws = dict(subsets[components[0].runs[0]], seeds={})  # the draws of the fused cells (equal in every run)
        for sub in subsets.values():
            for seed, per_b in sub["seeds"].items():
                for bud, ids in per_b.items():
                    if (bud, str(seed)) in keys:
                        draws["seeds"].setdefault(str(seed), {}).setdefault(bud, ids)
        draws["seeds"] = {s: dict(sorted(per_b.items(), key=lambda kv: _order((kv[0], s))))
                          for s, per_b in sorted(draws["seeds"].items(), key=lambda kv: int(kv[0]))}
        (tmp / "budgets" / "subsets.json").write_text(json.dumps(draws, indent=1))
        cells: dict[tuple, dict] = {}
        class_names: list[str] = []
        for b, s in sorted(keys, key=_order):
            files = [pc[(b, s)] for pc in per_comp]
            rows = {split: read_predictions(files[0], split) for split in ("val", "test")}
            try:
                proba = fuse_predictions(files, {split: d["ids"] for split, d in rows.items()})
            except ValueError as e:
                raise DataError(str(e)) from None
            k, n_test = proba["test"].shape[1], len(rows["test"]["ids"])
            class_names = class_names or _class_names(files[0], k)
            cdir = tmp / "budgets" / f"b{b}" / f"seed{s}"
            write_predictions(cdir / name / "predictions.csv", [i for d in rows.values() for i in d["ids"]],
                              [split for split, d in rows.items() for _ in d["ids"]],
                              np.concatenate([d["labels"] for d in rows.values()]),
                              np.concatenate([proba[split] for split in rows]), class_names)
            m = classification_metrics(rows["test"]["labels"], proba["test"], num_classes=k)
            val = classification_metrics(rows["val"]["labels"], proba["val"], num_classes=k)
            cell = {**fused_cell_fields(m, val, [_params(f) for f in files]), "n_test": n_test,
                    "components": [str(c) for c in components], "weights": [1.0 / len(files)] * len(files)}
            (cdir / name / "metrics.json").write_text(json.dumps(cell, indent=1))
            cells[(b, int(s), name)] = cell
            for kc, pk in zip(keep, per_keep):
                if (b, s) in pk:
                    dst = cdir / kc.method
                    dst.mkdir(parents=True)
                    for f in ("predictions.csv", "metrics.json"):
                        if (pk[(b, s)].parent / f).is_file():
                            shutil.copy2(pk[(b, s)].parent / f, dst / f)
                    if (dst / "metrics.json").is_file():
                        cells[(b, int(s), kc.method)] = json.loads((dst / "metrics.json").read_text())
                    else:  # predictions only: scored like the fused cells
                        d = read_predictions(dst / "predictions.csv", "test")
                        km = classification_metrics(d["labels"], d["proba"], num_classes=k)
                        cells[(b, int(s), kc.method)] = {x: float(km[x]) for x in _TEST_METRICS}

        methods = [name, *kept_names]
        budgets = sorted({b for b, _ in keys}, key=lambda b: _order((b, "0")))
        seeds = sorted({int(s) for _, s in keys})
        sizes = {b: next(per_b[b] for per_b in draws["seeds"].values() if b in per_b) for b in budgets}
        plan = {s: {b: {"train": sizes[b]["train_ids"], "val": sizes[b]["val_ids"]} for b in budgets} for s in seeds}
        per_budget, uncs = [], {}
        for b in budgets:
            bseeds = [s for s in seeds if (b, s, name) in cells]
            uncs[b] = budget_uncertainty(tmp / "budgets" / f"b{b}", methods, bseeds)
            summaries = {m: _summarize({"seeds": {s: cells[(b, s, m)] for s in bseeds if (b, s, m) in cells}})
                         for m in methods if any((b, s, m) in cells for s in bseeds)}
            per_budget.append((b, {"methods": summaries}, uncs[b]))  # the console table, as `medfx run` prints it
        k = len(class_names)
        n_per_class = {b: float(b) if b != ALL else len(plan[seeds[0]][b]["train"]) / k for b in budgets}
        table = learning_curve_table(cells, budgets, seeds, methods, n_per_class, plan, uncs)
        write_learning_curves(tmp, table, cells, draws.get("rule", ""), class_names)
        tidy = [{"budget": b, **r} for b in budgets for r in results_rows(
            {"methods": {m: {"seeds": {str(s): cells[(b, s, m)] for s in seeds if (b, s, m) in cells}} for m in methods}})]
        write_csv(tmp / "results.csv", tidy, ("budget", "method", "seed", "metric", "value", "n_test"))
        info = {"name": name, "components": [str(c) for c in components], "keep": [str(c) for c in keep],
                "weights": [1.0 / len(components)] * len(components), "budgets": budgets, "seeds": seeds,
                "cells": len(keys),
                "skipped": [{"budget": b, "seed": int(s),
                             "in": [str(c) for c, pc in zip(components, per_comp) if (b, s) in pc]} for b, s in skipped],
                "validation_rule": draws.get("rule", ""), "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        top = budgets[-1]  # results.json as a label-budget run writes it, so that the report shows the curves
        results = {"class_names": class_names, "fuse": info,
                   "label_budgets": {"budgets": budgets, "seeds": seeds, "validation_rule": draws.get("rule", ""),
                                     "test_n": n_test, "table": table,
                                     "files": ["learning_curves.csv", "learning_curves.json", "learning_curves.png"]},
                   "methods": {m: {**e, "note": f"label budget {top} per class"}  # the console table's summaries
                               for m, e in per_budget[-1][1]["methods"].items()}}
        (tmp / "results.json").write_text(json.dumps(results, indent=1, default=float))
        build_report(tmp)
        (tmp / "fuse.json").write_text(json.dumps(info, indent=1))
    logger.info("%s", format_budget_table(per_budget, labels={m: report_label(m) for m in methods}))
    return info


@contextmanager
def _staged(out: Path):
    """A fresh folder named like ``out`` inside a temporary folder next to it (so that the report carries the final
    name); on success it replaces ``out``, on failure it is removed."""
    holder = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(holder, ignore_errors=True)
    tmp = holder / out.name
    (tmp / "budgets").mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(holder, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    holder.rmdir()


def _order(key: tuple[str, str]) -> tuple:
    """Budgets in increasing order, ``all`` last; then head seeds."""
    b, s = key
    return (b == "all", int(b) if b != "all" else 0, int(s))


def _class_names(pred: Path, k: int) -> list[str]:
    """The class names as the component's predictions.csv wrote them (label -> label_name)."""
    with pred.open(newline="") as f:
        names = {int(r["label"]): r.get("label_name") or r["label"] for r in csv.DictReader(f)}
    return [names.get(c, str(c)) for c in range(k)]


def _params(pred: Path):
    f = pred.parent / "metrics.json"
    try:
        return json.loads(f.read_text()).get("params") if f.is_file() else None
    except json.JSONDecodeError:
        return None


def cmd_fuse(args) -> int:
    info = fuse_runs([parse_component(c) for c in args.components], args.out, name=args.name,
                     keep=[parse_component(c) for c in args.keep or []], seeds=args.seeds)
    print(f"{info['cells']} fused cells ({' + '.join(info['components'])}) -> {args.out}"
          + (f"; {len(info['skipped'])} cells not in every component" if info["skipped"] else ""))
    return 0


def _seed(value: str) -> int:
    """A head seed for ``--seeds``; a METHOD@RUN there means the list options came before the components."""
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a head seed: a list option (--seeds, --keep, --budgets, ...) takes every word after it, "
            "so put the list options after the METHOD@RUN list") from None


def register(sub, grammar) -> None:
    """Add ``fuse`` to the ``medfx`` sub-command parser."""
    sp = sub.add_parser("fuse", help="average the class probabilities of methods of several label-budget runs",
                        description="Late fusion across label-budget runs (e.g. two DDPMs' probes and a small CNN): "
                        "per (budget, head seed) the components' class probabilities averaged with equal weights; "
                        "the runs must have drawn the same subsets. Writes a run-like folder with learning curves, "
                        "intervals and paired comparisons against a kept ResNet-18. The list options --keep and --seeds "
                        "go after the METHOD@RUN list.")
    sp.add_argument("components", nargs="+", metavar="METHOD@RUN", help="at least two, e.g. linear_topk@runs/a")
    sp.add_argument("--out", required=True, help="output folder (a new one, or an earlier `medfx fuse` output)")
    sp.add_argument("--name", default="fused", help="method name of the fused cells (default: fused)")
    sp.add_argument("--keep", nargs="*", metavar="METHOD@RUN",
                    help="methods copied next to the fused cells (e.g. resnet18@runs/cnns for the paired comparison)")
    sp.add_argument("--seeds", nargs="*", type=_seed, metavar="SEED",
                    help="only these head seeds (default: every seed all components have)")
    sp.set_defaults(func=cmd_fuse)
