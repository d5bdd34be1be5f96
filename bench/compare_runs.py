"""Paired test-set comparison of one method across two runs (same test samples, same seeds).

    python bench/compare_runs.py RUN_A RUN_B [--method dcube] [--out result.json]

Prints per run the seed-averaged metric with its bootstrap 95% CI, and A - B from the paired bootstrap of
``medfx.metrics.uncertainty`` (same resamples for both runs); DeLong for binary AUC. Test samples are matched by
sample id, so the two runs must share their test split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from medfx.metrics.uncertainty import delong_test, format_ci, format_diff, metric_ci, paired_bootstrap
from medfx.report.tables import read_predictions

METRICS = ("auc", "bacc", "f1", "acc")


def load(run: Path, method: str) -> tuple[list, np.ndarray, np.ndarray, list[int]]:
    """``(ids, labels, proba [S, N, K], seeds)`` of ``method``'s test predictions in ``run``."""
    results = json.loads((run / "results.json").read_text())
    seeds = sorted(int(s) for s in results["methods"][method]["seeds"])
    preds = [read_predictions(run / "heads" / method / f"seed{s}" / "predictions.csv", "test") for s in seeds]
    ids = preds[0]["ids"]
    if any(p["ids"] != ids for p in preds):
        raise SystemExit(f"{run}: seeds of {method} have different test samples")
    return ids, np.asarray(preds[0]["labels"]), np.stack([p["proba"] for p in preds]), seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--method", default="dcube")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    ids_a, y_a, p_a, s_a = load(a.run_a, a.method)
    ids_b, y_b, p_b, s_b = load(a.run_b, a.method)
    if sorted(ids_a) != sorted(ids_b):
        raise SystemExit(f"{a.run_a} and {a.run_b} have different test samples")
    if s_a != s_b:
        raise SystemExit(f"different seeds: {s_a} vs {s_b}")
    order = {i: n for n, i in enumerate(ids_b)}
    idx = np.array([order[i] for i in ids_a])
    p_b, y_b = p_b[:, idx], y_b[idx]
    if not np.array_equal(y_a, y_b):
        raise SystemExit("labels of the matched test samples differ")
    names = (a.run_a.name, a.run_b.name)
    out = {"method": a.method, "seeds": s_a, "n_test": int(len(y_a)), "runs": list(map(str, (a.run_a, a.run_b))),
           "a": {}, "b": {}, "a_minus_b": {}}
    for m in METRICS:
        ca = metric_ci(y_a, p_a, m, n_boot=a.n_boot)
        cb = metric_ci(y_a, p_b, m, n_boot=a.n_boot)
        d = paired_bootstrap(y_a, p_a, p_b, m, n_boot=a.n_boot, names=names)
        out["a"][m], out["b"][m], out["a_minus_b"][m] = ca.as_dict(), cb.as_dict(), d.as_dict()
        sd = f" (sd over seeds {ca.seed_sd:.3f} / {cb.seed_sd:.3f})" if ca.seed_sd is not None else ""
        print(f"{m:5s} A {format_ci(ca)}  B {format_ci(cb)}  A-B {format_diff(d)} p={d.p_value:.3f}{sd}")
    if p_a.shape[2] == 2:
        dl = delong_test(y_a, p_a[:, :, 1].mean(0), p_b[:, :, 1].mean(0), names=names)
        out["a_minus_b"]["auc_delong"] = dl.as_dict()
        print(f"auc DeLong A-B {format_diff(dl)} p={dl.p_value:.3f}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
