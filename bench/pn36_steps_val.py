"""Choose the PneumoniaMNIST DDPMs' pretraining length on VALIDATION data (thirty-sixth session, BENCHMARKS "Issue 13:
thirty-sixth session"): for every checkpoint run of bench/pn36.sh / bench/pn36c.sh (500-4000 steps, DDPM seeds 5 and
6) and every budget cell (head seeds 0-5), the KS-keys probe is refitted exactly as the cell was (its keys, its C,
its training rows; the same deterministic fit, checked against the cell's stored test AUC) and scored on the
**complete** 524-image validation split (the refit is the label-budget stage's own, `_probe_proba`). The chosen
length per budget is the step with the highest mean validation AUC over the 12 cells (ties: fewer steps). Test
numbers are then read only at the chosen step.

    cd bench && PYTHONPATH=..:. python -P pn36_steps_val.py > results/pn36_steps_val.txt
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from medfx.features.bank import FeatureBank
from medfx.workflows.label_budgets import _probe_proba

R = Path("runs")
SFX = {500: "d36k5", 1000: "d36k10", 1500: "d36k15", 2000: "d36k20", 2500: "d36k25", 3000: "d36", 3500: "d36k35",
       4000: "d36k40"}
BUDGETS = (5, 10, 25, 50)


def cell_scores(run: Path, b: int, seed: int, bank: FeatureBank, subsets: dict) -> tuple[float, float, float]:
    """(validation AUC, validation macro-F1, |refitted test AUC - stored test AUC|) of one linear_ks cell."""
    cell = json.loads((run / "budgets" / f"b{b}" / f"seed{seed}" / "linear_ks" / "metrics.json").read_text())
    pos = {i: n for n, i in enumerate(bank.ids)}
    y = np.asarray(bank.labels)
    split = np.asarray(bank.split)
    tr = np.array([pos[i] for i in subsets["seeds"][str(seed)][str(b)]["train_ids"]])
    va, te = np.flatnonzero(split == "val"), np.flatnonzero(split == "test")
    # the stage's own refit (medfx's label-budget probes): the cell's keys, C and training rows, probe seed 0
    rows = np.concatenate([tr, va, te])
    proba = _probe_proba(bank, [[(k, int(t)) for k, t in cell["input"]]], rows, split[rows], y, [cell["C"]], 0, 2)
    pv, pt = proba["val"], proba["test"]
    return (roc_auc_score(y[va], pv[:, 1]), f1_score(y[va], pv.argmax(1), average="macro"),
            abs(roc_auc_score(y[te], pt[:, 1]) - cell["auc"]))


def main() -> None:
    val: dict = {}
    worst = 0.0
    for step, sfx in SFX.items():
        for s in (5, 6):
            run = R / f"le-pn-s{s}-{sfx}"
            bank = FeatureBank(run / "features")
            subsets = json.loads((run / "budgets" / "subsets.json").read_text())
            for b in BUDGETS:
                for seed in range(6):
                    auc, f1, err = cell_scores(run, b, seed, bank, subsets)
                    worst = max(worst, err)
                    val.setdefault((b, step), []).append((auc, f1))
    print(f"# refit check: largest |refitted - stored| test AUC over all {len(val) * 12} cells: {worst:.2e}")
    print("budget\tsteps\tcells\tvalidation AUC mean +- sd\tvalidation macro-F1 mean +- sd")
    for b in BUDGETS:
        for step in SFX:
            a, f = zip(*val[(b, step)])
            print(f"{b}\t{step}\t{len(a)}\t{statistics.mean(a):.4f} +- {statistics.stdev(a):.4f}\t"
                  f"{statistics.mean(f):.4f} +- {statistics.stdev(f):.4f}")
    for b in BUDGETS:
        best = max(SFX, key=lambda st: (round(statistics.mean(x for x, _ in val[(b, st)]), 6), -st))
        print(f"# chosen on validation, budget {b}: {best} steps (run suffix -{SFX[best]})")


if __name__ == "__main__":
    main()
