"""Validation-tuned decision threshold (medfx.metrics.threshold) against brute force with scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from medfx.metrics.classification import classification_metrics
from medfx.metrics.threshold import apply_threshold, tune_threshold


def _proba(s):
    s = np.asarray(s, dtype=float)
    return np.stack([1 - s, s], axis=1)


@pytest.mark.parametrize("metric", ["bacc", "f1"])
def test_tuned_threshold_is_the_best_on_validation(metric):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = np.clip(0.15 + 0.2 * y + rng.normal(0, 0.12, 60), 0, 1)  # ranks well, nearly always below 0.5
    thr = tune_threshold(y, _proba(s), metric)
    ref = {"bacc": balanced_accuracy_score, "f1": lambda a, b: f1_score(a, b, average="macro")}[metric]
    brute = max(ref(y, (s >= c).astype(int)) for c in np.linspace(0, 1, 2001))
    assert ref(y, (s >= thr).astype(int)) == pytest.approx(brute)
    assert thr < 0.5 and ref(y, (s >= thr).astype(int)) > ref(y, (s >= 0.5).astype(int))


def test_apply_threshold_moves_the_decision_and_keeps_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = rng.random(200)
    s[:3] = [0.0, 1.0, 0.3]
    p = apply_threshold(_proba(s), 0.3)
    np.testing.assert_array_equal(p.argmax(1), (s >= 0.3).astype(int))
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert roc_auc_score(y, p[:, 1]) == pytest.approx(roc_auc_score(y, s))
    m = classification_metrics(y, p)
    assert m["bacc"] == pytest.approx(balanced_accuracy_score(y, (s >= 0.3).astype(int)))
    np.testing.assert_array_equal(apply_threshold(_proba(s), 0.5), _proba(s))


def test_ties_keep_the_threshold_nearest_one_half_and_degenerate_validation():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.8, 0.9])  # every threshold in (0.2, 0.8) is perfect: 0.5 is kept
    assert tune_threshold(y, _proba(s)) == 0.5
    assert tune_threshold(np.array([1, 1, 1]), _proba([0.1, 0.2, 0.3])) == 0.5  # one class only: no choice
    with pytest.raises(ValueError, match="binary"):
        tune_threshold(np.array([0, 1, 2]), np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match="metric"):
        tune_threshold(y, _proba(s), "auc")
