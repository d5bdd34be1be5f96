"""Linear probes over a grid of ``(block, t)`` features.

Protocols (the ``test`` split is never used for any choice):

* ``mode="holdout"``: fit on ``train``; choose ``C`` on ``val`` (validation log-loss, see
  :mod:`medfx.probes.linear`), or by inner CV on ``train`` if there is no ``val`` split; report on ``test``.
  The selection score ``val_<metric>`` is measured on ``val``, or, without a ``val`` split, on out-of-fold
  predictions over ``train``.
* ``mode="cv"``: stratified ``folds``-fold CV over the ``train`` + ``val`` samples (``C`` chosen by inner CV
  inside each outer training fold); the reported score is the mean and sd (ddof=1) over the held-out folds
  and it is also the selection score. ``test`` samples are not touched.

Table columns per row: ``block, t, C, dims, n_eval, score_on`` (``"test"`` in holdout mode,
``"cv<k> train+val"`` in cv mode: cross-validated numbers are never labelled as test scores), then for every metric ``m`` in
:data:`~medfx.metrics.classification.METRIC_NAMES`: ``m_mean``, ``m_sd`` (reported score; sd is NaN in
holdout mode) and ``val_m`` (selection score). In cv mode ``C`` is the median of the per-fold choices.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.model_selection import StratifiedKFold

from medfx.features.extractor import FeatureKey
from medfx.metrics.classification import METRIC_NAMES, classification_metrics
from medfx.utils.io import jsonable
from medfx.utils.progress import progress_bar

from .linear import DEFAULT_CS, LinearProbe

__all__ = ["ProbeGridResult", "probe_grid", "concat_probe", "refit_test", "cv_label", "METRIC_NAMES"]

logger = logging.getLogger(__name__)

_SPLITS = ("train", "val", "test")


# ---------------------------------------------------------------------------- result


@dataclass
class ProbeGridResult:
    """Probe scores for every ``(block, t)``; see the module docstring for the columns of ``table``."""

    blocks: list[str]
    timesteps: list[int]
    table: list[dict[str, Any]]
    mode: str = "holdout"
    select_metric: str = "auc"
    name: str = ""
    metrics: tuple[str, ...] = field(default=METRIC_NAMES)

    @property
    def score_label(self) -> str:
        """What the reported score (``<metric>_mean``) is: ``"test"`` or ``"<k>-fold CV on train+val"``."""
        if self.mode == "holdout":
            return "test"
        on = {r.get("score_on") for r in self.table} - {None}
        return on.pop() if len(on) == 1 else "CV on train+val"

    def row(self, block: str, t: int) -> dict[str, Any]:
        """The table row of one ``(block, t)``."""
        for r in self.table:
            if r["block"] == block and r["t"] == t:
                return r
        raise KeyError(f"no row for ({block!r}, {t}); blocks={self.blocks}, timesteps={self.timesteps}")

    def _column(self, metric: str, split: str) -> str:
        if metric not in self.metrics:
            raise ValueError(f"metric must be one of {self.metrics}, got {metric!r}")
        if split == "test":
            return f"{metric}_mean"
        if split == "val":
            return f"val_{metric}"
        raise ValueError(f"split must be 'test' (reported score) or 'val' (selection score), got {split!r}")

    def matrix(self, metric: str, split: str = "test") -> np.ndarray:
        """``[n_blocks, n_t]`` scores; ``split="test"``: reported score (``<metric>_mean``; the CV mean in cv
        mode), ``split="val"``: selection score (``val_<metric>``). Missing cells are NaN."""
        return self._matrix_of(self._column(metric, split))

    def matrix_sd(self, metric: str) -> np.ndarray:
        """``[n_blocks, n_t]`` standard deviations of the reported score (NaN in holdout mode)."""
        self._column(metric, "test")
        return self._matrix_of(f"{metric}_sd")

    def _matrix_of(self, col: str) -> np.ndarray:
        out = np.full((len(self.blocks), len(self.timesteps)), np.nan)
        bi = {b: i for i, b in enumerate(self.blocks)}
        ti = {t: j for j, t in enumerate(self.timesteps)}
        for r in self.table:
            v = r[col]
            out[bi[r["block"]], ti[r["t"]]] = np.nan if v is None else float(v)
        return out

    def best(self, metric: str | None = None, by: str = "val") -> FeatureKey:
        """The ``(block, t)`` with the highest selection score (``val_<metric>``); never chosen on test.

        Ties go to the first cell in network order, then the smaller ``t``.
        """
        if by != "val":
            raise ValueError(f"by must be 'val': cells are only ever selected on validation data, got {by!r}")
        metric = metric or self.select_metric
        m = self.matrix(metric, split="val")
        if np.all(np.isnan(m)):
            raise ValueError(f"no finite validation {metric!r} in the grid; cannot choose a best cell")
        i, j = np.unravel_index(np.nanargmax(m), m.shape)
        return self.blocks[i], self.timesteps[j]

    def top(self, k: int, metric: str | None = None, by: str = "val") -> list[FeatureKey]:
        """The ``k`` cells with the highest selection scores (``val_<metric>``), best first; never chosen on test.

        The same order as :meth:`best` (``top(1) == [best()]``): ties go to network order, then the smaller ``t``;
        cells without a finite score come last, and only when fewer than ``k`` have one. ``k`` larger than the grid
        gives every cell.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.best(metric, by)  # the argument checks, and the error when no cell has a finite score
        m = self.matrix(metric or self.select_metric, split="val").ravel()  # row-major: best()'s tie order
        order = sorted(range(m.size), key=lambda i: (np.isnan(m[i]), -np.nan_to_num(m[i], nan=0.0), i))
        return [(self.blocks[i // len(self.timesteps)], self.timesteps[i % len(self.timesteps)]) for i in order[:k]]

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (NaN as ``nan``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.table[0]) if self.table else ["block", "t"])
            writer.writeheader()
            writer.writerows(self.table)
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write metadata and table as strict JSON (NaN as ``null``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "name": self.name,
            "mode": self.mode,
            "select_metric": self.select_metric,
            "metrics": list(self.metrics),
            "blocks": self.blocks,
            "timesteps": self.timesteps,
            "table": [jsonable(r, nan_to_none=True) for r in self.table],
        }
        path.write_text(json.dumps(payload, indent=1, allow_nan=False))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> ProbeGridResult:
        """Read a file written by :meth:`to_json` (``null`` back to NaN)."""
        d = json.loads(Path(path).read_text())
        table = [{k: (math.nan if v is None else v) for k, v in r.items()} for r in d["table"]]
        return cls(
            blocks=list(d["blocks"]),
            timesteps=[int(t) for t in d["timesteps"]],
            table=table,
            mode=d["mode"],
            select_metric=d["select_metric"],
            name=d.get("name", ""),
            metrics=tuple(d.get("metrics", METRIC_NAMES)),
        )


# ---------------------------------------------------------------------------- helpers


def _check_inputs(
    labels: Sequence[int] | np.ndarray, split: Sequence[str] | np.ndarray, num_classes: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    y = np.asarray(labels)
    s = np.asarray(split).astype(str)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"labels and split must be 1-D of equal length, got {y.shape} and {s.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers 0..K-1, got dtype {y.dtype}")
    bad = sorted(set(np.unique(s).tolist()) - set(_SPLITS))
    if bad:
        raise ValueError(f"split values must be in {_SPLITS}, got {bad}")
    if not np.any(s == "train"):
        raise ValueError("split has no 'train' samples")
    k = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if k < 2 or y.min() < 0 or y.max() >= k:
        raise ValueError(
            f"labels must lie in 0..num_classes-1 with num_classes >= 2; got range "
            f"{y.min()}..{y.max()} and num_classes={k}"
        )
    return y.astype(np.int64), s, k


def _check_key(key: Hashable) -> FeatureKey:
    if not (
        isinstance(key, tuple)
        and len(key) == 2
        and isinstance(key[0], str)
        and isinstance(key[1], (int, np.integer))
    ):
        raise ValueError(f"feature keys must be (block: str, t: int) tuples, got {key!r}")
    return key[0], int(key[1])


def _check_features(X: Any, n: int, key: Any) -> np.ndarray:
    if not hasattr(X, "shape") or len(X.shape) != 2:
        raise ValueError(
            f"features[{key!r}] must be a 2-D array [N, D], got shape {getattr(X, 'shape', None)}"
        )
    if X.shape[0] != n:
        raise ValueError(f"features[{key!r}] has {X.shape[0]} rows but labels has {n}")
    return X


def _full_proba(probe: LinearProbe, X: np.ndarray, k: int) -> np.ndarray:
    """Probabilities with one column per class 0..k-1 (zeros for classes absent from training)."""
    p = probe.predict_proba(X)
    out = np.zeros((p.shape[0], k))
    out[:, probe.classes_.astype(int)] = p
    return out


def _scores(y: np.ndarray, proba: np.ndarray, k: int) -> dict[str, float]:
    m = classification_metrics(y, proba, num_classes=k)
    return {name: float(m[name]) for name in METRIC_NAMES}


def _nan_scores() -> dict[str, float]:
    return {name: math.nan for name in METRIC_NAMES}


def _oof_proba(
    X: np.ndarray, y: np.ndarray, C: float, cv: int, seed: int, k: int, **probe_kw: Any
) -> np.ndarray:
    """Out-of-fold probabilities on ``X`` with a fixed ``C``."""
    n_splits = min(cv, int(np.unique(y, return_counts=True)[1].min()))
    if n_splits < 2:
        return np.full((len(y), k), np.nan)
    out = np.zeros((len(y), k))
    for tr, te in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y):
        out[te] = _full_proba(LinearProbe(C=C, random_state=seed, **probe_kw).fit(X[tr], y[tr]), X[te], k)
    return out


def _evaluate(
    X: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    k: int,
    *,
    mode: str,
    folds: int,
    seed: int,
    C: float | str,
    Cs: tuple[float, ...],
) -> dict[str, Any]:
    """One probe cell: the row without ``block`` / ``t``."""
    probe_kw: dict[str, Any] = {"Cs": Cs}
    row: dict[str, Any] = {"C": math.nan, "dims": int(X.shape[1]), "n_eval": 0,
                           "score_on": "test" if mode == "holdout" else cv_label(folds)}
    if mode == "holdout":
        tr, va, te = (np.flatnonzero(s == name) for name in _SPLITS)
        Xtr, ytr = np.asarray(X[tr]), y[tr]
        probe = LinearProbe(C=C, random_state=seed, **probe_kw)
        if va.size:
            Xva = np.asarray(X[va])
            probe.fit(Xtr, ytr, Xva, y[va])
            val = _scores(y[va], _full_proba(probe, Xva, k), k)
        else:
            probe.fit(Xtr, ytr)
            proba = _oof_proba(Xtr, ytr, probe.C_, probe.cv, seed, k, **probe_kw)
            val = _nan_scores() if np.isnan(proba).any() else _scores(ytr, proba, k)
        test = _scores(y[te], _full_proba(probe, np.asarray(X[te]), k), k) if te.size else _nan_scores()
        row.update(C=probe.C_, n_eval=int(te.size))
        for m in METRIC_NAMES:
            row[f"{m}_mean"], row[f"{m}_sd"] = test[m], math.nan
        for m in METRIC_NAMES:
            row[f"val_{m}"] = val[m]
        return row

    pool = np.flatnonzero((s == "train") | (s == "val"))
    Xp, yp = np.asarray(X[pool]), y[pool]
    per_fold, chosen = [], []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(Xp, yp):
        probe = LinearProbe(C=C, random_state=seed, **probe_kw).fit(Xp[tr], yp[tr])
        chosen.append(probe.C_)
        per_fold.append(_scores(yp[te], _full_proba(probe, Xp[te], k), k))
    row.update(C=float(np.median(chosen)), n_eval=int(pool.size))
    for m in METRIC_NAMES:
        v = np.array([f[m] for f in per_fold])
        row[f"{m}_mean"], row[f"{m}_sd"] = float(v.mean()), float(v.std(ddof=1))
    for m in METRIC_NAMES:
        row[f"val_{m}"] = row[f"{m}_mean"]
    return row


def cv_label(folds: int) -> str:
    """The label of a cross-validated score (never the word "test")."""
    return f"{folds}-fold CV on train+val"


def refit_test(
    X: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    split: Sequence[str] | np.ndarray,
    C: float,
    *,
    seed: int = 0,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """Fit one probe with a fixed ``C`` on ``train`` + ``val`` and score it on ``test`` (the test score of a cell
    chosen by cross-validation on train+val; nothing here is chosen on test)."""
    y, s, k = _check_inputs(labels, split, num_classes)
    pool, te = np.flatnonzero((s == "train") | (s == "val")), np.flatnonzero(s == "test")
    if not te.size:
        return {**{m: math.nan for m in METRIC_NAMES}, "n_eval": 0}
    X = np.asarray(X)
    probe = LinearProbe(C=float(C), random_state=seed).fit(X[pool], y[pool])
    return {**_scores(y[te], _full_proba(probe, X[te], k), k), "n_eval": int(te.size)}


def _check_mode(mode: str, folds: int, y: np.ndarray, s: np.ndarray) -> None:
    if mode not in ("holdout", "cv"):
        raise ValueError(f"mode must be 'holdout' or 'cv', got {mode!r}")
    if mode == "cv":
        if not isinstance(folds, int) or folds < 2:
            raise ValueError(f"folds must be an int >= 2, got {folds!r}")
        counts = np.bincount(y[(s == "train") | (s == "val")])
        counts = counts[counts > 0]
        if counts.min() < folds:
            raise ValueError(f"folds={folds} exceeds the smallest class count ({counts.min()}) in train+val")


# ---------------------------------------------------------------------------- API


def probe_grid(
    features: Mapping[FeatureKey, np.ndarray],
    labels: Sequence[int] | np.ndarray,
    split: Sequence[str] | np.ndarray,
    *,
    mode: Literal["holdout", "cv"] = "holdout",
    folds: int = 5,
    seed: int = 0,
    C: float | str = "auto",
    Cs: tuple[float, ...] = DEFAULT_CS,
    num_classes: int | None = None,
    select_metric: str = "auc",
    name: str = "",
    progress: bool = True,
) -> ProbeGridResult:
    """Fit one :class:`LinearProbe` per ``(block, t)`` key of ``features`` (``[N, D]``, memmaps allowed).

    Args:
        features: mapping ``(block, t) -> [N, D]``; block order is the order of first appearance.
        labels: ``[N]`` integer labels ``0..K-1``.
        split: ``[N]`` strings in ``{"train", "val", "test"}``.
        mode: ``"holdout"`` or ``"cv"`` (see module docstring).
        folds: outer folds in cv mode.
        seed: seed of every fold split.
        C: fixed probe ``C`` or ``"auto"``; ``Cs``: candidates for ``"auto"``.
        num_classes: K (default ``max(labels) + 1``).
        select_metric: default metric of :meth:`ProbeGridResult.best`.
        name: dataset / experiment name, used in plot titles.
        progress: show a tqdm bar.
    """
    y, s, k = _check_inputs(labels, split, num_classes)
    _check_mode(mode, folds, y, s)
    if select_metric not in METRIC_NAMES:
        raise ValueError(f"select_metric must be one of {METRIC_NAMES}, got {select_metric!r}")
    keys = [_check_key(key) for key in features.keys()]
    if not keys:
        raise ValueError("features is empty")
    blocks = list(dict.fromkeys(b for b, _ in keys))
    timesteps = sorted({t for _, t in keys})
    order = {b: i for i, b in enumerate(blocks)}
    lookup = {(_check_key(key)): key for key in features.keys()}
    table = []
    for b, t in progress_bar(
        sorted(keys, key=lambda bt: (order[bt[0]], bt[1])), desc="probe grid", enabled=progress
    ):
        X = _check_features(features[lookup[(b, t)]], len(y), (b, t))
        row = {"block": b, "t": t}
        row.update(_evaluate(X, y, s, k, mode=mode, folds=folds, seed=seed, C=C, Cs=Cs))
        table.append(row)
    result = ProbeGridResult(blocks, timesteps, table, mode=mode, select_metric=select_metric, name=name)
    try:
        best = result.best()
        logger.info("probe grid: best cell on validation %s = %s", select_metric, best)
    except ValueError as e:
        logger.warning("probe grid: %s", e)
    return result


def concat_probe(
    features: Mapping[FeatureKey, np.ndarray],
    keys: Sequence[FeatureKey],
    labels: Sequence[int] | np.ndarray,
    split: Sequence[str] | np.ndarray,
    *,
    mode: Literal["holdout", "cv"] = "holdout",
    folds: int = 5,
    seed: int = 0,
    C: float | str = "auto",
    Cs: tuple[float, ...] = DEFAULT_CS,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """One probe on the concatenation (along features) of several ``(block, t)`` arrays.

    Same protocol as :func:`probe_grid`; returns one table row with ``keys`` (list of ``[block, t]``) in place
    of ``block`` / ``t``. Each input dimension is standardised separately, so blocks of different scale
    mix fairly.
    """
    y, s, k = _check_inputs(labels, split, num_classes)
    _check_mode(mode, folds, y, s)
    if len(keys) == 0:
        raise ValueError("keys is empty")
    parts = []
    for key in keys:
        if key not in features:
            raise KeyError(f"{key!r} not in features; available: {list(features.keys())}")
        parts.append(np.asarray(_check_features(features[key], len(y), key)))
    X = np.concatenate(parts, axis=1)
    row: dict[str, Any] = {"keys": [[str(b), int(t)] for b, t in keys]}
    row.update(_evaluate(X, y, s, k, mode=mode, folds=folds, seed=seed, C=C, Cs=Cs))
    return row
