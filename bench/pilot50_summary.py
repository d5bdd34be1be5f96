"""The pilot rule prepared in the forty-ninth session (BENCHMARKS "Issue 13: forty-ninth session", "Prepared for the
next session"): does pretraining the 3D DDPM with image augmentation help the few-label probes? For each pair of
label-budget runs BASE:AUG (the same run.seed, pretrained without and with augmentation), every (budget, head seed)
cell's top-5 probe ensemble (`linear_topk`: each run's own keys and C, chosen on its budgeted validation split) is
refitted on the labelled volumes and scored on the HIDDEN labels of the other training-subsample volumes (no
validation or test label is read); the runs must have the same subsets and hidden volumes. Prints per budget the
means and the mean paired difference AUG - BASE, then the verdict: pass when, over all cells, AUC at 5 labels per
class >= base + 0.01 and macro-F1 >= base, and AUC at 10 >= base.

    PYTHONPATH=.:bench python -P bench/pilot50_summary.py \\
        bench/runs/le-a3d-s7-d49:bench/runs/le-a3d-s7-d50aug bench/runs/le-a3d-s8-d49:bench/runs/le-a3d-s8-d50aug
"""

import sys

import numpy as np
from pilot_data import PilotRun, score, topk_proba

BUDGETS, SEEDS, EPS = (5, 10), range(6), 1e-9


def topk_score(run: PilotRun, b: int, s: int) -> tuple[float, float]:
    lab, hid = run.rows(b, s)
    return score(run.y[hid], topk_proba(run, lab, hid, b, s))


def main(pairs: list[str]) -> bool:
    diffs = {b: [] for b in BUDGETS}
    means = {b: [] for b in BUDGETS}
    for pair in pairs:
        base, aug = (PilotRun(r) for r in pair.split(":"))
        for b in BUDGETS:
            for s in SEEDS:
                lb, hb = base.rows(b, s)
                la, ha = aug.rows(b, s)
                if [base.ids[i] for i in lb] != [aug.ids[i] for i in la] or \
                        [base.ids[i] for i in hb] != [aug.ids[i] for i in ha]:
                    raise SystemExit(f"{pair}: budget {b}, head seed {s}: the runs' subsets differ")
                sb, sa = topk_score(base, b, s), topk_score(aug, b, s)
                means[b].append((*sb, *sa))
                diffs[b].append((sa[0] - sb[0], sa[1] - sb[1]))
                print(f"{pair} b{b} seed {s}: base {sb[0]:.4f} / {sb[1]:.4f}, aug {sa[0]:.4f} / {sa[1]:.4f}")
    for b in BUDGETS:
        m, d = np.mean(means[b], axis=0), np.array(diffs[b])
        print(f"## {b} labels / class, {len(d)} cells: base {m[0]:.3f} / {m[1]:.3f}, aug {m[2]:.3f} / {m[3]:.3f}; "
              f"aug - base {d[:, 0].mean():+.3f} / {d[:, 1].mean():+.3f} (sd {d[:, 0].std(ddof=1):.3f} / "
              f"{d[:, 1].std(ddof=1):.3f})")
    d5, d10 = np.mean(diffs[5], axis=0), np.mean(diffs[10], axis=0)
    ok = d5[0] >= 0.01 - EPS and d5[1] >= -EPS and d10[0] >= -EPS
    print(f"## rule (5 labels AUC >= base + 0.01 and macro-F1 >= base; 10 labels AUC >= base): {'PASS' if ok else 'fail'}")
    return ok


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
