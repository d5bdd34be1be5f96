"""bench/fuse_cells.py: late fusion of two label-budget methods' cells (forty-first session)."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
fc = pytest.importorskip("fuse_cells")

TEST = [f"test/{i:03d}" for i in range(40)]


def _run(root: Path, name: str, method: str, seeds, rng, val_ids=None) -> tuple[Path, dict]:
    """A fake run directory with one binary cell per (budget 5, seed): random probabilities on 4 val + 40 test rows."""
    run = root / name
    y_test = np.arange(40) % 2
    subsets = {"rule": "budget", "test_ids": TEST,
               "seeds": {str(s): {"5": {"train_ids": [f"train/{s}{i}" for i in range(10)],
                                        "val_ids": val_ids or [f"val/{i}" for i in range(4)]}} for s in seeds}}
    (run / "budgets").mkdir(parents=True)
    (run / "budgets" / "subsets.json").write_text(json.dumps(subsets))
    probs = {}
    for s in seeds:
        cell = run / "budgets" / "b5" / f"seed{s}" / method
        cell.mkdir(parents=True)
        rows = [(f"val/{i}", "val", i % 2) for i in range(4)] + [(t, "test", int(y)) for t, y in zip(TEST, y_test)]
        p1 = rng.uniform(size=len(rows))
        probs[s] = dict(zip([(r[1], r[0]) for r in rows], p1))
        with (cell / "predictions.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sample_id", "split", "label", "label_name", "p_0", "p_1", "pred", "pred_name"])
            for (sid, split, y), p in zip(rows, p1):
                w.writerow([sid, split, y, ["normal", "sick"][y], 1 - p, p, int(p >= 0.5), "x"])
        (cell / "metrics.json").write_text("{}")
    return run, probs


def test_fused_cells_average_the_two_methods_and_score_like_sklearn(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    a, pa = _run(tmp_path, "ddpm", "linear_topk", [0, 1], rng)
    b, pb = _run(tmp_path, "cnn", "small_cnn", [1, 0, 2], rng)   # seed 2 has no A cell: not fused
    out = tmp_path / "fused"
    monkeypatch.setattr(sys, "argv", ["fuse_cells.py", "--a-run", str(a), "--a-method", "linear_topk",
                                      "--b-runs", str(b), "--b-method", "small_cnn", "--name", "fz", "--out", str(out)])
    fc.main()
    assert "2 fused cells" in capsys.readouterr().out
    assert json.loads((out / "budgets" / "subsets.json").read_text()) == json.loads(
        (a / "budgets" / "subsets.json").read_text())
    y = np.arange(40) % 2
    for s in (0, 1):
        cell = out / "budgets" / "b5" / f"seed{s}" / "fz"
        with (cell / "predictions.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert [r["sample_id"] for r in rows] == [f"val/{i}" for i in range(4)] + TEST
        want = np.array([(pa[s][(r["split"], r["sample_id"])] + pb[s][(r["split"], r["sample_id"])]) / 2 for r in rows])
        np.testing.assert_allclose([float(r["p_1"]) for r in rows], want, rtol=0, atol=1e-12)
        np.testing.assert_allclose([float(r["p_0"]) for r in rows], 1 - want, atol=1e-12)
        assert [int(r["pred"]) for r in rows] == [int(p > 0.5) for p in want]
        m = json.loads((cell / "metrics.json").read_text())
        wt = want[4:]
        assert m["auc"] == pytest.approx(roc_auc_score(y, wt))
        assert m["f1"] == pytest.approx(f1_score(y, (wt > 0.5).astype(int), average="macro"))
        assert m["weights"] == [0.5, 0.5] and [c.split("@")[0] for c in m["components"]] == ["linear_topk", "small_cnn"]
    assert not (out / "budgets" / "b5" / "seed2").exists()


def test_cells_trained_on_other_subsets_are_refused(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    a, _ = _run(tmp_path, "ddpm", "linear_topk", [0], rng)
    b, _ = _run(tmp_path, "cnn", "small_cnn", [0], rng, val_ids=[f"val/{i}" for i in (0, 1, 2, 9)])
    monkeypatch.setattr(sys, "argv", ["fuse_cells.py", "--a-run", str(a), "--a-method", "linear_topk",
                                      "--b-runs", str(b), "--b-method", "small_cnn", "--name", "fz",
                                      "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="budget 5 head seed 0 drew other training or validation images"):
        fc.main()


def test_three_components_weigh_a_third_each(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(2)
    a, pa = _run(tmp_path, "ddpm", "linear_topk", [0, 1], rng)
    b, pb = _run(tmp_path, "cnn", "small_cnn", [0, 1], rng)
    c, pc = _run(tmp_path, "rn", "resnet18", [0], rng)   # seed 1 has no ResNet-18 cell: not fused
    out = tmp_path / "fused3"
    monkeypatch.setattr(sys, "argv", ["fuse_cells.py", "--a-run", str(a), "--a-method", "linear_topk",
                                      "--b-runs", str(b), "--b-method", "small_cnn", "--c-runs", str(c),
                                      "--c-method", "resnet18", "--name", "f3", "--out", str(out)])
    fc.main()
    assert "skipped: budget 5 seed 1 is not in every component" in capsys.readouterr().out
    cell = out / "budgets" / "b5" / "seed0" / "f3"
    with (cell / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    want = np.array([sum(p[0][(r["split"], r["sample_id"])] for p in (pa, pb, pc)) / 3 for r in rows])
    np.testing.assert_allclose([float(r["p_1"]) for r in rows], want, rtol=0, atol=1e-12)
    m = json.loads((cell / "metrics.json").read_text())
    assert m["auc"] == pytest.approx(roc_auc_score(np.arange(40) % 2, want[4:]))
    assert m["weights"] == pytest.approx([1 / 3] * 3)
    assert [x.split("@")[0] for x in m["components"]] == ["linear_topk", "small_cnn", "resnet18"]
    assert not (out / "budgets" / "b5" / "seed1").exists()
    monkeypatch.setattr(sys, "argv", ["fuse_cells.py", "--a-run", str(a), "--a-method", "linear_topk", "--b-runs",
                                      str(b), "--b-method", "small_cnn", "--c-runs", str(c), "--name", "x", "--out",
                                      str(tmp_path / "o")])
    with pytest.raises(SystemExit):
        fc.main()


def test_a_cell_in_two_component_runs_is_refused(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    a, _ = _run(tmp_path, "ddpm", "linear_topk", [0], rng)
    b1, _ = _run(tmp_path, "cnn1", "small_cnn", [0], rng)
    b2, _ = _run(tmp_path, "cnn2", "small_cnn", [0], rng)
    monkeypatch.setattr(sys, "argv", ["fuse_cells.py", "--a-run", str(a), "--a-method", "linear_topk", "--b-runs",
                                      str(b1), str(b2), "--b-method", "small_cnn", "--name", "x", "--out",
                                      str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="small_cnn budget 5 seed 0 is in both"):
        fc.main()


def test_fuse_lib_passes_two_and_three_components(tmp_path):
    """bench/fuse_lib.sh's ``fuse`` (the summaries' helper): the component runs go as one space-separated string each,
    the third component is optional; the pseudo runs it writes are fuse_cells.py's."""
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    rng = np.random.default_rng(4)
    a, _ = _run(tmp_path, "ddpm", "linear_topk", [0, 1], rng)
    b1, _ = _run(tmp_path, "cnn1", "small_cnn", [0], rng)
    b2, _ = _run(tmp_path, "cnn2", "small_cnn", [1], rng)
    c, _ = _run(tmp_path, "rn", "resnet18", [0, 1], rng)
    bench = Path(__file__).resolve().parents[1] / "bench"
    script = (f'source fuse_lib.sh; fuse {tmp_path}/two {a} linear_topk f2 small_cnn "{b1} {b2}"; '
              f'fuse {tmp_path}/three {a} linear_topk f3 small_cnn "{b1} {b2}" resnet18 "{c}"')
    env = {**os.environ, "PY": f"{sys.executable} -P",
           "PYTHONPATH": f"{bench.parent}:{bench}"}
    r = subprocess.run(["bash", "-c", script], cwd=bench, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name, k in (("two", 2), ("three", 3)):
        for s in (0, 1):
            m = json.loads((tmp_path / name / "budgets" / "b5" / f"seed{s}" / f"f{k}" / "metrics.json").read_text())
            assert len(m["components"]) == k and m["weights"] == pytest.approx([1 / k] * k)


def test_same_cells_reports_the_largest_probability_difference(tmp_path):
    sc = pytest.importorskip("same_cells")
    a, _ = _run(tmp_path, "a", "fused", [0, 1], np.random.default_rng(5))
    b, _ = _run(tmp_path, "b", "f3", [0, 1, 2], np.random.default_rng(5))   # the same draws: identical cells
    assert sc.max_difference(a, "fused", b, "f3") == (2, 0.0)
    c, _ = _run(tmp_path, "c", "f3", [0], np.random.default_rng(6))
    n, worst = sc.max_difference(a, "fused", c, "f3")
    assert n == 1 and 0 < worst <= 1
    with pytest.raises(SystemExit, match="no \\(budget, seed\\)"):
        sc.max_difference(a, "fused", c, "other")
