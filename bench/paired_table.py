"""Markdown tables of a finished `medfx run` for BENCHMARKS.md: every method's metric with its 95 % CI, and paired
comparisons (bootstrap "difference [95 % CI]", DeLong for binary AUC) of chosen pairs of methods, all from the run's
per-sample predictions (the same code as uncertainty.json: medfx.metrics.uncertainty).

    python bench/paired_table.py RUN [--pairs dcube:resnet18 cats:linear_best ...] [--fixed auc=0.944]
      [--also dcube_nocycle=OTHER_RUN:dcube] [--out bench/results/NAME.json]

``--also NAME=RUN2:METHOD`` adds METHOD of another run on the same test samples (e.g. a variant trained on the
cached stages of RUN) as NAME; it is left out, with a message, when its test samples differ.

``--fixed auc=0.944`` also says where a published number lies relative to each method's interval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from medfx.metrics.uncertainty import delong_test, format_ci, format_diff, metric_ci, paired_bootstrap
from medfx.report.html import label
from medfx.report.tables import load_run_predictions

METRICS = ("auc", "bacc", "f1", "acc")


def _p(v: float) -> str:
    return "p < 0.001" if v < 0.001 else f"p = {v:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--pairs", nargs="*", default=[], help="a:b pairs, difference a - b")
    ap.add_argument("--fixed", nargs="*", default=[], help="metric=value, e.g. auc=0.944 (a published number)")
    ap.add_argument("--also", nargs="*", default=[], metavar="NAME=RUN:METHOD",
                    help="a method of another run on the same test samples, added as NAME")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    run = Path(args.run)
    results = json.loads((run / "results.json").read_text())
    other = {}  # NAME -> (run, method)
    for item in args.also:
        name, _, where = item.partition("=")
        run2, _, method = where.rpartition(":")
        res2 = json.loads((Path(run2) / "results.json").read_text())
        results["methods"][name] = res2["methods"][method]
        other[name] = (Path(run2), method)

    def path_of(m, s):
        r, mm = other.get(m, (run, m))
        return r / "heads" / mm / f"seed{s}" / "predictions.csv"

    y, preds = load_run_predictions(run, results, path_of=path_of)
    for name in other:
        if name not in preds:
            print(f"--also {name}: left out (missing predictions, or test samples differ from {run})")
    k = next(iter(preds.values())).shape[2]
    out = {"run": str(run), "n_test": int(len(y)), "n_boot": args.n_boot, "ci": {}, "paired": {}, "fixed": {}}

    print(f"n_test = {len(y)}; {args.n_boot} stratified bootstrap resamples\n")
    print("| method | seeds | best epoch / cap | " + " | ".join(f"{m} [95 % CI]" for m in METRICS) + " |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for name, p in preds.items():
        e = results["methods"][name]
        cis = {m: metric_ci(y, p, m, args.n_boot, num_classes=k) for m in METRICS}
        out["ci"][name] = {m: c.as_dict() for m, c in cis.items()}
        seeds = e.get("seeds", {})
        best = [str(r["best_epoch"]) for r in seeds.values() if r.get("best_epoch") is not None]
        cap = next((r.get("epoch_cap") for r in seeds.values() if r.get("epoch_cap")), None)
        sd = {m: (e.get("summary", {}).get(m) or [None, None])[1] for m in METRICS}
        cells = []
        for m in METRICS:
            txt = format_ci(cis[m])
            if len(seeds) > 1 and sd[m] is not None:
                mean, rest = txt.split(" ", 1)
                txt = f"{mean} ± {sd[m]:.3f} {rest}"
            cells.append(txt)
        epochs = f"{', '.join(best)} / {cap}" if best else "-"
        print(f"| {label(name)} | {len(seeds) if name != 'linear_best' else 'det.'} | {epochs} | "
              + " | ".join(cells) + " |")

    if args.pairs:
        print("\n| comparison | " + " | ".join(f"Δ {m} [95 % CI], p" for m in METRICS) + " | Δ AUC, DeLong, p |")
        print("|---|" + "---|" * (len(METRICS) + 1))
    for pair in args.pairs:
        a, b = pair.split(":")
        if a not in preds or b not in preds:
            print(f"| {pair}: missing predictions |")
            continue
        comps = {m: paired_bootstrap(y, preds[a], preds[b], m, args.n_boot, num_classes=k, names=(a, b))
                 for m in METRICS}
        dl = delong_test(y, preds[a].mean(0)[:, 1], preds[b].mean(0)[:, 1], names=(a, b)) if k == 2 else None
        out["paired"][pair] = {**{m: c.as_dict() for m, c in comps.items()},
                               **({"auc_delong": dl.as_dict()} if dl else {})}
        print(f"| {label(a)} − {label(b)} | " + " | ".join(f"{format_diff(comps[m])}, {_p(comps[m].p_value)}"
                                                          for m in METRICS)
              + f" | {format_diff(dl) + ', ' + _p(dl.p_value) if dl else '-'} |")

    for item in args.fixed:
        m, v = item.split("=")
        v = float(v)
        print(f"\nagainst a fixed {m} = {v}:")
        for name, cis in out["ci"].items():
            c = cis[m]
            where = "above" if c["low"] > v else "below" if c["high"] < v else "inside"
            out["fixed"].setdefault(item, {})[name] = where
            print(f"  {label(name)}: {c['estimate']:.3f} [{c['low']:.3f}, {c['high']:.3f}] -> {v} is "
                  f"{'below' if where == 'above' else 'above' if where == 'below' else 'inside'} the interval")
    if args.out:
        from medfx.utils.io import write_json

        write_json(args.out, out)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
