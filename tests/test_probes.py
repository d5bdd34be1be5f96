"""Tests for medfx.probes: LinearProbe, probe_grid, concat_probe and heatmaps."""

from __future__ import annotations

import csv
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from medfx.probes import (
    LinearProbe,
    ProbeGridResult,
    concat_probe,
    plot_all_heatmaps,
    plot_heatmap,
    probe_grid,
)

SMALL_CS = (0.01, 0.1, 1.0, 10.0)


def blobs(n: int, k: int, d: int = 6, sep: float = 6.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k well-separated Gaussian blobs (linearly separable with overwhelming probability)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centers = rng.normal(size=(k, d))
    centers *= sep / np.linalg.norm(centers[:, None] - centers[None], axis=-1).max()
    centers[:, 0] = sep * np.arange(k)  # guarantee separation along dim 0
    return centers[y] + rng.normal(size=(n, d)), y


def toy_grid(n: int = 90, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    """Features for 2 blocks x 3 timesteps; signal strength depends on (block, t)."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) // 4) % 2  # both classes in every split
    split = np.array(["train", "train", "val", "test"] * (n // 4 + 1))[:n]
    strength = {
        ("mid", 10): 3.0,
        ("mid", 100): 1.0,
        ("mid", 50): 2.0,
        ("enc.0", 10): 0.5,
        ("enc.0", 100): 0.0,
        ("enc.0", 50): 0.2,
    }
    feats = {}
    for key, s in strength.items():  # insertion order: mid first, timesteps unsorted
        X = rng.normal(size=(n, 4))
        X[:, 0] += s * (y - 0.5)
        feats[key] = X
    return feats, y, split


# ---------------------------------------------------------------------------- LinearProbe


# all checks pass; a short C grid keeps the automatic-C instance fast
@parametrize_with_checks([LinearProbe(Cs=(0.1, 1.0), cv=2), LinearProbe(C=1.0, standardize=False)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("k", [2, 3])
def test_probe_separable(k):
    X, y = blobs(150, k)
    probe = LinearProbe(Cs=SMALL_CS).fit(X[:90], y[:90])
    assert probe.score(X[90:], y[90:]) > 0.95
    assert probe.predict_proba(X[90:]).shape == (60, k)
    assert np.allclose(probe.predict_proba(X[90:]).sum(1), 1.0)
    assert probe.C_ in SMALL_CS
    assert probe.val_scores_.shape == (len(SMALL_CS),) and np.all(np.isfinite(probe.val_scores_))
    expected_df_shape = (60,) if k == 2 else (60, k)
    assert probe.decision_function(X[90:]).shape == expected_df_shape


def test_probe_shuffled_labels_chance():
    # 200 test samples, balanced: under no signal the AUC has sd ~ sqrt(201 / (12 * 100 * 100)) ~ 0.04, so
    # [0.35, 0.65] is a +-3.7 sd band and |acc - 0.5| < 0.12 is ~3.4 sd (binomial sd 0.035).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 5))
    y = rng.permutation(np.arange(400) % 2)
    probe = LinearProbe(Cs=SMALL_CS).fit(X[:200], y[:200])
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(y[200:], probe.predict_proba(X[200:])[:, 1])
    assert 0.35 <= auc <= 0.65
    assert abs(probe.score(X[200:], y[200:]) - 0.5) < 0.12


def test_probe_uses_val_for_C_and_fixed_C():
    X, y = blobs(120, 2, sep=1.5)
    probe = LinearProbe(Cs=SMALL_CS).fit(X[:60], y[:60], X[60:], y[60:])
    assert probe.C_ in SMALL_CS and probe.val_scores_.shape == (len(SMALL_CS),)
    # the chosen C minimises the validation log-loss
    assert probe.val_scores_[list(probe.Cs_).index(probe.C_)] == pytest.approx(
        probe.val_scores_.min(), rel=1e-5
    )
    fixed = LinearProbe(C=0.5).fit(X[:60], y[:60], X[60:], y[60:])
    assert fixed.C_ == 0.5 and fixed.val_scores_.shape == (1,) and np.isfinite(fixed.val_scores_[0])


def test_probe_ties_go_to_strongest_regularisation():
    Cs = np.array([0.01, 0.1, 1.0, 10.0])
    assert LinearProbe._pick(Cs, np.array([0.9, 0.3, 0.3, 0.3])) == 0.1
    assert LinearProbe._pick(Cs, np.array([0.9, 0.3, 0.2, 0.3])) == 1.0
    # all-identical features -> every C gives the same loss -> the smallest C
    X = np.ones((40, 3))
    y = np.arange(40) % 2
    assert LinearProbe(Cs=SMALL_CS).fit(X, y).C_ == min(SMALL_CS)


def test_probe_errors():
    X, y = blobs(40, 2)
    with pytest.raises(ValueError, match="C must be"):
        LinearProbe(C="big").fit(X, y)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        LinearProbe().fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="features"):
        LinearProbe().fit(X, y, X[:, :2], y)
    with pytest.raises(ValueError, match="absent from y"):
        LinearProbe().fit(X, y, X, y + 5)
    with pytest.raises(ValueError, match="1 class"):
        LinearProbe().fit(X, np.zeros(40, int))


# ---------------------------------------------------------------------------- probe_grid


def test_probe_grid_shapes_and_outputs(tmp_path):
    feats, y, split = toy_grid()
    res = probe_grid(feats, y, split, Cs=SMALL_CS, name="toy", progress=False)
    assert res.blocks == ["mid", "enc.0"]
    assert res.timesteps == [10, 50, 100]
    assert len(res.table) == 6
    for metric in ("acc", "auc", "bacc", "f1"):
        for s in ("test", "val"):
            m = res.matrix(metric, split=s)
            assert m.shape == (2, 3) and np.all(np.isfinite(m))
    row = res.row("mid", 10)
    assert row["C"] in SMALL_CS and row["dims"] == 4 and row["n_eval"] == int((split == "test").sum())
    assert np.isnan(row["acc_sd"])  # holdout: a single split has no sd
    assert res.best() == ("mid", 10)  # strongest signal wins on validation
    assert res.matrix("auc")[0, 0] > 0.9 > res.matrix("auc")[1, 2]

    csv_path = res.to_csv(tmp_path / "grid.csv")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 6 and {"block", "t", "C", "auc_mean", "auc_sd", "val_auc"} <= set(rows[0])
    assert float(rows[0]["auc_mean"]) == pytest.approx(res.table[0]["auc_mean"])
    json_path = res.to_json(tmp_path / "grid.json")
    assert json.loads(json_path.read_text())["mode"] == "holdout"
    back = ProbeGridResult.from_json(json_path)
    assert back.blocks == res.blocks and back.timesteps == res.timesteps
    np.testing.assert_allclose(back.matrix("auc"), res.matrix("auc"))
    assert np.isnan(back.row("mid", 10)["acc_sd"])

    paths = plot_all_heatmaps(res, tmp_path / "heat")
    assert len(paths) == len(res.metrics)
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_heatmap(res, "auc", tmp_path / "val.png", split="val").stat().st_size > 1000


def test_test_split_never_used_for_choices():
    feats, y, split = toy_grid(seed=3)
    res = probe_grid(feats, y, split, Cs=SMALL_CS, progress=False)
    y_adv = y.copy()
    test = split == "test"
    y_adv[test] = 1 - y_adv[test]  # adversarial test labels
    adv = probe_grid(feats, y_adv, split, Cs=SMALL_CS, progress=False)
    assert [r["C"] for r in adv.table] == [r["C"] for r in res.table]
    np.testing.assert_array_equal(adv.matrix("auc", split="val"), res.matrix("auc", split="val"))
    assert adv.best() == res.best()
    np.testing.assert_allclose(adv.matrix("auc"), 1 - res.matrix("auc"))  # only the test score moves
    with pytest.raises(ValueError, match="validation"):
        res.best(by="test")


def test_top_cells_order_ties_and_missing_scores():
    """ProbeGridResult.top: by validation score, ties in network order then smaller t, cells without a score
    last; top(1) is best(); the test score never changes the order."""
    def row(b, t, val, test):
        return {"block": b, "t": t, "val_auc": val, "auc_mean": test}

    table = [row("down.0", 0, 0.8, 0.1), row("down.0", 10, None, 0.99), row("mid", 0, 0.9, 0.2),
             row("mid", 10, 0.8, 0.3), row("up.0", 0, 0.8, 0.95), row("up.0", 10, 0.7, 0.9)]
    res = ProbeGridResult(["down.0", "mid", "up.0"], [0, 10], table)
    assert res.top(4) == [("mid", 0), ("down.0", 0), ("mid", 10), ("up.0", 0)]
    assert res.top(1) == [res.best()] == [("mid", 0)]
    assert res.top(99)[-2:] == [("up.0", 10), ("down.0", 10)] and len(res.top(99)) == 6
    with pytest.raises(ValueError, match="k must be"):
        res.top(0)
    with pytest.raises(ValueError, match="validation"):
        res.top(2, by="test")
    feats, y, split = toy_grid(seed=3)  # a real grid: the strongest signals first, adversarial test labels ignored
    real = probe_grid(feats, y, split, Cs=SMALL_CS, progress=False)
    y_adv = y.copy()
    y_adv[split == "test"] = 1 - y_adv[split == "test"]
    assert real.top(6) == probe_grid(feats, y_adv, split, Cs=SMALL_CS, progress=False).top(6)
    assert real.top(1) == [("mid", 10)]


def test_probe_grid_cv_mode_sd_and_test_untouched():
    feats, y, split = toy_grid(n=72)
    feats = {k: v for k, v in feats.items() if k[1] == 10}
    res = probe_grid(feats, y, split, mode="cv", folds=3, Cs=(0.1, 1.0), progress=False)
    assert res.matrix("acc").shape == (2, 1)
    sd = np.array([r["auc_sd"] for r in res.table])
    assert np.all(np.isfinite(sd)) and np.all(sd >= 0) and np.any(sd > 0)
    np.testing.assert_array_equal(res.matrix("auc", "val"), res.matrix("auc", "test"))
    assert res.table[0]["n_eval"] == int((split != "test").sum())
    y_adv = y.copy()
    y_adv[split == "test"] = 1 - y_adv[split == "test"]
    adv = probe_grid(feats, y_adv, split, mode="cv", folds=3, Cs=(0.1, 1.0), progress=False)
    assert adv.table == res.table
    assert res.best() == ("mid", 10)


def test_probe_grid_without_val_uses_inner_cv_and_memmap(tmp_path):
    feats, y, split = toy_grid()
    split = np.where(split == "val", "train", split)
    mm = np.memmap(tmp_path / "f.dat", dtype=np.float32, mode="w+", shape=feats[("mid", 10)].shape)
    mm[:] = feats[("mid", 10)]
    res = probe_grid(
        {("mid", 10): mm, ("enc.0", 100): feats[("enc.0", 100)]}, y, split, Cs=SMALL_CS, progress=False
    )
    m = res.matrix("auc", split="val")  # out-of-fold score on train
    assert m.shape == (2, 2) and np.isnan(m[0, 1]) and np.isnan(m[1, 0])  # cells absent from the mapping
    assert m[0, 0] > 0.9 and np.isfinite(m[1, 1])
    assert res.best() == ("mid", 10)


def test_probe_grid_input_errors():
    feats, y, split = toy_grid()
    with pytest.raises(ValueError, match="split values"):
        probe_grid(feats, y, np.where(split == "val", "valid", split), progress=False)
    with pytest.raises(ValueError, match="rows"):
        probe_grid(feats, y[:-1], split[:-1], progress=False)
    with pytest.raises(ValueError, match="keys"):
        probe_grid({"mid": feats[("mid", 10)]}, y, split, progress=False)
    with pytest.raises(ValueError, match="mode"):
        probe_grid(feats, y, split, mode="kfold", progress=False)
    with pytest.raises(ValueError, match="folds"):
        probe_grid(feats, y, split, mode="cv", folds=1000, progress=False)
    with pytest.raises(ValueError, match="select_metric"):
        probe_grid(feats, y, split, select_metric="mcc", progress=False)


def test_concat_probe():
    feats, y, split = toy_grid()
    keys = [("mid", 10), ("enc.0", 100)]
    out = concat_probe(feats, keys, y, split, Cs=SMALL_CS)
    assert out["keys"] == [["mid", 10], ["enc.0", 100]] and out["dims"] == 8
    assert out["auc_mean"] > 0.9 and out["C"] in SMALL_CS
    with pytest.raises(KeyError, match="not in features"):
        concat_probe(feats, [("nope", 1)], y, split)


def test_fast_probe_grid_keeps_the_selection():
    """The probe grid (one scaler per cell, the chosen C's model kept, Newton steps for small problems)
    against a plain scikit-learn reference of the same protocol with lbfgs run to convergence (tol 1e-10):
    the same C in every cell, and the same best cell as the former default (lbfgs, tol 1e-4)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from medfx.probes import probe_grid
    from medfx.probes.linear import DEFAULT_CS

    rng = np.random.default_rng(7)
    n = (300, 120, 120)
    y = (rng.random(sum(n)) < 0.6).astype(np.int64)
    split = np.array(["train"] * n[0] + ["val"] * n[1] + ["test"] * n[2])
    feats = {}
    for i, d in enumerate((4, 8, 12)):
        for j, t in enumerate((0, 50)):
            z = rng.standard_normal((len(y), d)) + (0.8 + 0.4 * i) / (1 + j) * y[:, None] * rng.standard_normal(d)
            feats[(f"b{i}", t)] = (z @ rng.standard_normal((d, d)) * (1 + i) + i).astype(np.float32)
    res = probe_grid(feats, y, split, progress=False)

    def reference(tol):
        table = {}
        tr, va = split == "train", split == "val"
        for key, X in feats.items():
            sc = StandardScaler().fit(X[tr])
            fits = [LogisticRegression(C=C, tol=tol, max_iter=100000).fit(sc.transform(X[tr]), y[tr])
                    for C in DEFAULT_CS]
            losses = np.array([log_loss(y[va], m.predict_proba(sc.transform(X[va]))) for m in fits])
            best = np.flatnonzero(losses <= losses.min() * (1 + 1e-6))[0]  # ties: smallest C
            auc = roc_auc_score(y[va], fits[best].predict_proba(sc.transform(X[va]))[:, 1])
            table[key] = (DEFAULT_CS[best], auc)
        return table

    converged, former = reference(1e-10), reference(1e-4)
    for r in res.table:
        C, auc = converged[(r["block"], r["t"])]
        assert r["C"] == C, (r["block"], r["t"])
        assert r["val_auc"] == pytest.approx(auc, abs=1e-3)
    assert res.best() == max(former, key=lambda k: former[k][1])
