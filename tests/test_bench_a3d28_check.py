"""bench/a3d28_check.py: matching cells of two summaries by (method, budget, head seed, DDPM), on hand-made cells."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
chk = pytest.importorskip("a3d28_check")


def _c(method, run, seed=0, budget="5", f1=0.5, auc=0.7):
    return {"method": method, "run": run, "seed": seed, "budget": budget, "f1": f1, "bacc": f1, "auc": auc}


def test_cnn_cells_match_across_run_names_diffusion_cells_by_ddpm():
    new = [_c("small_cnn", "le-a3d-baselines-new0"), _c("cats", "le-a3d-s0-new"), _c("cats", "le-a3d-s1-new", auc=0.8)]
    old = [_c("small_cnn", "le-a3d-baselines-fp32"), _c("cats", "le-a3d-s0-old"), _c("cats", "le-a3d-s1-old", auc=0.75)]
    n, equal, worst, only_new, only_old = chk.compare(new, old)
    assert (n, equal, only_new, only_old) == (3, 2, [], [])
    assert worst == pytest.approx(0.05)


def test_missing_cells_are_reported_and_fail(tmp_path, capsys):
    import json
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"cells": [_c("cats", "le-a3d-s0-x"), _c("cats", "le-a3d-s0-x", seed=1)]}))
    b.write_text(json.dumps({"cells": [_c("cats", "le-a3d-s0-y")]}))
    assert chk.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "1 cells in both; 1 exactly equal" in out and "1 only in the first: [('cats', '5', 1, 's0')]" in out


def test_method_filter_partial_and_ref_cells(tmp_path, capsys):
    import json
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"cells": [_c("resnet18", "le-a3d-baselines-n0", f1=0.718),
                                       _c("resnet18", "le-a3d-baselines-n0", seed=1),
                                       _c("cats", "le-a3d-s0-x")]}))
    b.write_text(json.dumps({"ref": "resnet18", "ref_cells": [_c("resnet18", "le-a3d-baselines-o", f1=0.7)]}))
    assert chk.main(["--method", "resnet18", str(a), str(b)]) == 1   # seed 1 only in the first
    assert chk.main(["--method", "resnet18", "--partial", "--show", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "1 cells in both; 0 exactly equal" in out and "largest difference 0.018" in out
    assert "f1 0.7180 vs 0.7000" in out and "cats" not in out
    # a cell of the second missing from the first still fails with --partial
    assert chk.main(["--partial", str(b), str(a)]) == 1
