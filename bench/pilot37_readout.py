"""Thirty-seventh session's third training-data-only pilot (BENCHMARKS "Issue 13: thirty-seventh session"): is the
L2 logistic probe the limit at few labels? On a label-budget run's own subsets and keys, ``linear_ks`` (one probe on
the concatenated KS keys) and ``linear_topk`` (five per-cell probes, probabilities averaged) are refitted with

  logreg  the package's LinearProbe with the run's C (the reference; the run's own readout)
  lda     LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto") on standardised features (Ledoit-Wolf)
  ncm     nearest class mean on standardised features (score: minus squared distance over the number of
          dimensions, softmax over classes; for these two-class sets the scale changes neither AUC nor argmax)

and scored on the HIDDEN labels of the training-subsample rows outside the budget. Never reads a validation or test
label (the keys and C are the run's, chosen on its budgeted validation split as the method does).

    cd bench/.. && PYTHONPATH=. python -P bench/pilot37_readout.py bench/runs/le-pn-s5-d36 5,10,25 0,1,2,3,4,5
    (results/pilot37_readout.txt)
"""

import json
import sys
from pathlib import Path

import numpy as np
from scipy.special import softmax
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

from medfx.features.bank import FeatureBank
from medfx.probes.grid import ProbeGridResult
from medfx.probes.linear import LinearProbe

run = sys.argv[1]
budgets = [int(b) for b in sys.argv[2].split(",")]
seeds = [int(s) for s in sys.argv[3].split(",")]
bank = FeatureBank(f"{run}/features")
ids = list(bank.ids)
pos = {i: n for n, i in enumerate(ids)}
y = np.asarray(bank.labels)
classes = np.unique(y)
tr_all = np.flatnonzero(np.asarray(bank.split) == "train")
sub = json.load(open(f"{run}/budgets/subsets.json"))


def fit_proba(readout, Z, lab, hid, c, s):
    if readout == "logreg":
        return LinearProbe(C=float(c), random_state=s).fit(Z[lab], y[lab]).predict_proba(Z[hid])
    sc = StandardScaler().fit(Z[lab])
    A, H = sc.transform(Z[lab]), sc.transform(Z[hid])
    if readout == "lda":
        return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(A, y[lab]).predict_proba(H)
    means = np.stack([A[y[lab] == k].mean(0) for k in classes])
    return softmax(-((H[:, None, :] - means[None]) ** 2).sum(-1) / A.shape[1], axis=1)


for b in budgets:
    for s in seeds:
        lab = np.array([pos[i] for i in sub["seeds"][str(s)][str(b)]["train_ids"]])
        hid = np.setdiff1d(tr_all, lab)
        grid = ProbeGridResult.from_json(f"{run}/budgets/b{b}/seed{s}/probe_grid.json")
        top = grid.top(5)
        methods = {"topk": ([[k] for k in top], [grid.row(*k)["C"] for k in top])}
        ks = Path(f"{run}/budgets/b{b}/seed{s}/linear_ks/metrics.json")
        if ks.exists():
            ks = json.loads(ks.read_text())
            methods = {"ks": ([[tuple(k) for k in ks["input"]]], [ks["C"]]), **methods}
        for m, (groups, Cs) in methods.items():
            for readout in ("logreg", "lda", "ncm"):
                p = np.zeros((len(hid), len(classes)))
                for keys, c in zip(groups, Cs, strict=True):
                    Z = np.concatenate([np.asarray(bank[k]).reshape(len(ids), -1) for k in keys], axis=1)
                    p += fit_proba(readout, Z, lab, hid, c, s) / len(groups)
                auc, f1 = roc_auc_score(y[hid], p[:, 1]), f1_score(y[hid], p.argmax(1), average="macro")
                print(f"{b} {s} {m} {readout} {auc:.4f} {f1:.4f}", flush=True)
