"""Combine label-budget run directories (one per DDPM seed, plus a DDPM-free baselines run) into one table/figure.

Reads every finished cell ``<run>/budgets/b<B>/seed<s>/<method>/metrics.json`` (partial runs are fine), checks
that a (budget, seed) has the same training and validation ids in every run, and reports mean +- sd over all
(DDPM seed x head seed) cells of a method. Prints a markdown table; writes JSON and a learning-curve PNG.

    PYTHONPATH=. python bench/label_efficiency_summary.py --runs bench/runs/le-pn-baselines bench/runs/le-pn-s0 \
        bench/runs/le-pn-s1 --out bench/results/label_efficiency_pn.json --png docs/img/label_efficiency_pneumonia28.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from medfx.workflows.label_budgets import LABELS, plot_learning_curves

ORDER = ["linear_best", "linear_ks", "cats", "dcube", "dcube_feats", "dcube_cnn", "resnet18", "small_cnn"]
DIFFUSION = ("linear_best", "linear_ks", "cats", "dcube", "dcube_feats")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--png", required=True)
    args = ap.parse_args()

    cells, subsets = [], {}
    for run in map(Path, args.runs):
        if not (run / "budgets" / "subsets.json").exists():
            continue
        sub = json.loads((run / "budgets" / "subsets.json").read_text())
        for seed, per_b in sub["seeds"].items():
            for b, ids in per_b.items():
                key = (b, seed)
                sig = (tuple(ids["train_ids"]), tuple(ids["val_ids"]), tuple(sub["test_ids"]))
                if key in subsets and subsets[key] != sig:
                    raise SystemExit(f"{run}: budget {b} seed {seed} has different ids than another run")
                subsets[key] = sig
        for f in sorted(run.glob("budgets/b*/seed*/*/metrics.json")):
            d = json.loads(f.read_text())
            cells.append({"run": run.name, "budget": f.parts[-4][1:], "seed": int(f.parts[-3][4:]),
                          "method": f.parts[-2], **{m: d.get(m) for m in ("f1", "bacc", "auc", "acc", "params",
                                                                            "wall_time_s", "best_epoch")}})
    table = []
    budgets = sorted({c["budget"] for c in cells}, key=lambda b: (b == "all", int(b) if b != "all" else 0))
    for method in [m for m in ORDER if any(c["method"] == m for c in cells)]:
        for b in budgets:
            rows = [c for c in cells if c["method"] == method and c["budget"] == b]
            if not rows:
                continue
            r = {"method": method, "label": LABELS.get(method, method), "budget": b,
                 "labels_per_class": float(b) if b != "all" else float("nan"), "n": len(rows),
                 "ddpm_runs": sorted({c["run"] for c in rows}), "params": rows[0]["params"]}
            for m in ("f1", "bacc", "auc", "acc"):
                v = np.array([c[m] for c in rows], dtype=float)
                r[f"{m}_mean"], r[f"{m}_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
            wt = [c["wall_time_s"] for c in rows if c.get("wall_time_s")]
            r["wall_time_s"] = float(np.mean(wt)) if wt else None
            table.append(r)
    goal = []
    for b in [b for b in budgets if b != "all" and int(b) <= 25]:
        ref = next((r for r in table if r["method"] == "resnet18" and r["budget"] == b), None)
        diff = [r for r in table if r["method"] in DIFFUSION and r["budget"] == b]
        if ref is None or not diff:
            continue
        best = max(diff, key=lambda r: r["f1_mean"])
        goal.append({"budget": b, "best_diffusion": best["method"], "d_f1": best["f1_mean"] - ref["f1_mean"],
                     "d_auc": best["auc_mean"] - ref["auc_mean"],
                     "met": bool(best["f1_mean"] - ref["f1_mean"] >= 0.05 and best["auc_mean"] - ref["auc_mean"] >= 0.05)})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"table": table, "goal": goal, "cells": cells}, indent=1, default=float))
    plot_learning_curves([r for r in table if r["budget"] != "all"], Path(args.png),
                         title="PneumoniaMNIST 28x28: test metrics vs labels per class (mean +- sd)",
                         subtitle="cells per point = (DDPM seed x head seed) runs found (see the table); DDPMs of "
                                  "250 steps; validation = same per-class budget (>= 5)")
    print("| method | labels / class | macro-F1 | BACC | AUC | trainable params | cells | s / cell |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['label']} | {r['budget']} | {r['f1_mean']:.3f} ± {r['f1_sd']:.3f} | {r['bacc_mean']:.3f} ± "
              f"{r['bacc_sd']:.3f} | {r['auc_mean']:.3f} ± {r['auc_sd']:.3f} | {r['params']:,} | {r['n']} | "
              f"{'-' if r['wall_time_s'] is None else round(r['wall_time_s'])} |")
    for g in goal:
        print(f"goal at {g['budget']}/class: best diffusion {g['best_diffusion']} dF1 {g['d_f1']:+.3f} "
              f"dAUC {g['d_auc']:+.3f} -> {'met' if g['met'] else 'not met'}")


if __name__ == "__main__":
    main()
