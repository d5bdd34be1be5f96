"""bench/plot_compute_curve.py: the per-step table of BENCHMARKS' compute curves, on hand-made points."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
pcc = pytest.importorskip("plot_compute_curve")


def _point(step, ks, cell):
    return {"step": step, "seeds": [{"ks_test_auc": k, "test_auc": c, "ks_test_f1": k - 0.1} for k, c in zip(ks, cell)]}


def test_table_names_the_arms_and_pools_only_shared_steps():
    a = [_point(400, [0.7, 0.8], [0.6, 0.6]), _point(800, [0.9, 0.7], [0.5, 0.7])]
    b = [_point(400, [0.6, 0.6], [0.8, 0.6])]
    lines = pcc.table(a, b, ("pool arm", "target arm")).splitlines()
    assert "KS-keys AUC, pool arm" in lines[0] and "best-cell AUC, target arm" in lines[0]
    row400 = [c.strip() for c in lines[2].strip("|").split("|")]
    # both arms at 400: the pooled column is mean +- sd (ddof 1) over all four head-seed cells
    assert row400[0] == "400" and row400[1] == "0.750 ± 0.071" and row400[2] == "0.600 ± 0.000"
    assert row400[3] == "0.675 ± 0.096"  # mean of 0.7, 0.8, 0.6, 0.6; sd 0.0957
    row800 = [c.strip() for c in lines[3].strip("|").split("|")]
    assert row800[1] == "0.800 ± 0.141" and row800[2] == "-" and row800[3] == "-"  # the target arm lacks step 800
