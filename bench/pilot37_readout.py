"""Thirty-seventh session's third training-data-only pilot (BENCHMARKS "Issue 13: thirty-seventh session"): is the
L2 logistic probe the limit at few labels? On a label-budget run's own subsets and keys, ``linear_ks`` (one probe on
the concatenated KS keys) and ``linear_topk`` (five per-cell probes, probabilities averaged) are refitted with

  logreg  the package's LinearProbe with the run's C (the reference; the run's own readout)
  lda     LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto") on standardised features (Ledoit-Wolf)
  ncm     nearest class mean on standardised features (score: minus squared distance over the number of
          dimensions, softmax over classes; for these two-class sets the scale changes neither AUC nor argmax)

and scored on the HIDDEN labels of the training-subsample rows outside the budget. Never reads a validation or test
label (the keys and C are the run's, chosen on its budgeted validation split as the method does).

    cd bench/.. && PYTHONPATH=.:bench python -P bench/pilot37_readout.py bench/runs/le-pn-s5-d36 5,10,25 0,1,2,3,4,5
    (results/pilot37_readout.txt)
"""

import sys

import numpy as np
from pilot_data import PilotRun, score
from scipy.special import softmax
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

from medfx.probes.linear import LinearProbe

run = PilotRun(sys.argv[1])
budgets = [int(b) for b in sys.argv[2].split(",")]
seeds = [int(s) for s in sys.argv[3].split(",")]
y = run.y
classes = np.unique(y)


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
        lab, hid = run.rows(b, s)
        for m, (groups, Cs) in run.probes(b, s).items():
            for readout in ("logreg", "lda", "ncm"):
                p = np.zeros((len(hid), len(classes)))
                for keys, c in zip(groups, Cs, strict=True):
                    p += fit_proba(readout, run.X(keys), lab, hid, c, s) / len(groups)
                auc, f1 = score(y[hid], p)
                print(f"{b} {s} {m} {readout} {auc:.4f} {f1:.4f}", flush=True)
