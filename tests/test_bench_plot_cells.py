"""bench/plot_cells_curve.py: pooling committed cells (de-duplication, filters, --exclude) on hand-made files."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
pcc = pytest.importorskip("plot_cells_curve")


def _cell(run, method, budget, seed, f1):
    return {"run": run, "method": method, "budget": budget, "seed": seed, "f1": f1, "bacc": f1, "auc": f1,
            "params": 7}


def test_load_cells_dedups_filters_and_excludes(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"cells": [_cell("base", "small_cnn", 5, 0, 0.6), _cell("d0", "dcube", "5", 0, 0.5),
                                       _cell("d0", "dcube", "all", 0, 0.9)]}))
    # b repeats one cell of a (same run, budget, seed, method: dropped), re-runs small_cnn in another run directory
    # (kept unless excluded) and adds a second DDPM's cell (kept: other run)
    b.write_text(json.dumps({"ref_cells": [_cell("d0", "dcube", "5", 0, 0.1), _cell("rerun", "small_cnn", "5", 0, 0.2),
                                           _cell("d1", "dcube", "5", 0, 0.7)]}))
    cells = pcc.load_cells([a, b])
    assert sorted((c["run"], c["method"], c["budget"]) for c in cells) == [
        ("base", "small_cnn", "5"), ("d0", "dcube", "5"), ("d0", "dcube", "all"), ("d1", "dcube", "5"),
        ("rerun", "small_cnn", "5")]
    assert next(c for c in cells if c["run"] == "d0" and c["budget"] == "5")["f1"] == 0.5  # the first file wins
    kept = pcc.load_cells([a, b], exclude=["rerun:small_cnn"])
    assert ("rerun", "small_cnn") not in {(c["run"], c["method"]) for c in kept} and len(kept) == 4
    only = pcc.load_cells([a, b], methods=["dcube"], budgets=["5"])
    assert sorted(c["run"] for c in only) == ["d0", "d1"]
    t = pcc.table_of(kept, all_x=200.0, order=["dcube", "small_cnn"])
    assert [(r["method"], r["budget"], r["n"]) for r in t] == [("dcube", "5", 2), ("dcube", "all", 1),
                                                                ("small_cnn", "5", 1)]
    assert t[0]["f1_mean"] == pytest.approx(0.6) and t[0]["f1_sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert t[1]["labels_per_class"] == 200.0


def test_exclude_by_budget_keeps_the_runs_other_budgets(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"cells": [_cell("d0", "dcube_feats", "50", 0, 0.6), _cell("d0", "dcube_feats", "all", 0, 0.7),
                                       _cell("d0", "cats", "all", 0, 0.8), _cell("pat", "dcube_feats", "all", 0, 0.75)]}))
    kept = pcc.load_cells([a], exclude=["d0:dcube_feats:all"])
    assert sorted((c["run"], c["method"], c["budget"]) for c in kept) == [
        ("d0", "cats", "all"), ("d0", "dcube_feats", "50"), ("pat", "dcube_feats", "all")]
    t = pcc.table_of(kept, all_x=200.0, order=["dcube_feats"])
    assert [(r["budget"], r["n"], r["f1_mean"]) for r in t] == [("50", 1, 0.6), ("all", 1, 0.75)]
    for bad in ["d0", "d0:", "d0:dcube:all:x", ":dcube"]:
        with pytest.raises(ValueError, match="RUN:METHOD"):
            pcc.load_cells([a], exclude=[bad])
