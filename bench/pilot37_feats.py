"""Thirty-seventh session's training-data-only pilot (BENCHMARKS "Issue 13: thirty-seventh session"): do cheaper
features-side changes help the few-label probes? On a PneumoniaMNIST label-budget run's own subsets, keys and C,
the KS-keys probe (linear_ks) and the top-5 probe ensemble (linear_topk) are refitted on

  nd1     the run's features (one noise draw; the bank this script is given first, checked identical to the run's)
  nd4/nd8 the same keys averaged over 4 / 8 noise draws (``features.noise_draws``)
  tta     nd1 probes, predictions averaged over the image and its horizontal mirror (``features.flip_axis=1``)
  flipaug probes fitted on the labelled images and their mirrors, predictions averaged as in tta

and scored on the HIDDEN labels of the training-subsample rows outside the budget. Never reads a validation or test
label (the keys and C are the run's, chosen on its budgeted validation split as the method does).

    cd bench/.. && PYTHONPATH=.:bench python -P bench/pilot37_feats.py bench/runs/le-pn-s5-d36 /work/pilot37/pn-s5 5,10,25 0,1,2,3,4,5
    (banks /work/pilot37/pn-s5-{nd1,nd4,nd8,flip} from `medfx extract` of the run's config; results/pilot37_feats.txt)
    PYTHONPATH=.:bench python -P bench/pilot37_feats.py bench/runs/le-a3d-s0-d34topk /work/pilot37/a3d-s0 5,10,25 0,1,2,3,4,5
    (AdrenalMNIST3D: only a3d-s0-nd4 exists; nd1 is then the run's own bank, and a run without linear_ks has only
    topk; results/pilot37_feats_a3d.txt)
"""

import sys
from pathlib import Path

import numpy as np
from pilot_data import PilotRun, score

from medfx.features.bank import FeatureBank
from medfx.probes.linear import LinearProbe

run, banks = PilotRun(sys.argv[1]), sys.argv[2]
budgets = [int(b) for b in sys.argv[3].split(",")]
seeds = [int(s) for s in sys.argv[4].split(",")]
ref = run.bank
B = {v: FeatureBank(f"{banks}-{v}") for v in ("nd1", "nd4", "nd8", "flip") if Path(f"{banks}-{v}").is_dir()}
B.setdefault("nd1", ref)
assert all(list(b.ids) == run.ids for b in B.values())
assert all(np.array_equal(np.asarray(ref[k]), np.asarray(B["nd1"][k])) for k in ref.keys())
y = run.y


def proba(groups, Cs, lab, hid, s, v):
    p = np.zeros((len(hid), len(np.unique(y))))
    for keys, c in zip(groups, Cs, strict=True):
        if v in ("nd1", "nd4", "nd8"):
            Z = run.X(keys, B[v])
            p += LinearProbe(C=float(c), random_state=s).fit(Z[lab], y[lab]).predict_proba(Z[hid]) / len(groups)
            continue
        Z, F = run.X(keys, B["nd1"]), run.X(keys, B["flip"])
        fit = (Z[lab], y[lab]) if v == "tta" else (np.concatenate([Z[lab], F[lab]]), np.concatenate([y[lab]] * 2))
        lp = LinearProbe(C=float(c), random_state=s).fit(*fit)
        p += (lp.predict_proba(Z[hid]) + lp.predict_proba(F[hid])) / (2 * len(groups))
    return p


VARIANTS = [v for v in ("nd1", "nd4", "nd8") if v in B] + (["tta", "flipaug"] if "flip" in B else [])
for b in budgets:
    for s in seeds:
        lab, hid = run.rows(b, s)
        for m, (groups, Cs) in run.probes(b, s).items():
            for v in VARIANTS:
                auc, f1 = score(y[hid], proba(groups, Cs, lab, hid, s, v))
                print(f"{b} {s} {m} {v} {auc:.4f} {f1:.4f}", flush=True)
