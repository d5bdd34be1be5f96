"""Thirty-sixth session's second training-data-only pilot (BENCHMARKS "Issue 13: thirty-sixth session"): the top-5
linear-probe ensemble on grid-pooled maps (4^3 cells per channel, and averaged to 2^3) against global average
pooling, with the grid's C or C chosen by inner cross-validation, scored on the HIDDEN labels of the
training-subsample rows outside the budget. Never reads a validation or test label.

    cd bench/.. && PYTHONPATH=. python -P bench/pilot36_grid.py bench/runs/le-a3d-s0-d34topk 5,10,25 0,1,2
    (results/pilot36_grid_a3d.txt)
"""

import collections
import json
import sys

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from medfx.features.bank import FeatureBank
from medfx.probes.grid import ProbeGridResult
from medfx.probes.linear import LinearProbe

run = sys.argv[1]
budgets = [int(b) for b in sys.argv[2].split(",")]
seeds = [int(s) for s in sys.argv[3].split(",")]
gap, grd = FeatureBank(f"{run}/features"), FeatureBank(f"{run}/features_grid")
assert list(gap.ids) == list(grd.ids)
ids = list(gap.ids)
pos = {i: n for n, i in enumerate(ids)}
y = np.asarray(gap.labels)
tr_all = np.flatnonzero(np.asarray(gap.split) == "train")
sub = json.load(open(f"{run}/budgets/subsets.json"))


def pool2(a):  # [N, C*64] -> [N, C, 2,2,2]
    a = a.reshape(a.shape[0], -1, 4, 4, 4)
    n, c = a.shape[:2]
    return a.reshape(n, c, 2, 2, 2, 2, 2, 2).mean(axis=(3, 5, 7))


rep = {
    "gap": lambda k: np.asarray(gap[k]).reshape(len(ids), -1),
    "grid2": lambda k: pool2(np.asarray(grd[k], np.float64)).reshape(len(ids), -1),
    "grid4": lambda k: np.asarray(grd[k]).reshape(len(ids), -1),
}
agg = collections.defaultdict(list)
for b in budgets:
    for s in seeds:
        lab = np.array([pos[i] for i in sub["seeds"][str(s)][str(b)]["train_ids"]])
        hid = np.setdiff1d(tr_all, lab)
        grid = ProbeGridResult.from_json(f"{run}/budgets/b{b}/seed{s}/probe_grid.json")
        keys = grid.top(5)
        Cs = [grid.row(*k)["C"] for k in keys]
        for name, f in rep.items():
            for cmode in ("grid", "auto"):
                p = np.zeros((len(hid), 2))
                for k, c in zip(keys, Cs):
                    X = f(k)
                    lp = LinearProbe(C=float(c) if cmode == "grid" else "auto", random_state=s).fit(
                        X[lab], y[lab]
                    )
                    p += lp.predict_proba(X[hid]) / len(keys)
                agg[(b, name, cmode)].append(
                    (roc_auc_score(y[hid], p[:, 1]), f1_score(y[hid], p.argmax(1), average="macro"))
                )
    for name in rep:
        for cmode in ("grid", "auto"):
            v = agg[(b, name, cmode)]
            print(
                b,
                name,
                cmode,
                f"{np.mean([a for a, _ in v]):.3f} / {np.mean([f for _, f in v]):.3f}",
                flush=True,
            )
