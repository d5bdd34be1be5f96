"""Confidence intervals and paired comparisons of classifiers evaluated on the same test samples.

Inputs are per-sample predictions: labels ``y [N]`` and, per method, class probabilities of every seed
``[S, N, K]`` (S = 1 for a deterministic method such as the linear probe). Metrics are those of
:func:`medfx.metrics.classification.classification_metrics` (AUC: class-1 score for K = 2, macro one-vs-rest
for K > 2; argmax metrics from the most probable class).

**Interval of one method** (:func:`metric_ci`): a percentile bootstrap of the *seed-averaged* metric. Each of
``n_boot`` replicates draws N test samples with replacement (stratified by class, so every class stays present
and AUC stays defined), computes the metric of every seed on that resample and averages over the seeds. The
2.5 and 97.5 percentiles of the replicates are the 95 % interval. The test-set sampling error is what the
resampling captures; the seed spread enters through the seed average, which is what the point estimate is.
This is the "fixed seeds" interval: it answers "how well do these S trained models do on new samples from the
same population". Training randomness beyond the S seeds is not resampled (with 3 seeds a seed bootstrap
would be too coarse to help); the per-seed sd is reported next to it.

**Paired comparison** (:func:`paired_bootstrap`): the same resamples are applied to both methods (they were
evaluated on the same samples), and the interval of the difference ``metric(A) - metric(B)`` of the
seed-averaged metrics is read off the replicates; the two-sided p-value is the bootstrap fraction on the other
side of zero, doubled (with the usual +1 correction). Pairing removes the between-sample variance the two
methods share, so paired intervals are much narrower than two independent intervals.

**DeLong** (:func:`delong_test`): the exact asymptotic test for two correlated ROC AUCs (DeLong, DeLong &
Clarke-Pearson 1988), in the fast O(N log N) form of Sun & Xu (2014), on one score per sample per method (the
seed-averaged probability of the positive class for binary tasks). It is given next to the paired bootstrap
for AUC; for K > 2 (macro AUC) only the bootstrap is used.

All functions are pure (numpy/scipy/scikit-learn), take an explicit ``seed`` and return plain values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

__all__ = ["CI", "Comparison", "metric_ci", "paired_bootstrap", "delong_test", "delong_auc_variance",
           "stratified_indices", "metric_fn", "format_ci", "format_diff"]

ARGMAX_METRICS = ("acc", "bacc", "precision", "recall", "f1")


@dataclass
class CI:
    """Point estimate (seed-averaged metric on all test samples) and its bootstrap percentile interval."""

    metric: str
    estimate: float
    low: float
    high: float
    level: float = 0.95
    n_boot: int = 0
    n_seeds: int = 1
    seed_sd: float | None = None  # sd over seeds of the metric (None for one seed)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Comparison:
    """``metric(method) - metric(reference)`` on the same test samples."""

    metric: str
    method: str
    reference: str
    diff: float
    low: float
    high: float
    p_value: float
    test: str  # "paired bootstrap" or "DeLong"
    level: float = 0.95
    n_boot: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


# -- metrics on arrays ------------------------------------------------------------------------------------
def metric_fn(name: str, num_classes: int) -> Callable[[np.ndarray, np.ndarray], float]:
    """``f(y [N], proba [N, K]) -> float`` for one metric name (``acc, bacc, precision, recall, f1, auc``),
    matching ``classification_metrics`` (macro averages over the labels in y_true or y_pred, ``zero_division=0``;
    AUC as the MedMNIST evaluator)."""
    if name not in ARGMAX_METRICS + ("auc",):
        raise ValueError(f"unknown metric {name!r}; choose from {ARGMAX_METRICS + ('auc',)}")

    def f(y, p):
        y = np.asarray(y).astype(np.int64)
        return float(metric_weighted(name, y, np.asarray(p, dtype=np.float64), np.ones((1, len(y))), num_classes)[0])

    return f


def stratified_indices(y: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_boot, N]`` bootstrap resamples that keep each class's count (resampling within each class)."""
    y = np.asarray(y)
    out = np.empty((n_boot, len(y)), dtype=np.int64)
    pos = 0
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        out[:, pos:pos + len(idx)] = idx[rng.integers(0, len(idx), size=(n_boot, len(idx)))]
        pos += len(idx)
    return out


def _as_seeds(proba) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3:
        raise ValueError(f"proba must be [N, K] or [S, N, K], got shape {p.shape}")
    return p


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """Resample indices ``[B, N]`` as multiplicities ``[B, N]`` (how often each sample is drawn)."""
    w = np.zeros((idx.shape[0], n))
    np.add.at(w, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), 1.0)
    return w


_PSI_MAX = 4_000_000  # pairs held in memory for the vectorised AUC; larger test sets loop over replicates


def _auc_weighted(target: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of every weighted resample: ``w [B, N]`` multiplicities -> ``[B]``."""
    pos, neg = np.flatnonzero(target), np.flatnonzero(~target)
    if len(pos) == 0 or len(neg) == 0:
        return np.full(w.shape[0], np.nan)
    wp, wn = w[:, pos], w[:, neg]
    den = wp.sum(1) * wn.sum(1)
    if len(pos) * len(neg) <= _PSI_MAX:
        x, z = score[pos], score[neg]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        num = np.einsum("bi,bi->b", wp @ psi, wn)
    else:  # O(N log N) per replicate: weighted ranks
        order = np.argsort(score, kind="mergesort")
        num = np.empty(w.shape[0])
        s_sorted, t_sorted = score[order], target[order]
        first = np.searchsorted(s_sorted, s_sorted, side="left")  # first index of each sample's tie group
        last = np.searchsorted(s_sorted, s_sorted, side="right") - 1
        for b in range(w.shape[0]):
            wb = w[b, order]
            cneg = np.cumsum(np.where(t_sorted, 0.0, wb))  # weighted negatives up to each position
            below = np.where(first > 0, cneg[np.maximum(first - 1, 0)], 0.0)  # strictly lower scores
            tied = cneg[last] - below
            num[b] = np.sum(np.where(t_sorted, wb, 0.0) * (below + 0.5 * tied))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def metric_weighted(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray, num_classes: int) -> np.ndarray:
    """``name`` on every weighted resample of ``(y, p)``: ``w [B, N]`` sample multiplicities -> ``[B]``.
    With ``w = ones([1, N])`` this is the plain metric (equal to ``classification_metrics``)."""
    k = num_classes
    if name == "auc":
        if k == 2:
            return _auc_weighted(y == 1, p[:, 1], w)
        return np.mean([_auc_weighted(y == c, p[:, c], w) for c in range(k)], axis=0)
    if name not in ARGMAX_METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {ARGMAX_METRICS + ('auc',)}")
    pred = p.argmax(1)
    onehot = np.zeros((len(y), k * k))
    onehot[np.arange(len(y)), y * k + pred] = 1.0
    cm = (w @ onehot).reshape(-1, k, k)  # [B, true, pred]
    tp = np.diagonal(cm, axis1=1, axis2=2)
    true_n, pred_n = cm.sum(2), cm.sum(1)
    if name == "acc":
        return tp.sum(1) / np.maximum(cm.sum((1, 2)), 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(true_n > 0, tp / np.where(true_n > 0, true_n, 1), 0.0)
        if name == "bacc":
            present = true_n > 0
            return (recall * present).sum(1) / present.sum(1)
        labels = (true_n > 0) | (pred_n > 0)  # sklearn's macro average: labels in y_true or y_pred
        precision = np.where(pred_n > 0, tp / np.where(pred_n > 0, pred_n, 1), 0.0)
        if name == "precision":
            v = precision
        elif name == "recall":
            v = recall
        else:
            den = precision + recall
            v = np.where(den > 0, 2 * precision * recall / np.where(den > 0, den, 1), 0.0)
        return (v * labels).sum(1) / labels.sum(1)


def _seed_mean_reps(name, y, p_seeds, w, k) -> np.ndarray:
    return np.mean([metric_weighted(name, y, p, w, k) for p in p_seeds], axis=0)


def _percentile_ci(reps: np.ndarray, level: float) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return math.nan, math.nan
    a = (1 - level) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    return float(lo), float(hi)


def _resample_weights(y: np.ndarray, n_boot: int, seed: int, chunk: int = 250):
    """Stratified bootstrap multiplicities in chunks of ``chunk`` replicates (bounded memory)."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        yield _weights(stratified_indices(y, b, rng), len(y))
        done += b


# -- intervals and comparisons ----------------------------------------------------------------------------
def metric_ci(y, proba, metric: str, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
              num_classes: int | None = None) -> CI:
    """Percentile-bootstrap interval of the seed-averaged ``metric`` (see the module docstring).

    ``y``: ``[N]`` labels; ``proba``: ``[N, K]`` (one seed) or ``[S, N, K]``."""
    y = np.asarray(y).astype(np.int64)
    p = _as_seeds(proba)
    k = num_classes or p.shape[2]
    ones = np.ones((1, len(y)))
    per_seed = [float(metric_weighted(metric, y, s, ones, k)[0]) for s in p]
    est = float(np.mean(per_seed))
    reps = np.concatenate([_seed_mean_reps(metric, y, p, w, k) for w in _resample_weights(y, n_boot, seed)])
    lo, hi = _percentile_ci(reps, level)
    return CI(metric, est, lo, hi, level, n_boot, len(p), float(np.std(per_seed, ddof=1)) if len(p) > 1 else None)


def paired_bootstrap(y, proba_a, proba_b, metric: str, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                     num_classes: int | None = None, names: tuple[str, str] = ("a", "b")) -> Comparison:
    """Paired percentile bootstrap of ``metric(a) - metric(b)`` (seed-averaged), same resamples for both."""
    y = np.asarray(y).astype(np.int64)
    pa, pb = _as_seeds(proba_a), _as_seeds(proba_b)
    if pa.shape[1:] != pb.shape[1:] or pa.shape[1] != len(y):
        raise ValueError(f"paired comparison needs predictions on the same samples: {pa.shape} vs {pb.shape}, "
                         f"{len(y)} labels")
    k = num_classes or pa.shape[2]
    ones = np.ones((1, len(y)))
    diff = float(_seed_mean_reps(metric, y, pa, ones, k)[0] - _seed_mean_reps(metric, y, pb, ones, k)[0])
    reps = np.concatenate([_seed_mean_reps(metric, y, pa, w, k) - _seed_mean_reps(metric, y, pb, w, k)
                           for w in _resample_weights(y, n_boot, seed)])
    lo, hi = _percentile_ci(reps, level)
    fin = reps[np.isfinite(reps)]
    if fin.size:
        below, above = (fin <= 0).sum(), (fin >= 0).sum()
        p = min(1.0, 2 * (min(below, above) + 1) / (fin.size + 1))
    else:
        p = math.nan
    return Comparison(metric, names[0], names[1], diff, lo, hi, float(p), "paired bootstrap", level, n_boot)


def _midranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def delong_auc_variance(y, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs ``[M]`` and their DeLong covariance ``[M, M]`` for ``M`` score vectors ``scores [M, N]`` on the same
    binary labels ``y`` (Sun & Xu 2014 fast algorithm)."""
    y = np.asarray(y).astype(int)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"DeLong needs >= 2 positive and >= 2 negative samples, got {m} and {n}")
    k = scores.shape[0]
    tx = np.array([_midranks(r) for r in pos])
    ty = np.array([_midranks(r) for r in neg])
    tz = np.array([_midranks(r) for r in np.concatenate([pos, neg], axis=1)])
    aucs = tz[:, :m].sum(1) / (m * n) - (m + 1) / (2 * n)
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    sx = np.atleast_2d(np.cov(v01))
    sy = np.atleast_2d(np.cov(v10))
    cov = sx / m + sy / n
    return aucs.reshape(k), cov.reshape(k, k)


def delong_test(y, score_a, score_b, level: float = 0.95, names: tuple[str, str] = ("a", "b")) -> Comparison:
    """DeLong test of ``AUC(a) - AUC(b)`` for two correlated ROC curves (binary labels, one score per sample);
    the interval is the normal ``diff ± z * se``."""
    aucs, cov = delong_auc_variance(y, np.stack([np.asarray(score_a), np.asarray(score_b)]))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    z = stats.norm.ppf(0.5 + level / 2)
    if var <= 1e-15:
        p = 1.0 if abs(diff) < 1e-12 else 0.0
        se = 0.0
    else:
        se = math.sqrt(var)
        p = float(2 * stats.norm.sf(abs(diff) / se))
    return Comparison("auc", names[0], names[1], diff, diff - z * se, diff + z * se, p, "DeLong", level, 0)


# -- formatting -------------------------------------------------------------------------------------------
def _format_interval(d: dict, value: str, digits: int, sign: str) -> str:
    """``value [low, high]`` from a dict with ``value``, ``low`` and ``high`` (``-`` when the value is missing)."""
    if d.get(value) is None:
        return "-"
    fmt = f"{sign}.{digits}f"
    if d.get("low") is None or d.get("high") is None:
        return format(d[value], fmt)
    return f"{format(d[value], fmt)} [{format(d['low'], fmt)}, {format(d['high'], fmt)}]"


def format_ci(ci: CI | dict | None, digits: int = 3) -> str:
    """``"0.912 [0.880, 0.940]"``."""
    if ci is None:
        return "-"
    return _format_interval(ci.as_dict() if isinstance(ci, CI) else ci, "estimate", digits, "")


def format_diff(c: Comparison | dict | None, digits: int = 3) -> str:
    """``"+0.012 [-0.004, +0.027]"`` (signed difference and interval)."""
    if c is None:
        return "-"
    return _format_interval(c.as_dict() if isinstance(c, Comparison) else c, "diff", digits, "+")


def compare_all(y, proba_by_method: dict[str, np.ndarray], reference: str, metrics: Sequence[str],
                n_boot: int = 1000, level: float = 0.95, seed: int = 0, num_classes: int | None = None) -> dict:
    """Per method: CI of every metric; per method other than ``reference``: paired bootstrap of every metric
    against it, and DeLong for AUC when the task is binary. Returns plain dicts (JSON-ready)."""
    y = np.asarray(y).astype(np.int64)
    out = {"method": "percentile bootstrap over test samples (stratified by class) of the seed-averaged metric; "
                     "paired: same resamples for both methods; DeLong (Sun & Xu 2014) for binary AUC",
           "n_boot": n_boot, "level": level, "seed": seed, "reference": reference, "n_test": int(len(y)),
           "ci": {}, "paired": {}}
    k = num_classes or _as_seeds(next(iter(proba_by_method.values()))).shape[2]
    for name, p in proba_by_method.items():
        out["ci"][name] = {m: metric_ci(y, p, m, n_boot, level, seed, k).as_dict() for m in metrics}
    if reference in proba_by_method:
        ref = _as_seeds(proba_by_method[reference])
        for name, p in proba_by_method.items():
            if name == reference:
                continue
            pa = _as_seeds(p)
            comps = {m: paired_bootstrap(y, pa, ref, m, n_boot, level, seed, k, (name, reference)).as_dict()
                     for m in metrics}
            if k == 2 and "auc" in metrics and len(np.unique(y)) == 2 and min(np.bincount(y)) >= 2:
                comps["auc_delong"] = delong_test(y, pa.mean(0)[:, 1], ref.mean(0)[:, 1], level,
                                                  (name, reference)).as_dict()
            out["paired"][name] = comps
    return out
