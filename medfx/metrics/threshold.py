"""A decision threshold for binary classifiers, chosen on validation only.

Argmax at 0.5 is the natural decision for a calibrated classifier, but a model trained on 5-25 labels per class
is rarely calibrated: its scores can rank the test images well (high AUC) while one class wins almost every
argmax. ``tune_threshold`` picks the threshold on the positive-class probability that maximises a validation
metric (balanced accuracy by default); ``apply_threshold`` moves that threshold to 0.5 by shifting the logit of
the positive class, so every argmax metric (``classification_metrics``, the bootstrap intervals) then reflects
the tuned decision and rank metrics such as AUC are unchanged (the shift is monotone).

Rule (documented in the README): candidates are the midpoints between consecutive distinct validation scores
(plus 0.5); the best validation score wins; ties are broken by the candidate nearest to 0.5 in logit space
(the least departure from argmax). A validation set without both classes keeps 0.5. Multi-class tasks are not
thresholded (``ValueError``). The test split is never used.
"""

from __future__ import annotations

import numpy as np

TUNE_METRICS = ("bacc", "f1")


def _logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 - p)); scores of exactly 0 or 1 map to -inf / +inf (no clipping, so no new ties)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def _score(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    tp, tn = np.sum((pred == 1) & (y == 1)), np.sum((pred == 0) & (y == 0))
    pos, neg = np.sum(y == 1), np.sum(y == 0)
    if metric == "bacc":
        return 0.5 * (tp / pos + tn / neg)
    fp, fn = neg - tn, pos - tp  # macro-F1 over the two classes
    f1_pos = 2 * tp / max(2 * tp + fp + fn, 1)
    f1_neg = 2 * tn / max(2 * tn + fn + fp, 1)
    return 0.5 * (f1_pos + f1_neg)


def _binary_scores(proba) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"a decision threshold needs binary probabilities [N, 2], got shape {p.shape}")
    return p[:, 1]


def tune_threshold(y_val, proba_val, metric: str = "bacc") -> float:
    """The threshold on ``proba_val[:, 1]`` that maximises ``metric`` on validation (see the module docstring)."""
    if metric not in TUNE_METRICS:
        raise ValueError(f"threshold metric must be one of {TUNE_METRICS}, got {metric!r}")
    s = _binary_scores(proba_val)
    y = np.asarray(y_val).astype(np.int64)
    if len(y) != len(s):
        raise ValueError(f"{len(y)} validation labels but {len(s)} probability rows")
    if not ((y == 0).any() and (y == 1).any()):
        return 0.5
    u = np.unique(s)
    cands = np.unique(np.concatenate([(u[:-1] + u[1:]) / 2, [0.5, u[0] / 2, (1 + u[-1]) / 2]]))
    scores = np.array([_score(metric, y, (s >= c).astype(np.int64)) for c in cands])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(cands[best[np.argmin(np.abs(_logit(cands[best])))]])


def apply_threshold(proba, threshold: float) -> np.ndarray:
    """Binary probabilities whose argmax is ``proba[:, 1] >= threshold``: the positive-class logit shifted by
    ``-logit(threshold)`` (monotone, so AUC is unchanged). ``threshold = 0.5`` returns the input."""
    s = _binary_scores(proba)
    if threshold == 0.5:
        return np.asarray(proba, dtype=np.float64)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    with np.errstate(over="ignore"):
        p1 = 1.0 / (1.0 + np.exp(-(_logit(s) - _logit(threshold))))
    # scores exactly at the threshold count as positive (>=), as in tune_threshold
    p1 = np.where(s >= threshold, np.maximum(p1, 0.5 + 1e-12), np.minimum(p1, 0.5 - 1e-12))
    return np.stack([1.0 - p1, p1], axis=1)
