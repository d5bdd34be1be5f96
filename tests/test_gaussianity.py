"""Tests for medfx.features.gaussianity: the per-(block, t) KS map and block selection."""

from __future__ import annotations

import csv
import json
import logging

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from medfx.features.gaussianity import (
    GaussianityResult,
    ks_map,
    ks_per_dimension,
    plot_gaussianity,
    rejected_blocks,
    select_blocks,
)


def bimodal(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return rng.choice([-2.0, 2.0], size=(n, d)) + 0.4 * rng.normal(size=(n, d))


def toy_features(n: int = 200, d: int = 12, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 10, size=d)  # per-dimension scale/shift must not matter after z-scoring
    return {
        ("enc.0", 10): 3.0 + scale * rng.normal(size=(n, d)),
        ("enc.0", 50): bimodal(rng, n, d),
        ("mid", 10): rng.exponential(size=(n, d)),
        ("mid", 50): rng.normal(size=(n, d)),
    }


@pytest.mark.parametrize("aggregate", ["median", "min_bonferroni", "fisher"])
def test_gaussian_vs_bimodal(aggregate):
    res = ks_map(toy_features(), aggregate=aggregate)
    p = {(r["block"], r["t"]): r["pvalue"] for r in res.table}
    assert p[("enc.0", 10)] > 0.05 and p[("mid", 50)] > 0.05
    assert p[("enc.0", 50)] < 0.05 and p[("mid", 10)] < 0.05
    assert res.blocks == ["enc.0", "mid"] and res.timesteps == [10, 50]
    assert res.matrix("pvalue").shape == (2, 2)
    bim = res.table[1]
    assert (bim["block"], bim["t"]) == ("enc.0", 50)
    assert bim["frac_reject"] == 1.0 and bim["n"] == 200 and bim["dims"] == 12
    assert bim["statistic"] > res.table[0]["statistic"]


def test_only_use_split_rows_are_tested():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(150, 8)), bimodal(rng, 150, 8)])
    split = np.array(["train"] * 150 + ["test"] * 150)
    assert ks_map({("b", 1): X}, split).table[0]["pvalue"] > 0.05
    test_res = ks_map({("b", 1): X}, split, use_split="test")
    assert test_res.table[0]["pvalue"] < 0.05 and test_res.table[0]["n"] == 150
    assert ks_map({("b", 1): X}).table[0]["n"] == 300  # split=None: all rows
    with pytest.raises(ValueError, match="no 'val' samples"):
        ks_map({("b", 1): X}, split, use_split="val")


def test_constant_dims_and_max_dims(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 20))
    X[:, :3] = 7.0
    stat, p, n_const = ks_per_dimension(X)
    assert n_const == 3 and stat.shape == p.shape == (17,)
    mm = np.memmap(tmp_path / "x.dat", dtype=np.float32, mode="w+", shape=(100, 20))
    mm[:] = rng.normal(size=(100, 20))
    row = ks_map({("b", 1): mm}, max_dims=5).table[0]
    assert row["dims"] == 5 and row["n_constant"] == 0
    all_const = ks_map({("b", 1): np.ones((50, 4))}).table[0]
    assert np.isnan(all_const["pvalue"]) and all_const["n_constant"] == 4


def test_ks_map_errors():
    feats = toy_features(n=30)
    with pytest.raises(ValueError, match="aggregate"):
        ks_map(feats, aggregate="mean")
    with pytest.raises(ValueError, match="alpha"):
        ks_map(feats, alpha=1.5)
    with pytest.raises(ValueError, match="keys"):
        ks_map({"mid": np.zeros((10, 2))})
    with pytest.raises(ValueError, match="rows"):
        ks_map(feats, split=np.array(["train"] * 10))


def manual_result() -> GaussianityResult:
    rows = [
        ("enc.0", 10, 0.01, 0.30),
        ("enc.0", 50, 0.20, 0.05),
        ("mid", 10, 1e-5, 0.50),
        ("mid", 50, 0.04, 0.20),
        ("dec.0", 10, 0.90, 0.01),
        ("dec.0", 50, 1e-5, 0.60),
    ]
    table = [
        {
            "block": b,
            "t": t,
            "statistic": s,
            "max_statistic": s,
            "pvalue": p,
            "frac_reject": 0.0,
            "n": 100,
            "dims": 8,
            "n_constant": 0,
        }
        for b, t, p, s in rows
    ]
    return GaussianityResult(["enc.0", "mid", "dec.0"], [10, 50], table)


def test_select_blocks_order_alpha_topk_t():
    res = manual_result()
    # p ascending; the tie at 1e-5 is broken by the larger KS statistic (dec.0 @ 50)
    assert select_blocks(res) == [("dec.0", 50), ("mid", 10), ("enc.0", 10), ("mid", 50)]
    assert select_blocks(res, alpha=0.02) == [("dec.0", 50), ("mid", 10), ("enc.0", 10)]
    assert select_blocks(res, top_k=2) == [("dec.0", 50), ("mid", 10)]
    assert select_blocks(res, t=10) == [("mid", 10), ("enc.0", 10)]
    assert rejected_blocks(res) == [("dec.0", 10), ("enc.0", 50)]
    assert rejected_blocks(res, top_k=1) == [("dec.0", 10)]
    assert set(select_blocks(res)) | set(rejected_blocks(res)) == {(r["block"], r["t"]) for r in res.table}
    with pytest.raises(ValueError, match="t=7"):
        select_blocks(res, t=7)
    with pytest.raises(ValueError, match="top_k"):
        select_blocks(res, top_k=0)


def test_select_blocks_fallback_warns(caplog):
    res = manual_result()
    with caplog.at_level(logging.WARNING, logger="medfx.features.gaussianity"):
        out = select_blocks(res, alpha=1e-9)
    assert out == [("dec.0", 50), ("mid", 10), ("enc.0", 10)]  # default top_k=3 smallest p
    assert "falling back" in caplog.text
    assert select_blocks(res, alpha=1e-9, top_k=1) == [("dec.0", 50)]
    with caplog.at_level(logging.WARNING, logger="medfx.features.gaussianity"):
        assert rejected_blocks(res, alpha=0.999, top_k=2) == [("dec.0", 10), ("enc.0", 50)]


def test_outputs_written(tmp_path):
    res = ks_map(toy_features(n=60, d=4), split=np.array(["train"] * 40 + ["val"] * 20))
    rows = list(csv.DictReader(res.to_csv(tmp_path / "ks.csv").open()))
    assert len(rows) == 4 and {"block", "t", "statistic", "pvalue", "frac_reject", "n", "dims"} <= set(
        rows[0]
    )
    assert float(rows[0]["pvalue"]) == pytest.approx(res.table[0]["pvalue"])
    payload = json.loads(res.to_json(tmp_path / "ks.json").read_text())
    assert payload["use_split"] == "train" and len(payload["table"]) == 4 and payload["table"][0]["n"] == 40
    png = plot_gaussianity(res, tmp_path / "ks.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
