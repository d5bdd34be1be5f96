"""Thirty-sixth session's training-data-only pilot (BENCHMARKS "Issue 13: thirty-sixth session"): semi-supervised
heads on the diffusion features (scikit-learn LabelSpreading, 8 settings, and class-balanced self-training of the
top-5 probe ensemble), scored on the HIDDEN labels of the training-subsample rows outside the budget, against the
supervised top-5 ensemble (linear_topk). Never reads a validation or test label.

    cd bench/.. && PYTHONPATH=. python -P bench/pilot36_semisup.py bench/runs/le-a3d-s0-d34topk 5,10,25 0,1,2
    (results/pilot36_semisup_a3d.txt; bench/runs/le-pn-s0-d34topk for results/pilot36_semisup_pn.txt)
"""

import collections
import json
import sys

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

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
split = np.asarray(bank.split)
tr_all = np.flatnonzero(split == "train")
sub = json.load(open(f"{run}/budgets/subsets.json"))


def feats(keys, fit_rows):
    blocks = []
    for k in keys:
        X = np.asarray(bank[k], np.float64).reshape(len(ids), -1)
        sc = StandardScaler().fit(X[fit_rows])
        blocks.append(sc.transform(X) / np.sqrt(X.shape[1]))
    return np.concatenate(blocks, 1)


def score(yt, p):
    return roc_auc_score(yt, p[:, 1]), f1_score(yt, p.argmax(1), average="macro")


res = {}
for b in budgets:
    for s in seeds:
        lab = np.array([pos[i] for i in sub["seeds"][str(s)][str(b)]["train_ids"]])
        hid = np.setdiff1d(tr_all, lab)
        grid = ProbeGridResult.from_json(f"{run}/budgets/b{b}/seed{s}/probe_grid.json")
        keys = grid.top(5)
        Cs = [grid.row(*k)["C"] for k in keys]
        out = {}
        # A: linear_topk as the package does it (ensemble of per-cell probes)
        p = np.zeros((len(hid), 2))
        for k, c in zip(keys, Cs):
            X = np.asarray(bank[k]).reshape(len(ids), -1)
            lp = LinearProbe(C=float(c), random_state=s).fit(X[lab], y[lab])
            p += lp.predict_proba(X[hid]) / 5
        out["topk"] = score(y[hid], p)
        Z = feats(keys, tr_all)
        for nn in (5, 10, 20):
            for alpha in (0.2, 0.8):
                yy = np.full(len(tr_all), -1)
                m = {r: n for n, r in enumerate(tr_all)}
                for r in lab:
                    yy[m[r]] = y[r]
                ls = LabelSpreading(kernel="knn", n_neighbors=nn, alpha=alpha, max_iter=200).fit(
                    Z[tr_all], yy
                )
                P = ls.label_distributions_[[m[r] for r in hid]]
                out[f"ls_k{nn}_a{alpha}"] = score(y[hid], P)
        Zp = PCA(16, random_state=0).fit(Z[tr_all]).transform(Z)
        yy = np.full(len(tr_all), -1)
        m = {r: n for n, r in enumerate(tr_all)}
        for r in lab:
            yy[m[r]] = y[r]
        ls = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2, max_iter=200).fit(Zp[tr_all], yy)
        out["ls_pca16_k10"] = score(y[hid], ls.label_distributions_[[m[r] for r in hid]])
        # D: class-balanced self-training of the topk ensemble, 5 rounds, each adds n_lab/class per class
        L = list(lab)
        Ly = list(y[lab])
        pool = list(hid)
        for _round in range(5):
            p = np.zeros((len(pool), 2))
            for k, c in zip(keys, Cs):
                X = np.asarray(bank[k]).reshape(len(ids), -1)
                lp = LinearProbe(C=float(c), random_state=s).fit(X[L], np.asarray(Ly))
                p += lp.predict_proba(X[pool]) / 5
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
        p = np.zeros((len(hid), 2))
        for k, c in zip(keys, Cs):
            X = np.asarray(bank[k]).reshape(len(ids), -1)
            lp = LinearProbe(C=float(c), random_state=s).fit(X[L], np.asarray(Ly))
            p += lp.predict_proba(X[hid]) / 5
        out["selftrain"] = score(y[hid], p)
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
