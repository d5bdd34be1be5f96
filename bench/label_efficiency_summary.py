"""Combine label-budget run directories (one per DDPM seed, plus a DDPM-free baselines run) into one table/figure.

Reads every finished cell ``<run>/budgets/b<B>/seed<s>/<method>/metrics.json`` (partial runs are fine) and its
``predictions.csv`` (validation subset + complete test split), checks that a (budget, seed) has the same training
and validation ids in every run, and reports per method and budget the mean +- sd over all (DDPM seed x head
seed) cells, at argmax and with the validation-tuned threshold (``medfx.metrics.threshold``: chosen on the
cell's validation rows only). Goal check (issue 13): the best diffusion-feature method against ResNet-18 from
scratch and against the strongest image-only CNN, at every budget (the goal itself applies to budgets <= 25), with the paired bootstrap difference [95% CI] of the cell-averaged metric over the test
images (``medfx.metrics.uncertainty.paired_bootstrap``: resamples of the 624 test images, the same for both
methods; the cells are fixed, so the interval covers test-sampling error, not seed or DDPM variance; the sd over
cells is reported next to it). Prints markdown tables; writes JSON and a learning-curve PNG.

    PYTHONPATH=. python bench/label_efficiency_summary.py --runs bench/runs/le-pn-baselines bench/runs/le-pn-s0 \
        bench/runs/le-pn-s1 --out bench/results/label_efficiency_pn.json --png docs/img/label_efficiency_pneumonia28.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from medfx.metrics.classification import classification_metrics
from medfx.metrics.threshold import apply_threshold, tune_threshold
from medfx.metrics.uncertainty import paired_bootstrap
from medfx.report.tables import read_predictions
from medfx.workflows.label_budgets import LABELS, plot_learning_curves

ORDER = ["linear_best", "linear_ks", "cats", "dcube", "dcube_feats", "dcube_cnn", "resnet18", "small_cnn", "linear_topk",
         "backbone_ft", "fused"]  # fused (late fusion, e.g. of a probe and a CNN) is tabled but not in DIFFUSION:
# whether a fused lead comes from the features is its own ablation (BENCHMARKS "Issue 13: forty-first session")
DIFFUSION = ("linear_best", "linear_ks", "cats", "dcube", "dcube_feats", "linear_topk", "backbone_ft")
CNNS = ("resnet18", "small_cnn", "dcube_cnn")  # image-only baselines (no diffusion features)
METRICS = ("f1", "bacc", "auc", "acc")


def _read_cell(f: Path, run: Path, suffix: str = "") -> dict:
    d = json.loads(f.read_text())
    cell = {"run": run.name, "budget": f.parts[-4][1:], "seed": int(f.parts[-3][4:]), "method": f.parts[-2] + suffix,
            **{m: d.get(m) for m in (*METRICS, "params", "wall_time_s", "best_epoch")}}
    pred = f.parent / "predictions.csv"
    if pred.exists():
        val, test = read_predictions(pred, "val"), read_predictions(pred, "test")
        cell.update(test_ids=test["ids"], test_labels=test["labels"], proba=test["proba"])
        if test["proba"].shape[1] == 2:  # the validation-tuned threshold is defined for binary tasks only
            thr = tune_threshold(val["labels"], val["proba"], "bacc")
            tuned = apply_threshold(test["proba"], thr)
            m = classification_metrics(test["labels"], tuned, num_classes=2)
            cell.update(threshold=thr, f1_thr=m["f1"], bacc_thr=m["bacc"], acc_thr=m["acc"], proba_thr=tuned)
    return cell


def read_cells(run: Path, budgets=None, suffix: str = "") -> list[dict]:
    """Every finished cell of one run directory (only the budgets named in ``budgets``, if given)."""
    return [_read_cell(f, run, suffix) for f in sorted(run.glob("budgets/b*/seed*/*/metrics.json"))
            if budgets is None or f.parts[-4][1:] in budgets]


def _label(method: str, control_label: str) -> str:
    base, _, ctl = method.partition(":")
    return LABELS.get(base, base) + (f" [{control_label}]" if ctl else "")


def _mean_sd(v) -> tuple[float, float]:
    v = np.array([np.nan if x is None else x for x in v], dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def _compare(a: list[dict], b: list[dict], tuned: bool) -> dict | None:
    """Paired bootstrap of macro-F1 and AUC: cells of method ``a`` against cells of ``b`` on the same test images."""
    key = "proba_thr" if tuned else "proba"
    if not a or not b or any(key not in c for c in a + b):
        return None
    ids = a[0]["test_ids"]
    if any(c["test_ids"] != ids for c in a + b):
        raise SystemExit("test rows differ between cells; cannot pair")
    pa, pb = np.stack([c[key] for c in a]), np.stack([c[key] for c in b])
    y = a[0]["test_labels"]
    return {m: paired_bootstrap(y, pa, pb, m, n_boot=2000, seed=0, names=("a", "b")).as_dict() for m in ("f1", "auc")}


def _fmt(c: dict) -> str:
    return f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]"


def check_subsets(runs: list[Path]) -> dict[str, int]:
    """Stop unless every (budget, head seed) has the same training, validation and test ids in every run that has
    it; returns the number of training labels per budget."""
    subsets, n_train = {}, {}
    for run in runs:
        sub = json.loads((run / "budgets" / "subsets.json").read_text())
        for seed, per_b in sub["seeds"].items():
            for b, ids in per_b.items():
                key = (b, seed)
                sig = (tuple(ids["train_ids"]), tuple(ids["val_ids"]), tuple(sub["test_ids"]))
                if key in subsets and subsets[key] != sig:
                    raise SystemExit(f"{run}: budget {b} seed {seed} has different ids than another run")
                subsets[key] = sig
                n_train.setdefault(b, len(ids["train_ids"]))
    return n_train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--ddpm", default="", help="DDPM description for the figure subtitle")
    ap.add_argument("--title", default="PneumoniaMNIST 28x28", help="dataset name for the figure title")
    ap.add_argument("--control", nargs="*", default=[],
                    help="runs on a ~random-initialised U-Net: their methods are reported as <method>:random")
    ap.add_argument("--budgets", nargs="*", default=None,
                    help="only these budgets (e.g. the ones every run has finished)")
    ap.add_argument("--control-label", default="random-init U-Net",
                    help="what the --control runs are (e.g. 'DDPM on the target alone' for the transfer)")
    args = ap.parse_args()

    runs = [run for run in map(Path, [*args.runs, *args.control]) if (run / "budgets" / "subsets.json").exists()]
    n_train = check_subsets(runs)
    cells = []
    for run in runs:
        cells += read_cells(run, args.budgets, ":random" if str(run) in args.control else "")
    # x position of budget "all": the mean number of training labels per class (as medfx's own curves place it)
    n_classes = max((c["proba"].shape[1] for c in cells if "proba" in c), default=2)
    per_class = {b: float(b) if b != "all" else n_train[b] / n_classes for b in n_train}
    table = []
    budgets = sorted({c["budget"] for c in cells}, key=lambda b: (b == "all", int(b) if b != "all" else 0))
    order = ORDER + [f"{m}:random" for m in DIFFUSION]
    for method in [m for m in order if any(c["method"] == m for c in cells)]:
        for b in budgets:
            rows = [c for c in cells if c["method"] == method and c["budget"] == b]
            if not rows:
                continue
            r = {"method": method, "label": _label(method, args.control_label), "budget": b,
                 "labels_per_class": per_class[b], "n": len(rows),
                 "ddpm_runs": sorted({c["run"] for c in rows}), "params": rows[0]["params"]}
            for m in METRICS:
                r[f"{m}_mean"], r[f"{m}_sd"] = _mean_sd([c[m] for c in rows])
            if all("f1_thr" in c for c in rows):
                for m in ("f1", "bacc"):
                    r[f"{m}_thr_mean"], r[f"{m}_thr_sd"] = _mean_sd([c[f"{m}_thr"] for c in rows])
            wt = [c["wall_time_s"] for c in rows if c.get("wall_time_s")]
            r["wall_time_s"] = float(np.mean(wt)) if wt else None
            table.append(r)
    goal = []  # against ResNet-18 (the issue's goal) and against the strongest same-run image-only CNN
    for b in budgets:  # every budget is compared; the goal itself applies to budgets <= 25 only
        diff = [r for r in table if r["method"] in DIFFUSION and r["budget"] == b]
        for tuned in (False, True):
            sfx = "_thr" if tuned else ""
            cnns = [r for r in table if r["method"] in CNNS and r["budget"] == b and f"f1{sfx}_mean" in r]
            if not diff or not cnns or any(f"f1{sfx}_mean" not in r for r in diff):
                continue
            best = max(diff, key=lambda r: r[f"f1{sfx}_mean"])
            refs = {"resnet18": next((r for r in cnns if r["method"] == "resnet18"), None),
                    "best_cnn": max(cnns, key=lambda r: r[f"f1{sfx}_mean"])}
            for against, ref in refs.items():
                if ref is None or (against == "best_cnn" and refs["resnet18"] is ref):
                    continue  # no ResNet-18, or it is the best CNN itself (its row is already there)
                cmp = _compare([c for c in cells if c["method"] == best["method"] and c["budget"] == b],
                               [c for c in cells if c["method"] == ref["method"] and c["budget"] == b], tuned)
                d_f1, d_auc = best[f"f1{sfx}_mean"] - ref[f"f1{sfx}_mean"], best["auc_mean"] - ref["auc_mean"]
                goal.append({"budget": b, "decision": "val_threshold" if tuned else "argmax", "against": against,
                             "reference": ref["method"], "best_diffusion": best["method"], "d_f1": d_f1,
                             "d_auc": d_auc, "paired": cmp, "in_goal_range": b != "all" and int(b) <= 25,
                             "met": bool(d_f1 >= 0.05 and d_auc >= 0.05),
                             "met_ci": bool(cmp and cmp["f1"]["low"] >= 0.05 and cmp["auc"]["low"] >= 0.05)})
    control = []  # trained DDPM against the ~random-init U-Net: same method, budget and head seeds
    for method in DIFFUSION:
        for b in budgets:
            a = [c for c in cells if c["method"] == method and c["budget"] == b]
            r = [c for c in cells if c["method"] == f"{method}:random" and c["budget"] == b]
            cmp = _compare(a, r, False)
            if cmp:
                control.append({"method": method, "budget": b, "cells": len(a), "control_cells": len(r), **cmp})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    plain = [{k: v for k, v in c.items() if k not in ("test_ids", "test_labels", "proba", "proba_thr")} for c in cells]
    Path(args.out).write_text(json.dumps({"table": table, "goal": goal, "control": control, "cells": plain}, indent=1, default=float))
    plot_learning_curves([r for r in table if not r["method"].endswith(":random")],
                         Path(args.png),
                         title=f"{args.title}: test metrics vs labels per class (mean +- sd over cells)",
                         subtitle="; ".join(x for x in (
                             "cells per point = (DDPM seed x head seed) runs (see the table)", args.ddpm,
                             "validation = same per-class budget (>= 5; budget all: the full validation split)",
                             "argmax decision") if x))
    print("| method | labels / class | macro-F1 | BACC | AUC | macro-F1, val threshold | BACC, val threshold | "
          "trainable params | cells | s / cell |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def ms(r, m):
        return f"{r[m + '_mean']:.3f} ± {r[m + '_sd']:.3f}" if m + "_mean" in r else "-"

    for r in table:
        print(f"| {r['label']} | {r['budget']} | {ms(r, 'f1')} | {ms(r, 'bacc')} | {ms(r, 'auc')} | {ms(r, 'f1_thr')} | "
              f"{ms(r, 'bacc_thr')} | {r['params']:,} | {r['n']} | "
              f"{'-' if r['wall_time_s'] is None else round(r['wall_time_s'])} |")
    print("\n| labels / class | decision | best diffusion method (by mean macro-F1) | against | Δ macro-F1 (means) | "
          "paired Δ macro-F1 [95% CI] | Δ AUC (means) | paired Δ AUC [95% CI] | +0.05 / +0.05 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for g in goal:
        p = g["paired"]
        print(f"| {g['budget']} | {g['decision']} | {LABELS.get(g['best_diffusion'])} | "
              f"{LABELS.get(g['reference'])}{' (best CNN)' if g['against'] == 'best_cnn' else ''} | {g['d_f1']:+.3f} | "
              f"{_fmt(p['f1']) if p else '-'} | {g['d_auc']:+.3f} | {_fmt(p['auc']) if p else '-'} | "
              f"{('met' if g['met'] else '**not met**') if g['in_goal_range'] else '- (budget > 25)'} |")
    if control:
        print(f"\n| method | labels / class | cells (--runs DDPMs / {args.control_label}) | paired Δ macro-F1 [95% CI] | "
              "paired Δ AUC [95% CI] |")
        print("|---|---|---|---|---|")
        for c in control:
            print(f"| {LABELS.get(c['method'])} | {c['budget']} | {c['cells']} / {c['control_cells']} | "
                  f"{_fmt(c['f1'])} | {_fmt(c['auc'])} |")


if __name__ == "__main__":
    main()
