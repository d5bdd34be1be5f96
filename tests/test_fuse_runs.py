"""`medfx fuse`: late fusion across label-budget runs (medfx.workflows.fuse; forty-third session)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from medfx.cli import main
from medfx.utils.errors import DataError
from medfx.workflows.fuse import fuse_runs, parse_component

TEST = [f"test/{i:03d}" for i in range(40)]
Y_TEST = np.arange(40) % 2


def _run(root: Path, name: str, method: str, seeds, rng, val_ids=None, test_ids=None, budgets=("5",)) -> dict:
    """A fake label-budget run directory: one binary cell of ``method`` per (budget, seed), random probabilities on
    4 validation and 40 test rows; returns {(budget, seed): {(split, id): p_1}}."""
    run = root / name
    test_ids = test_ids or TEST
    subsets = {"rule": "validation: budget", "test_ids": test_ids,
               "seeds": {str(s): {b: {"train_ids": [f"train/{s}{b}{i}" for i in range(10)],
                                      "val_ids": val_ids or [f"val/{i}" for i in range(4)]} for b in budgets}
                         for s in seeds}}
    (run / "budgets").mkdir(parents=True, exist_ok=True)
    (run / "budgets" / "subsets.json").write_text(json.dumps(subsets))
    probs = {}
    for b in budgets:
        for s in seeds:
            cell = run / "budgets" / f"b{b}" / f"seed{s}" / method
            cell.mkdir(parents=True)
            rows = [(f"val/{i}", "val", i % 2) for i in range(4)] + [(t, "test", int(y)) for t, y in zip(test_ids, Y_TEST)]
            p1 = rng.uniform(size=len(rows))
            probs[(b, s)] = {(r[1], r[0]): p for r, p in zip(rows, p1)}
            with (cell / "predictions.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["sample_id", "split", "label", "label_name", "p_0", "p_1", "pred", "pred_name"])
                for (sid, split, y), p in zip(rows, p1):
                    w.writerow([sid, split, y, ["normal", "sick"][y], 1 - p, p, int(p >= 0.5), "x"])
            (cell / "metrics.json").write_text(json.dumps({"params": 10 + s, "auc": 0.5, "f1": 0.5}))
    return probs


def _read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_fuses_three_components_from_four_runs_and_scores_like_sklearn(tmp_path):
    rng = np.random.default_rng(0)
    pa = _run(tmp_path, "ddpm0", "linear_topk", [0, 1, 2], rng)
    pb = _run(tmp_path, "ddpm1", "linear_topk", [0, 1], rng)            # seed 2 missing: not fused
    pc = {**_run(tmp_path, "cnn_a", "small_cnn", [0], rng),           # the CNN cells come from two runs
          **_run(tmp_path, "cnn_b", "small_cnn", [1, 2], rng)}
    _run(tmp_path, "rn", "resnet18", [0, 1, 2], rng)
    comps = [parse_component(f"linear_topk@{tmp_path / 'ddpm0'}"), parse_component(f"linear_topk@{tmp_path / 'ddpm1'}"),
             parse_component(f"small_cnn@{tmp_path / 'cnn_a'},{tmp_path / 'cnn_b'}")]
    out = tmp_path / "ens"
    info = fuse_runs(comps, out, name="fuse_ens", keep=[parse_component(f"resnet18@{tmp_path / 'rn'}")])
    assert info["cells"] == 2 and info["skipped"] == [{"budget": "5", "seed": 2, "in": [str(comps[0]), str(comps[2])]}]
    assert info["weights"] == pytest.approx([1 / 3] * 3)
    for s in (0, 1):
        cell = out / "budgets" / "b5" / f"seed{s}"
        rows = _read(cell / "fuse_ens" / "predictions.csv")
        assert [r["sample_id"] for r in rows] == [f"val/{i}" for i in range(4)] + TEST
        want = np.array([(pa[("5", s)][k] + pb[("5", s)][k] + pc[("5", s)][k]) / 3
                         for k in ((r["split"], r["sample_id"]) for r in rows)])
        np.testing.assert_allclose([float(r["p_1"]) for r in rows], want, atol=1e-12)
        m = json.loads((cell / "fuse_ens" / "metrics.json").read_text())
        assert m["auc"] == pytest.approx(roc_auc_score(Y_TEST, want[4:]))
        assert m["f1"] == pytest.approx(f1_score(Y_TEST, (want[4:] > 0.5).astype(int), average="macro"))
        assert m["val"]["auc"] == pytest.approx(roc_auc_score(np.arange(4) % 2, want[:4]))
        assert m["params"] == 3 * (10 + s)
        assert (cell / "resnet18" / "predictions.csv").read_bytes() == (
            tmp_path / "rn" / "budgets" / "b5" / f"seed{s}" / "resnet18" / "predictions.csv").read_bytes()
    assert not (out / "budgets" / "b5" / "seed2").exists()
    unc = json.loads((out / "budgets" / "b5" / "uncertainty.json").read_text())
    assert "fuse_ens" in unc["paired"] and "auc" in unc["paired"]["fuse_ens"]  # against the kept ResNet-18
    table = json.loads((out / "learning_curves.json").read_text())["table"]
    assert {(r["method"], r["seeds"]) for r in table} == {("fuse_ens", 2), ("resnet18", 2)}
    assert (out / "learning_curves.png").is_file() and (out / "results.csv").is_file()
    assert json.loads((out / "fuse.json").read_text())["components"] == [str(c) for c in comps]


def test_refuses_runs_with_other_draws_or_data(tmp_path):
    rng = np.random.default_rng(1)
    _run(tmp_path, "a", "linear_topk", [0], rng)
    _run(tmp_path, "b", "small_cnn", [0], rng, val_ids=["val/0", "val/1", "val/2", "val/9"])
    _run(tmp_path, "c", "small_cnn", [0], rng, test_ids=[t.replace("test", "tst") for t in TEST])
    a = parse_component(f"linear_topk@{tmp_path / 'a'}")
    with pytest.raises(DataError, match=r"b: budget 5 head seed 0 drew other training or validation images"):
        fuse_runs([a, parse_component(f"small_cnn@{tmp_path / 'b'}")], tmp_path / "o")
    with pytest.raises(DataError, match=r"c: its test split differs"):
        fuse_runs([a, parse_component(f"small_cnn@{tmp_path / 'c'}")], tmp_path / "o")
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o*"))  # nothing half-written


def test_refuses_ambiguous_or_missing_cells_and_foreign_output_folders(tmp_path):
    rng = np.random.default_rng(2)
    _run(tmp_path, "a", "linear_topk", [0], rng)
    _run(tmp_path, "b", "small_cnn", [0], rng)
    _run(tmp_path, "b2", "small_cnn", [0], rng)
    a, b = parse_component(f"linear_topk@{tmp_path / 'a'}"), parse_component(f"small_cnn@{tmp_path / 'b'}")
    with pytest.raises(DataError, match=r"seed 0 is in both \S*/b and \S*/b2:"):
        fuse_runs([a, parse_component(f"small_cnn@{tmp_path / 'b'},{tmp_path / 'b2'}")], tmp_path / "o")
    with pytest.raises(DataError, match=r"no cell of method 'resnet18' .*methods there: small_cnn"):
        fuse_runs([a, parse_component(f"resnet18@{tmp_path / 'b'}")], tmp_path / "o")
    with pytest.raises(DataError, match="not a label-budget run"):
        fuse_runs([a, parse_component(f"small_cnn@{tmp_path}")], tmp_path / "o")
    with pytest.raises(ValueError, match="at least two"):
        fuse_runs([a], tmp_path / "o")
    with pytest.raises(ValueError, match="expected METHOD@RUN_DIR"):
        parse_component("small_cnn")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a `medfx fuse` output"):
        fuse_runs([a, b], tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    fuse_runs([a, b], tmp_path / "o")
    first = (tmp_path / "o" / "budgets" / "b5" / "seed0" / "fused" / "predictions.csv").read_bytes()
    fuse_runs([a, b], tmp_path / "o", name="again")  # an earlier fuse output is replaced as a whole
    assert not (tmp_path / "o" / "budgets" / "b5" / "seed0" / "fused").exists()
    assert (tmp_path / "o" / "budgets" / "b5" / "seed0" / "again" / "predictions.csv").read_bytes() == first


def test_cli_fuse_and_its_one_line_error(tmp_path, capsys):
    rng = np.random.default_rng(3)
    _run(tmp_path, "a", "linear_topk", [0, 1], rng)
    _run(tmp_path, "b", "small_cnn", [0, 1], rng)
    assert main(["fuse", f"linear_topk@{tmp_path / 'a'}", f"small_cnn@{tmp_path / 'b'}",
                 "--out", str(tmp_path / "o"), "--name", "fz"]) == 0
    assert "2 fused cells" in capsys.readouterr().out
    assert main(["fuse", f"linear_topk@{tmp_path / 'a'}", f"small_cnn@{tmp_path / 'b'}",
                 "--out", str(tmp_path / "o1"), "--seeds", "1"]) == 0
    assert "1 fused cells" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "o1" / "budgets" / "b5").glob("seed*")] == ["seed1"]
    rc = main(["fuse", f"linear_topk@{tmp_path / 'a'}", f"resnet18@{tmp_path / 'b'}", "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "no cell of method 'resnet18'" in err[0]


def test_cli_seeds_before_the_components_is_a_one_line_error_that_says_where_they_go(tmp_path, capsys):
    rng = np.random.default_rng(3)
    _run(tmp_path, "a", "linear_topk", [0, 1], rng)
    _run(tmp_path, "b", "small_cnn", [0, 1], rng)
    with pytest.raises(SystemExit) as e:  # argparse's --seeds takes every word after it
        main(["fuse", "--out", str(tmp_path / "o"), "--seeds", "1",
              f"linear_topk@{tmp_path / 'a'}", f"small_cnn@{tmp_path / 'b'}"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert e.value.code == 2 and "is not a head seed" in err and "after the METHOD@RUN list" in err
    assert not (tmp_path / "o").exists()


def test_a_failure_while_writing_leaves_the_earlier_output_and_no_temporary_folder(tmp_path):
    rng = np.random.default_rng(4)
    _run(tmp_path, "a", "linear_topk", [0], rng)
    _run(tmp_path, "b", "small_cnn", [0], rng)
    a, b = parse_component(f"linear_topk@{tmp_path / 'a'}"), parse_component(f"small_cnn@{tmp_path / 'b'}")
    fuse_runs([a, b], tmp_path / "o")
    before = (tmp_path / "o" / "fuse.json").read_text()
    pred = tmp_path / "b" / "budgets" / "b5" / "seed0" / "small_cnn" / "predictions.csv"
    lines = pred.read_text().splitlines()
    pred.write_text("\n".join([lines[0], *lines[1:][::-1]]) + "\n")  # the same rows in another order
    with pytest.raises(DataError, match="small_cnn/predictions.csv: its val rows are not the fused cells'"):
        fuse_runs([a, b], tmp_path / "o")
    assert (tmp_path / "o" / "fuse.json").read_text() == before and not (tmp_path / ".o.tmp").exists()


def test_the_output_has_a_report_with_the_curves_and_the_paired_table(tmp_path):
    rng = np.random.default_rng(5)
    _run(tmp_path, "a", "linear_topk", [0, 1], rng)
    _run(tmp_path, "b", "small_cnn", [0, 1], rng)
    _run(tmp_path, "rn", "resnet18", [0, 1], rng)
    fuse_runs([parse_component(f"linear_topk@{tmp_path / 'a'}"), parse_component(f"small_cnn@{tmp_path / 'b'}")],
              tmp_path / "ens", name="fz", keep=[parse_component(f"resnet18@{tmp_path / 'rn'}")])
    html = (tmp_path / "ens" / "report.html").read_text()
    assert "<title>medfx report: ens</title>" in html and "learning curves: mean ± sd over seeds" in html
    assert "Paired differences against ResNet-18" in html
    res = json.loads((tmp_path / "ens" / "results.json").read_text())
    assert res["label_budgets"]["budgets"] == ["5"] and res["label_budgets"]["test_n"] == 40
    assert set(res["methods"]) == {"fz", "resnet18"} and res["methods"]["fz"]["summary"]["n_seeds"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "ens", "rn"]  # no temporary folder left
