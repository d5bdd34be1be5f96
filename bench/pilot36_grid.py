"""Thirty-sixth session's second training-data-only pilot (BENCHMARKS "Issue 13: thirty-sixth session"): the top-5
linear-probe ensemble on grid-pooled maps (4^3 cells per channel, and averaged to 2^3) against global average
pooling, with the grid's C or C chosen by inner cross-validation, scored on the HIDDEN labels of the
training-subsample rows outside the budget. Never reads a validation or test label.

    cd bench/.. && PYTHONPATH=.:bench python -P bench/pilot36_grid.py bench/runs/le-a3d-s0-d34topk 5,10,25 0,1,2
    (results/pilot36_grid_a3d.txt)
"""

import collections
import sys

import numpy as np
from pilot_data import PilotRun, score

from medfx.features.bank import FeatureBank
from medfx.probes.linear import LinearProbe

run = PilotRun(sys.argv[1])
budgets = [int(b) for b in sys.argv[2].split(",")]
seeds = [int(s) for s in sys.argv[3].split(",")]
gap, grd = run.bank, FeatureBank(f"{run.run}/features_grid")
assert list(gap.ids) == list(grd.ids)
ids, y = run.ids, run.y


def pool2(a):  # [N, C*64] -> [N, C, 2,2,2]
    a = a.reshape(a.shape[0], -1, 4, 4, 4)
    n, c = a.shape[:2]
    return a.reshape(n, c, 2, 2, 2, 2, 2, 2).mean(axis=(3, 5, 7))


rep = {
    "gap": lambda k: run.X([k]),
    "grid2": lambda k: pool2(np.asarray(grd[k], np.float64)).reshape(len(ids), -1),
    "grid4": lambda k: run.X([k], grd),
}
agg = collections.defaultdict(list)
for b in budgets:
    for s in seeds:
        lab, hid = run.rows(b, s)
        grid = run.grid(b, s)
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
                agg[(b, name, cmode)].append(score(y[hid], p))
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
