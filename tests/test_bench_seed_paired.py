"""bench/seed_paired_cells.py: the arithmetic behind BENCHMARKS' head-seed-paired tables, on hand-made cells."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
spc = pytest.importorskip("seed_paired_cells")


def _cell(method, budget, seed, f1, run="r"):
    return {"run": run, "method": method, "budget": budget, "seed": seed, "f1": f1, "bacc": f1, "auc": f1}


def test_seed_paired_averages_ddpm_seeds_then_pairs_head_seeds():
    # method "a" on two DDPMs (runs r0 / r1) per head seed, reference "b" on one; head seed 3 has no reference
    cells = [_cell("a", "5", 0, 0.6, "r0"), _cell("a", "5", 0, 0.8, "r1"), _cell("a", "5", 1, 0.5, "r0"),
             _cell("a", "5", 1, 0.7, "r1"), _cell("a", "5", 2, 0.9, "r0"), _cell("a", "5", 2, 0.7, "r1"),
             _cell("a", "5", 3, 0.1, "r0"),
             _cell("b", "5", 0, 0.5), _cell("b", "5", 1, 0.7), _cell("b", "5", 2, 0.6),
             _cell("a", "10", 0, 0.0)]  # another budget: ignored
    r = spc.seed_paired(cells, "a", "b", "5", "f1")
    d = np.array([0.7 - 0.5, 0.6 - 0.7, 0.8 - 0.6])  # per head seed: mean over the DDPMs minus the reference
    assert r["seeds"] == [0, 1, 2] and np.allclose(r["per_seed"], d)
    half = 4.302652729911275 * d.std(ddof=1) / np.sqrt(3)  # t(0.975, 2), written out
    assert r["diff"] == pytest.approx(d.mean()) and r["low"] == pytest.approx(d.mean() - half)
    assert r["high"] == pytest.approx(d.mean() + half)
    assert spc.seed_paired(cells, "a", "c", "5", "f1") is None  # no reference cells: nothing to pair


def test_method_table_means_sds_and_all_position():
    cells = [_cell("linear_ks#pool", "5", 0, 0.6), _cell("linear_ks#pool", "5", 1, 0.8),
             _cell("linear_ks#pool", "all", 0, 0.9), _cell("resnet18", "5", 0, 0.4)]
    t = spc.method_table(cells, ["linear_ks#pool", "resnet18"], ["5", "all"], all_per_class=64.0)
    assert [(r["method"], r["budget"], r["n"]) for r in t] == [("linear_ks#pool", "5", 2), ("linear_ks#pool", "all", 1),
                                                                ("resnet18", "5", 1)]
    assert t[0]["label"] == "linear probe, KS-selected keys [pool]" and t[2]["label"] == "ResNet-18 (scratch)"
    assert t[0]["f1_mean"] == pytest.approx(0.7) and t[0]["f1_sd"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert t[1]["labels_per_class"] == 64.0 and t[1]["f1_sd"] == 0.0 and t[0]["labels_per_class"] == 5.0
