"""Forty-eighth session's second training-data-only pilot (BENCHMARKS "Issue 13: forty-eighth session"): the
linear probes z-score every feature with the statistics of their own training rows, 10-20 images at 5 labels per
class. Does z-scoring with the statistics of the **unlabelled** training images (label-free) help the probes and the
late fusion?

Same runs, head seeds, pool / score split (seeded permutation of the hidden training rows, seed 1000 + head seed)
and small CNN as ``bench/pilot48_distill.py``; nothing trains on the SCORE half, whose hidden labels are scored.

  topk        the run's top-5 probe ensemble (per-cell probes with the run's C, z-scored on the labelled rows)
  small_cnn   the small CNN on the labelled rows (the harness's settings)
  fused       (topk + small_cnn) / 2
  topk_c      topk with C chosen again per cell on the budgeted validation subset (validation log-loss over the
              package's DEFAULT_CS, ``LinearProbe(C="auto")``): the reference for topk_pool's C choice
  topk_pool   the same five cells, every feature z-scored with the mean and sd of the labelled rows plus the POOL
              half (training images only, no label read), then ``LinearProbe(C="auto", standardize=False)``, C
              chosen the same way
  fused_pool  (topk_pool + small_cnn) / 2

Pilot rule (declared in BENCHMARKS before this ran): ``fused_pool`` goes on to a pre-registered test-split run
only if, on both PneumoniaMNIST (le-pn-s{9,10}-d46) and brain MRI (le-b64-s{9,10}-d47), 5 labels per class, head
seeds 42-47, its mean score-half AUC is >= fused's + 0.01 and its mean macro-F1 >= fused's - 0.01.

    cd bench/.. && PYTHONPATH=.:bench OMP_NUM_THREADS=1 python -P bench/pilot48_poolscale.py bench/runs/le-pn-s9-d46 5 42,43,44,45,46,47
"""

import sys
import time

import numpy as np
from pilot48_distill import pilot_cells, print_cell, small_cnn
from pilot_data import topk_proba

from medfx.probes.linear import LinearProbe


def probe_ensemble(run, groups, lab, val, rows, s, stats_rows=None):
    """Per-cell probes, C chosen on ``val`` (validation log-loss), probabilities on ``rows`` averaged; with
    ``stats_rows`` every feature is z-scored with those rows' mean and sd instead of the labelled rows'."""
    y, p = run.y, np.zeros((len(rows), run.k))
    for g in groups:
        X = run.X(g).astype(np.float64)
        if stats_rows is not None:
            mu, sd = X[stats_rows].mean(0), X[stats_rows].std(0)
            X = (X - mu) / np.where(sd > 0, sd, 1.0)
        probe = LinearProbe(C="auto", standardize=stats_rows is None, random_state=s)
        p += probe.fit(X[lab], y[lab], X[val], y[val]).predict_proba(X[rows]) / len(groups)
    return p


def main(argv):
    for run, b, s, lab, val, pool, score_rows in pilot_cells(argv):
        groups = run.probes(b, s)["topk"][0]
        P = {"topk": topk_proba(run, lab, score_rows, b, s)}
        t0 = time.perf_counter()
        p, fit = small_cnn(run, lab, val, np.concatenate([score_rows, pool]), s)
        P["small_cnn"] = p[: len(score_rows)]
        ep, w = f"{fit.best_epoch}/{len(fit.history)}", time.perf_counter() - t0
        P["fused"] = (P["topk"] + P["small_cnn"]) / 2
        P["topk_c"] = probe_ensemble(run, groups, lab, val, score_rows, s)
        P["topk_pool"] = probe_ensemble(run, groups, lab, val, score_rows, s, np.concatenate([lab, pool]))
        P["fused_pool"] = (P["topk_pool"] + P["small_cnn"]) / 2
        for name, p in P.items():
            print_cell(run, b, s, name, p, pool, score_rows, *((ep, w) if name == "small_cnn" else ()))


if __name__ == "__main__":
    main(sys.argv[1:])
