"""Honest labels for cross-validation: CV numbers are named as such and never sit in a test-score table;
``heads.cv_folds`` evaluates heads and baselines by k-fold CV with every choice inside the training folds."""

import json

import numpy as np
import pytest
from conftest import TINY_UNET, make_npz
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from medfx.cli import main
from medfx.config import load_config
from medfx.features.bank import FeatureBank
from medfx.workflows.pipeline import _fold_splits, _summarize_folds, run_pipeline

BASE = ["train.steps=2", "train.batch_size=4", "features.timesteps=[0,20]", "features.blocks=[mid,up.0]",
        "gaussianity.top_k=1", "heads.epochs=1", "heads.baseline_epochs=1", "heads.batch_size=8",
        "heads.patience=0", "heads.cats_width=16", "heads.cats_inputs=1", "heads.grid=2", "heads.seeds=[0]"]


def cfg_for(data, out, name, *extra):
    return load_config(None, [f"data.path={data}", f"run.out_dir={out}", f"run.name={name}", *TINY_UNET, *BASE,
                              *extra])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cvl")
    return make_npz(tmp / "toy.npz", n=(36, 12, 12)), tmp


@pytest.fixture(scope="module")
def cv_probe_run(data):
    npz, tmp = data
    return run_pipeline(cfg_for(npz, tmp, "cvp", "probe.mode=cv", "probe.folds=3",
                                "heads.methods=['linear_best']"), progress=False)


def test_pipeline_cv_linear_best_is_a_real_test_score(cv_probe_run):
    res = json.loads((cv_probe_run / "results.json").read_text())
    lb = res["methods"]["linear_best"]
    assert lb["score_on"] == "test" and "chosen by 3-fold CV on train+val" in lb["note"]
    assert "C chosen on validation" not in lb["note"]
    cv = res["cv_scores"]["linear_best"]
    assert cv["score_on"] == "3-fold CV on train+val" and "optimistic" in cv["note"]
    # independent reference: StandardScaler + L2 logistic regression with the chosen C, fit on train+val,
    # AUC on the test split
    grid = json.loads((cv_probe_run / "probe" / "probe_grid.json").read_text())
    b, t = lb["input"]
    row = next(r for r in grid["table"] if r["block"] == b and r["t"] == t)
    assert row["score_on"] == "3-fold CV on train+val"
    assert cv["summary"]["auc"][0] == pytest.approx(row["auc_mean"])
    bank = FeatureBank(cv_probe_run / "features")
    X, y, s = np.asarray(bank[(b, t)]), bank.labels, bank.split
    pool, te = (s == "train") | (s == "val"), s == "test"
    sc = StandardScaler().fit(X[pool])
    lr = LogisticRegression(C=row["C"], max_iter=2000).fit(sc.transform(X[pool]), y[pool])
    ref = roc_auc_score(y[te], lr.predict_proba(sc.transform(X[te]))[:, 1])
    assert lb["summary"]["auc"][0] == pytest.approx(ref, abs=1e-6)
    html = (cv_probe_run / "report.html").read_text()
    assert 'id="cv"' in html and "3-fold CV on train+val" in html and "probe auc (3-fold CV on train+val)" in html


def test_cli_probe_and_gaussianity_name_cv_numbers(capsys, cv_probe_run):
    ckpt = cv_probe_run / "ddpm" / "last.pt"
    bank = cv_probe_run / "features"
    extra = ["probe.mode=cv", "probe.folds=3", "features.timesteps=[0,20]", "features.blocks=[mid,up.0]",
             "gaussianity.top_k=1"]
    assert main(["probe", *extra, "--ckpt", str(ckpt), "--bank", str(bank), "--out", str(cv_probe_run / "p2")]) == 0
    out = capsys.readouterr().out
    assert "best (block, t) by 3-fold CV on train+val" in out and "test" not in out.split("tables and")[0]
    assert main(["gaussianity", *extra, "--ckpt", str(ckpt), "--bank", str(bank),
                 "--out", str(cv_probe_run / "g2")]) == 0
    out = capsys.readouterr().out
    assert "selected_probe (3-fold CV on train+val)" in out and "(test)" not in out
    sel = json.loads((cv_probe_run / "g2" / "selection.json").read_text())  # KS evidence controlled for t
    assert [r["t"] for r in sel["by_t"]] == [0, 20]
    for r in sel["by_t"]:
        assert {t for _, t in r["selected"] + r["rejected"]} == {r["t"]}
        if r["usable"]:
            assert r["selected_probe"]["score_on"] == "3-fold CV on train+val"
            assert f"t={r['t']}: selected" in out
    assert [r["block"] for r in sel["block_map"]] == ["mid", "up.0"]
    assert (cv_probe_run / "g2" / "ks_by_block.png").is_file()
    best = json.loads((cv_probe_run / "p2" / "best.json").read_text())
    assert best["score_on"] == "3-fold CV on train+val" and "val" not in best["chosen_by"].split()[0]


def test_holdout_labels_stay_test(capsys, cv_probe_run):
    ckpt = cv_probe_run / "ddpm" / "last.pt"
    extra = ["features.timesteps=[0,20]", "features.blocks=[mid,up.0]"]
    assert main(["probe", *extra, "--ckpt", str(ckpt), "--bank", str(cv_probe_run / "features"),
                 "--out", str(cv_probe_run / "p3")]) == 0
    assert "best (block, t) on validation" in capsys.readouterr().out
    assert json.loads((cv_probe_run / "p3" / "best.json").read_text())["score_on"] == "test"


def test_fold_splits_choices_stay_inside_training_folds():
    y = np.arange(60) % 2
    s = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    folds = _fold_splits(y, s, 5, 0.2, seed=0)
    held = np.concatenate([rows[names == "test"] for rows, names in folds])
    assert sorted(held.tolist()) == list(range(50))  # the held-out folds partition train+val exactly once
    for rows, names in folds:
        tr, va, te = (set(rows[names == n].tolist()) for n in ("train", "val", "test"))
        assert not (tr & va) and not (tr & te) and not (va & te) and max(tr | va | te) < 50  # no test split row
        assert len(va) == pytest.approx(0.2 * (len(tr) + len(va)), abs=1)
        assert set(y[list(va)]) == {0, 1}  # stratified inner validation


def test_summarize_folds_propagates_nan():
    s = _summarize_folds([{"auc": 0.8, "acc": 0.7}, {"auc": float("nan"), "acc": 0.9}])
    assert np.isnan(s["auc"][0]) and s["acc"][0] == pytest.approx(0.8)
    assert s["acc"][1] == pytest.approx(np.std([0.7, 0.9], ddof=1))


@pytest.mark.slow
def test_heads_cv_folds_reports_cv_only(data):
    npz, tmp = data
    run = run_pipeline(cfg_for(npz, tmp, "cvh", "heads.cv_folds=3",
                               "heads.methods=['linear_best','cats','small_cnn']"), progress=False)
    res = json.loads((run / "results.json").read_text())
    assert not res.get("methods")  # nothing in the test table
    cv = res["cv"]
    assert cv["score_on"] == "3-fold CV on train+val" and cv["folds"] == 3
    for m in ("linear_best", "cats", "small_cnn"):
        e = cv["methods"][m]
        assert len(e["folds"]) == 3 and len(e["inputs"]) == 3 and e["score_on"] == cv["score_on"]
        aucs = [f["auc"] for f in e["folds"]]
        assert e["summary"]["auc"][0] == pytest.approx(np.mean(aucs))
        assert e["summary"]["auc"][1] == pytest.approx(np.std(aucs, ddof=1))
    n_pool = int(np.sum(np.isin(FeatureBank(run / "features").split, ["train", "val"])))
    assert sum(f["n_eval"] for f in cv["methods"]["small_cnn"]["folds"]) == n_pool
    html = (run / "report.html").read_text()
    assert 'id="cv"' in html and "(no test-split results)" in html


def test_cv_folds_config_checks():
    with pytest.raises(ValueError, match="cv_folds must be 0"):
        load_config(None, ["heads.cv_folds=1"])
    with pytest.raises(ValueError, match="cannot be combined"):
        load_config(None, ["heads.cv_folds=3", "heads.synthetic_balance=1.0"])
