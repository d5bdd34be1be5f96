"""Confidence intervals and paired comparisons (medfx.metrics.uncertainty) against independent references."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from medfx.metrics.classification import METRIC_NAMES, classification_metrics
from medfx.metrics.uncertainty import (
    compare_all,
    delong_auc_variance,
    delong_test,
    format_ci,
    format_diff,
    metric_ci,
    metric_fn,
    paired_bootstrap,
    stratified_indices,
)


def _proba(rng, y, k, signal=1.0):
    logits = rng.normal(size=(len(y), k))
    logits[np.arange(len(y)), y] += signal
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("k", [2, 3])
def test_metric_fn_matches_classification_metrics(k):
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 57)
    y[:k] = np.arange(k)
    for p in (_proba(rng, y, k), np.tile(np.eye(k)[0], (57, 1)) + 1e-3 * rng.random((57, k))):  # incl. one class
        ref = classification_metrics(y, p, num_classes=k)
        for m in METRIC_NAMES:
            assert metric_fn(m, k)(y, p) == pytest.approx(ref[m], abs=1e-12), m


def test_vectorised_auc_equals_the_large_n_path(monkeypatch):
    import medfx.metrics.uncertainty as U

    rng = np.random.default_rng(8)
    y = np.array([0] * 40 + [1] * 25 + [2] * 15)
    p = _proba(rng, y, 3)
    p[:10] = np.round(p[:10], 1)  # ties
    w = U._weights(stratified_indices(y, 20, rng), len(y))
    fast = U.metric_weighted("auc", y, p, w, 3)
    monkeypatch.setattr(U, "_PSI_MAX", 0)
    np.testing.assert_allclose(U.metric_weighted("auc", y, p, w, 3), fast, atol=1e-12)
    ref = [roc_auc_score(np.eye(3)[y[i]], p[i], average="macro", multi_class="ovr") for i in
           [np.repeat(np.arange(len(y)), w[b].astype(int)) for b in range(3)]]
    np.testing.assert_allclose(fast[:3], ref, atol=1e-12)


def test_stratified_resamples_keep_class_counts():
    y = np.array([0] * 7 + [1] * 3 + [2] * 5)
    idx = stratified_indices(y, 50, np.random.default_rng(0))
    assert idx.shape == (50, 15)
    for row in idx:
        assert np.bincount(y[row], minlength=3).tolist() == [7, 3, 5]


def _delong_bruteforce(y, a, b):
    """DeLong et al. (1988) with explicit O(m n) placement values (the reference for the fast algorithm)."""
    out = []
    for s in (a, b):
        x, z = s[y == 1], s[y == 0]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        out.append((psi.mean(), psi.mean(1), psi.mean(0)))
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = out
    m, n = len(v10a), len(v01a)
    s10 = np.cov(np.stack([v10a, v10b]))
    s01 = np.cov(np.stack([v01a, v01b]))
    cov = s10 / m + s01 / n
    return np.array([auc_a, auc_b]), cov


def test_delong_matches_bruteforce_and_sklearn():
    rng = np.random.default_rng(1)
    y = (rng.random(150) < 0.4).astype(int)
    a = rng.normal(size=150) + 1.0 * y
    b = np.round(0.6 * a + rng.normal(size=150) + 0.5 * y, 1)  # correlated, with ties
    aucs, cov = delong_auc_variance(y, np.stack([a, b]))
    ref_aucs, ref_cov = _delong_bruteforce(y, a, b)
    np.testing.assert_allclose(aucs, [roc_auc_score(y, a), roc_auc_score(y, b)], atol=1e-12)
    np.testing.assert_allclose(aucs, ref_aucs, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-14)


def test_delong_se_agrees_with_bootstrap_se():
    rng = np.random.default_rng(2)
    y = np.array([0] * 120 + [1] * 80)
    a = rng.normal(size=200) + 1.2 * y
    b = 0.7 * a + rng.normal(size=200) * 0.8 + 0.3 * y
    res = delong_test(y, a, b)
    se_delong = (res.high - res.low) / (2 * stats.norm.ppf(0.975))

    def auc(yy, s):  # brute-force Mann-Whitney
        x, z = s[yy == 1], s[yy == 0]
        return ((x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])).mean()

    idx = stratified_indices(y, 1500, np.random.default_rng(0))
    diffs = [auc(y[i], a[i]) - auc(y[i], b[i]) for i in idx]
    assert se_delong == pytest.approx(np.std(diffs), rel=0.12)
    boot = paired_bootstrap(y, np.stack([1 - a, a], 1), np.stack([1 - b, b], 1), "auc", n_boot=1500)
    assert boot.diff == pytest.approx(res.diff)
    assert (boot.high - boot.low) == pytest.approx(res.high - res.low, rel=0.15)
    assert res.diff == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))


def test_auc_ci_coverage_on_simulated_datasets():
    """200 simulated binormal datasets (true AUC = Phi(d / sqrt 2)); nominal 95 % -> coverage in [0.90, 0.99]."""
    rng = np.random.default_rng(3)
    d = 1.0
    true_auc = stats.norm.cdf(d / math.sqrt(2))
    y = np.array([0] * 60 + [1] * 60)
    hits = 0
    for rep in range(200):
        s = rng.normal(size=120) + d * y
        p = np.stack([1 - stats.norm.cdf(s), stats.norm.cdf(s)], 1)
        ci = metric_ci(y, p, "auc", n_boot=200, seed=rep)
        hits += ci.low <= true_auc <= ci.high
    assert 0.90 <= hits / 200 <= 0.99, hits


def test_paired_difference_coverage_and_pairing_narrows_the_interval():
    """Two correlated scores with a known true AUC difference: paired intervals cover it ~95 % of the time and
    are narrower than the unpaired (independent intervals) width."""
    rng = np.random.default_rng(4)
    y = np.array([0] * 50 + [1] * 50)
    # binormal with unit variance: AUC = Phi(mu / sqrt 2); a has mu 1.0, b = a + independent noise has mu 1.0 but
    # variance 1 + 0.5^2 -> AUC Phi(1 / sqrt(2 * 1.25))
    true_diff = stats.norm.cdf(1 / math.sqrt(2)) - stats.norm.cdf(1 / math.sqrt(2.5))
    hits, paired_w, single_w = 0, [], []
    for rep in range(150):
        a = rng.normal(size=100) + y
        b = a + 0.5 * rng.normal(size=100)
        pa, pb = (np.stack([1 - stats.norm.cdf(s), stats.norm.cdf(s)], 1) for s in (a, b))
        c = paired_bootstrap(y, pa, pb, "auc", n_boot=150, seed=rep)
        hits += c.low <= true_diff <= c.high
        paired_w.append(c.high - c.low)
        ca = metric_ci(y, pa, "auc", n_boot=150, seed=rep)
        single_w.append(ca.high - ca.low)
    assert 0.88 <= hits / 150 <= 0.995, hits
    assert np.mean(paired_w) < 0.6 * np.mean(single_w)


def test_seed_average_and_spread():
    rng = np.random.default_rng(5)
    y = np.array([0, 1] * 30)
    seeds = np.stack([_proba(rng, y, 2, 1.5) for _ in range(3)])
    ci = metric_ci(y, seeds, "acc", n_boot=100)
    accs = [classification_metrics(y, p)["acc"] for p in seeds]
    assert ci.estimate == pytest.approx(np.mean(accs))
    assert ci.seed_sd == pytest.approx(np.std(accs, ddof=1))
    assert ci.low <= ci.estimate <= ci.high and ci.n_seeds == 3
    assert metric_ci(y, seeds[0], "acc", n_boot=50).seed_sd is None


def test_identical_methods_differ_by_zero():
    rng = np.random.default_rng(6)
    y = np.array([0, 1] * 20)
    p = _proba(rng, y, 2)
    c = paired_bootstrap(y, p, p, "bacc", n_boot=50)
    assert (c.diff, c.low, c.high, c.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert delong_test(y, p[:, 1], p[:, 1]).p_value == 1.0


def test_compare_all_and_formatting():
    rng = np.random.default_rng(7)
    y = np.array([0, 1, 2] * 15)
    preds = {"resnet18": np.stack([_proba(rng, y, 3) for _ in range(2)]), "cats": _proba(rng, y, 3, 2.0)}
    out = compare_all(y, preds, "resnet18", ("acc", "auc"), n_boot=50)
    assert set(out["ci"]) == {"resnet18", "cats"} and set(out["paired"]) == {"cats"}
    assert "auc_delong" not in out["paired"]["cats"]  # K = 3: bootstrap only
    assert format_ci({"estimate": 0.9123, "low": 0.88, "high": 0.94}) == "0.912 [0.880, 0.940]"
    assert format_diff({"diff": 0.0123, "low": -0.004, "high": 0.027}) == "+0.012 [-0.004, +0.027]"
    with pytest.raises(ValueError, match="same samples"):
        paired_bootstrap(y, preds["cats"], preds["cats"][:10], "acc")
