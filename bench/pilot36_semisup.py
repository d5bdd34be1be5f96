"""Thirty-sixth session's training-data-only pilot (BENCHMARKS "Issue 13: thirty-sixth session"): semi-supervised
heads on the diffusion features (scikit-learn LabelSpreading, 8 settings, and class-balanced self-training of the
top-5 probe ensemble), scored on the HIDDEN labels of the training-subsample rows outside the budget, against the
supervised top-5 ensemble (linear_topk). Never reads a validation or test label.

    cd bench/.. && PYTHONPATH=.:bench python -P bench/pilot36_semisup.py bench/runs/le-a3d-s0-d34topk 5,10,25 0,1,2
    (results/pilot36_semisup_a3d.txt; bench/runs/le-pn-s0-d34topk for results/pilot36_semisup_pn.txt)
"""

import collections
import sys

import numpy as np
from pilot_data import PilotRun, score
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from medfx.probes.linear import LinearProbe

run = PilotRun(sys.argv[1])
budgets = [int(b) for b in sys.argv[2].split(",")]
seeds = [int(s) for s in sys.argv[3].split(",")]
bank, ids, y, tr_all = run.bank, run.ids, run.y, run.tr_all
m = {r: n for n, r in enumerate(tr_all)}  # bank row -> position among the training rows


def feats(keys, fit_rows):
    blocks = []
    for k in keys:
        X = np.asarray(bank[k], np.float64).reshape(len(ids), -1)
        sc = StandardScaler().fit(X[fit_rows])
        blocks.append(sc.transform(X) / np.sqrt(X.shape[1]))
    return np.concatenate(blocks, 1)


def topk(keys, Cs, fit_rows, fit_y, rows, s):
    """linear_topk as the package does it: one probe per cell, probabilities averaged."""
    p = np.zeros((len(rows), 2))
    for k, c in zip(keys, Cs):
        X = run.X([k])
        p += LinearProbe(C=float(c), random_state=s).fit(X[fit_rows], fit_y).predict_proba(X[rows]) / 5
    return p


res = {}
for b in budgets:
    for s in seeds:
        lab, hid = run.rows(b, s)
        grid = run.grid(b, s)
        keys = grid.top(5)
        Cs = [grid.row(*k)["C"] for k in keys]
        out = {}
        # A: linear_topk as the package does it (ensemble of per-cell probes)
        out["topk"] = score(y[hid], topk(keys, Cs, lab, y[lab], hid, s))
        Z = feats(keys, tr_all)
        yy = np.full(len(tr_all), -1)  # the training rows' labels for label spreading: -1 where hidden
        for r in lab:
            yy[m[r]] = y[r]
        for nn in (5, 10, 20):
            for alpha in (0.2, 0.8):
                ls = LabelSpreading(kernel="knn", n_neighbors=nn, alpha=alpha, max_iter=200).fit(
                    Z[tr_all], yy
                )
                P = ls.label_distributions_[[m[r] for r in hid]]
                out[f"ls_k{nn}_a{alpha}"] = score(y[hid], P)
        Zp = PCA(16, random_state=0).fit(Z[tr_all]).transform(Z)
        ls = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2, max_iter=200).fit(Zp[tr_all], yy)
        out["ls_pca16_k10"] = score(y[hid], ls.label_distributions_[[m[r] for r in hid]])
        # D: class-balanced self-training of the topk ensemble, 5 rounds, each adds n_lab/class per class
        L = list(lab)
        Ly = list(y[lab])
        pool = list(hid)
        for _round in range(5):
            p = topk(keys, Cs, L, np.asarray(Ly), pool, s)
            take = []
            for cl in (0, 1):
                order = np.argsort(-p[:, cl])[:b]
                take += [(pool[i], cl) for i in order]
            seen = set()
            for r, cl in take:
                if r in seen:
                    continue
                seen.add(r)
                L.append(r)
                Ly.append(cl)
            pool = [r for r in pool if r not in seen]
        out["selftrain"] = score(y[hid], topk(keys, Cs, L, np.asarray(Ly), hid, s))
        res[(b, s)] = out
        print(b, s, {k: f"{v[0]:.3f}/{v[1]:.3f}" for k, v in out.items()}, flush=True)

for b in budgets:
    agg = collections.defaultdict(list)
    for s in seeds:
        for k, v in res[(b, s)].items():
            agg[k].append(v)
    print(
        "budget",
        b,
        " ".join(
            f"{k}={np.mean([a for a, _ in v]):.3f}/{np.mean([f for _, f in v]):.3f}" for k, v in agg.items()
        ),
    )
