"""``medfx compare`` (medfx/workflows/compare.py): the paired difference of two methods across label-budget runs,
checked against scikit-learn on fake run directories."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from medfx.cli import main
from medfx.utils.errors import DataError
from medfx.workflows.compare import compare_runs
from medfx.workflows.fuse import parse_component

TEST = [f"test/{i:03d}" for i in range(60)]
Y = (np.arange(60) % 3 == 0).astype(int)  # 20 positives, 40 negatives


def _run(root: Path, name: str, method: str, seeds, rng, budgets=("5", "10"), shift=0.0, test_ids=None) -> dict:
    """A fake label-budget run: one binary cell of ``method`` per (budget, seed) with random test probabilities
    (``shift`` moves them towards the true class); returns {(budget, seed): p_1 on the test rows}."""
    run = root / name
    ids = test_ids or TEST
    sub = {"rule": "validation: budget", "test_ids": ids,
           "seeds": {str(s): {b: {"train_ids": [f"train/{s}-{b}-{i}" for i in range(int(b))],
                                  "val_ids": [f"val/{s}-{i}" for i in range(4)]} for b in budgets} for s in seeds}}
    (run / "budgets").mkdir(parents=True, exist_ok=True)
    (run / "budgets" / "subsets.json").write_text(json.dumps(sub))
    out = {}
    for b in budgets:
        for s in seeds:
            cell = run / "budgets" / f"b{b}" / f"seed{s}" / method
            cell.mkdir(parents=True)
            p = np.clip(rng.uniform(size=len(ids)) + shift * (2 * Y - 1), 0.01, 0.99)
            out[(b, s)] = p
            with (cell / "predictions.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["sample_id", "split", "label", "label_name", "p_0", "p_1", "pred", "pred_name"])
                w.writerow(["val/x", "val", 0, "no", 0.5, 0.5, 0, "no"])
                for sid, y, q in zip(ids, Y, p):
                    w.writerow([sid, "test", int(y), ["no", "yes"][y], 1 - q, q, int(q > 0.5), "x"])
    return out


def _metric(name, p):
    pred = (p > 0.5).astype(int)
    return {"f1": lambda: f1_score(Y, pred, average="macro"), "auc": lambda: roc_auc_score(Y, p),
            "bacc": lambda: balanced_accuracy_score(Y, pred)}[name]()


def test_difference_of_cell_averaged_metrics_pooled_over_runs_matches_sklearn(tmp_path):
    rng = np.random.default_rng(0)
    a0 = _run(tmp_path, "ddpm0", "probe", [0, 1, 2], rng, shift=0.25)   # seed 2: not in B, left out
    a1 = _run(tmp_path, "ddpm1", "probe", [0, 1], rng, shift=0.25)
    b = _run(tmp_path, "cnn", "resnet18", [0, 1], rng)
    rows = compare_runs(parse_component(f"probe@{tmp_path / 'ddpm0'},{tmp_path / 'ddpm1'}"),
                        parse_component(f"resnet18@{tmp_path / 'cnn'}"))
    assert [r["budget"] for r in rows] == ["5", "10"]
    for r in rows:
        k = r["budget"]
        assert (r["cells_a"], r["cells_b"], r["seeds"], r["n_test"]) == (4, 2, [0, 1], 60)
        for m in ("f1", "auc", "bacc"):
            want = (np.mean([_metric(m, a[(k, s)]) for a in (a0, a1) for s in (0, 1)])
                    - np.mean([_metric(m, b[(k, s)]) for s in (0, 1)]))
            got = r["metrics"][m]
            assert got["diff"] == pytest.approx(want, abs=1e-12)
            assert got["low"] <= got["diff"] <= got["high"] and got["high"] - got["low"] > 0.01
    # the shifted probes are better than the random CNN: the AUC interval lies above zero
    assert all(r["metrics"]["auc"]["low"] > 0 for r in rows)


def test_the_same_cells_in_another_run_differ_by_exactly_zero_and_seeds_budgets_narrow(tmp_path):
    rng = np.random.default_rng(1)
    _run(tmp_path, "a", "probe", [0, 1, 2], rng)
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    rows = compare_runs(parse_component(f"probe@{tmp_path / 'a'}"), parse_component(f"probe@{tmp_path / 'copy'}"),
                        budgets=["10"], seeds=[1, 2], metrics=("auc",))
    assert len(rows) == 1 and rows[0]["budget"] == "10" and rows[0]["seeds"] == [1, 2]
    assert rows[0]["metrics"] == {"auc": {"diff": 0.0, "low": 0.0, "high": 0.0, "p": pytest.approx(1.0)}}


def test_refusals(tmp_path):
    rng = np.random.default_rng(2)
    _run(tmp_path, "a", "probe", [0, 1], rng)
    _run(tmp_path, "b", "resnet18", [0, 1], rng, budgets=("5",))
    _run(tmp_path, "c", "resnet18", [3], rng)
    _run(tmp_path, "other", "resnet18", [0], rng, test_ids=[f"test/x{i}" for i in range(60)])
    a = parse_component(f"probe@{tmp_path / 'a'}")
    with pytest.raises(DataError, match="budget.s. 10: not in both"):
        compare_runs(a, parse_component(f"resnet18@{tmp_path / 'b'}"), budgets=["5", "10"])
    with pytest.raises(DataError, match="no head seed in common"):
        compare_runs(a, parse_component(f"resnet18@{tmp_path / 'c'}"))
    with pytest.raises(DataError, match="test split differs"):
        compare_runs(a, parse_component(f"resnet18@{tmp_path / 'other'}"))
    with pytest.raises(DataError, match="no cell of method 'small_cnn'"):
        compare_runs(a, parse_component(f"small_cnn@{tmp_path / 'b'}"))
    with pytest.raises(ValueError, match="nothing to compare"):
        compare_runs(a, a)


def test_cli_prints_one_line_per_budget_writes_json_and_errors_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(3)
    _run(tmp_path, "a", "probe", [0, 1], rng)
    _run(tmp_path, "b", "resnet18", [0, 1], rng)
    out = tmp_path / "cmp" / "probe_vs_rn.json"
    assert main(["compare", f"probe@{tmp_path / 'a'}", "--against", f"resnet18@{tmp_path / 'b'}",
                 "--n-boot", "200", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["budget 5", "budget 10"]
    assert "(2 cells)" in lines[0] and "head seeds 0-1, 60 test images" in lines[0] and "AUC " in lines[0]
    saved = json.loads(out.read_text())
    assert [r["n_boot"] for r in saved] == [200, 200] and not list(out.parent.glob(".*tmp*"))
    rc = main(["compare", f"probe@{tmp_path / 'a'}", "--against", f"small_cnn@{tmp_path / 'b'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no cell of method 'small_cnn'" in err[0]
