"""Gaussianity map: a Kolmogorov–Smirnov test per ``(block, t)`` feature set.

What exactly is tested, for each key ``(block, t)``:

1. Take the feature matrix ``X [N, D]`` of the samples in ``use_split`` (default the **training**
   split, so that no validation or test data influences block selection; all rows when ``split``
   is ``None``).
2. Optionally keep a seeded random subset of ``max_dims`` dimensions (speed).
3. z-score every dimension over the samples (mean, sd with ddof=1). Constant dimensions are
   dropped and counted in ``n_constant``.
4. Run a one-sample KS test of each dimension ``z[:, d]`` against N(0, 1) (``scipy.stats.ks_1samp``).
5. Aggregate the ``D`` per-dimension results into one row:

   * ``statistic``: median KS statistic over dimensions; ``max_statistic``: the largest;
   * ``pvalue``, by ``aggregate``: ``"median"`` (default) the median p-value, a robust
     "typical dimension" summary; ``"min_bonferroni"`` ``min(1, D * min p)``, i.e. "is any
     dimension non-Gaussian", valid under any dependence; ``"fisher"`` Fisher's combined p-value,
     which assumes independent dimensions and is anti-conservative for correlated features;
   * ``frac_reject``: fraction of dimensions with ``p < alpha`` (uncorrected).

Why per dimension: KS assumes i.i.d. draws from one continuous distribution. Within one dimension
the samples are i.i.d.; pooling all ``N * D`` values would mix dimensions of different shapes (a
mixture of Gaussians with different variances is not Gaussian even after global standardisation)
and would make the sample so large that every p-value underflows to 0, so the map would carry no
information.

Caveat: the mean and sd are estimated from the same sample, so the plain KS p-values are
conservative (biased toward 1; the Lilliefors problem). ``p < alpha`` is thus a strict criterion
for "non-Gaussian".
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import stats

from ..utils.progress import progress_bar
from .extractor import FeatureKey

__all__ = [
    "GaussianityResult",
    "ks_map",
    "ks_per_dimension",
    "select_blocks",
    "rejected_blocks",
    "plot_gaussianity",
    "ks_block_map",
    "plot_block_map",
    "same_t_pairs",
]

logger = logging.getLogger(__name__)

_AGGREGATES = ("median", "min_bonferroni", "fisher")


@dataclass
class GaussianityResult:
    """KS rows per ``(block, t)``.

    Row keys: ``block, t, statistic, max_statistic, pvalue, frac_reject, n, dims, n_constant``.
    """

    blocks: list[str]
    timesteps: list[int]
    table: list[dict[str, Any]]
    alpha: float = 0.05
    aggregate: str = "median"
    use_split: str | None = "train"

    def matrix(self, column: str = "pvalue") -> np.ndarray:
        """``[n_blocks, n_t]`` array of one numeric column; missing cells are NaN."""
        if column not in ("statistic", "max_statistic", "pvalue", "frac_reject", "n", "dims", "n_constant"):
            raise ValueError(f"unknown column {column!r}")
        out = np.full((len(self.blocks), len(self.timesteps)), np.nan)
        bi = {b: i for i, b in enumerate(self.blocks)}
        ti = {t: j for j, t in enumerate(self.timesteps)}
        for r in self.table:
            out[bi[r["block"]], ti[r["t"]]] = r[column]
        return out

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.table[0]))
            writer.writeheader()
            writer.writerows(self.table)
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write metadata and table as strict JSON (NaN as ``null``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in self.table
        ]
        payload = {
            "alpha": self.alpha,
            "aggregate": self.aggregate,
            "use_split": self.use_split,
            "blocks": self.blocks,
            "timesteps": self.timesteps,
            "table": rows,
        }
        path.write_text(json.dumps(payload, indent=1, allow_nan=False))
        return path


# ---------------------------------------------------------------------------- core


def ks_per_dimension(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """KS statistic and p-value of every non-constant column of ``X [N, D]`` after z-scoring, and the number
    of constant columns that were dropped."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D [N, D], got shape {X.shape}")
    if X.shape[0] < 3:
        raise ValueError(f"need at least 3 samples for a KS test, got {X.shape[0]}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf")
    sd = X.std(axis=0, ddof=1)
    keep = sd > 1e-12 * np.maximum(np.abs(X).max(axis=0), 1.0)
    z = (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep]
    if z.shape[1] == 0:
        return np.empty(0), np.empty(0), int((~keep).sum())
    res = stats.ks_1samp(z, stats.norm.cdf, axis=0)
    return np.atleast_1d(res.statistic), np.atleast_1d(res.pvalue), int((~keep).sum())


def _dim_subset(dims: int, max_dims: int | None, seed: int) -> np.ndarray:
    """The dimensions tested: all, or a seeded random subset of ``max_dims`` (sorted)."""
    if max_dims is not None and dims > max_dims:
        return np.sort(np.random.default_rng(seed).choice(dims, size=max_dims, replace=False))
    return np.arange(dims)


def _ks_row(X: np.ndarray, alpha: float, aggregate: str) -> dict[str, Any]:
    """KS statistics of one ``[n, D]`` array (median / max D, aggregated p-value, share of dimensions rejected
    at ``alpha``); NaN when every dimension is constant."""
    d_stat, p, n_const = ks_per_dimension(X)
    if p.size == 0:
        stat = max_stat = pval = frac = math.nan
    else:
        stat, max_stat = float(np.median(d_stat)), float(d_stat.max())
        pval, frac = _aggregate_p(p, aggregate), float(np.mean(p < alpha))
    return {"statistic": stat, "max_statistic": max_stat, "pvalue": pval, "frac_reject": frac,
            "n": int(X.shape[0]), "dims": int(p.size), "n_constant": n_const}


def _aggregate_p(p: np.ndarray, aggregate: str) -> float:
    if aggregate == "median":
        return float(np.median(p))
    if aggregate == "min_bonferroni":
        return float(min(1.0, p.min() * p.size))
    return float(stats.combine_pvalues(np.clip(p, np.finfo(float).tiny, 1.0), method="fisher").pvalue)


def ks_map(
    features: Mapping[FeatureKey, np.ndarray],
    split: Sequence[str] | np.ndarray | None = None,
    use_split: str = "train",
    alpha: float = 0.05,
    *,
    max_dims: int | None = None,
    aggregate: Literal["median", "min_bonferroni", "fisher"] = "median",
    seed: int = 0,
    progress: bool = False,
) -> GaussianityResult:
    """KS test against N(0, 1) for every ``(block, t)`` of ``features`` (protocol: module docstring).

    Args:
        features: mapping ``(block, t) -> [N, D]`` (memmaps allowed); block order = order of first appearance.
        split: ``[N]`` split names, or ``None`` to test all rows.
        use_split: which split's rows are tested (ignored when ``split`` is ``None``).
        alpha: level used for ``frac_reject`` and stored for :func:`select_blocks`.
        max_dims: test a seeded random subset of at most this many dimensions per key.
        aggregate: how per-dimension p-values become one p-value per key.
        seed: seed of the dimension subset.
        progress: show a tqdm bar.
    """
    if aggregate not in _AGGREGATES:
        raise ValueError(f"aggregate must be one of {_AGGREGATES}, got {aggregate!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if max_dims is not None and max_dims < 1:
        raise ValueError(f"max_dims must be a positive int or None, got {max_dims}")
    if len(features) == 0:
        raise ValueError("features is empty")
    rows_mask = None
    if split is not None:
        s = np.asarray(split).astype(str)
        rows_mask = np.flatnonzero(s == use_split)
        if rows_mask.size == 0:
            raise ValueError(f"split has no {use_split!r} samples; values are {sorted(set(s.tolist()))}")
    keys = list(features.keys())
    for key in keys:
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str)):
            raise ValueError(f"feature keys must be (block: str, t: int) tuples, got {key!r}")
    blocks = list(dict.fromkeys(b for b, _ in keys))
    order = {b: i for i, b in enumerate(blocks)}
    table = []
    for key in progress_bar(
        sorted(keys, key=lambda k: (order[k[0]], int(k[1]))), desc="KS map", enabled=progress
    ):
        X = features[key]
        if len(X.shape) != 2:
            raise ValueError(f"features[{key!r}] must be 2-D [N, D], got shape {X.shape}")
        if rows_mask is not None:
            if X.shape[0] != len(s):
                raise ValueError(f"features[{key!r}] has {X.shape[0]} rows but split has {len(s)}")
            X = X[rows_mask]
        if max_dims is not None and X.shape[1] > max_dims:
            X = np.asarray(X)[:, _dim_subset(X.shape[1], max_dims, seed)]
        if X.shape[0] < 20:
            logger.warning("KS map %s: only %d samples; the test has little power", key, X.shape[0])
        row = _ks_row(X, alpha, aggregate)
        if row["dims"] == 0:
            logger.warning("KS map %s: all %d dimensions are constant; p-value set to NaN", key, row["n_constant"])
        table.append({"block": key[0], "t": int(key[1]), **row})
    timesteps = sorted({int(t) for _, t in keys})
    return GaussianityResult(
        blocks,
        timesteps,
        table,
        alpha=alpha,
        aggregate=aggregate,
        use_split=use_split if split is not None else None,
    )


# ---------------------------------------------------------------------------- selection


def _candidate_rows(result: GaussianityResult, t: int | None) -> list[dict[str, Any]]:
    rows = [r for r in result.table if not math.isnan(r["pvalue"])]
    if t is not None:
        if t not in result.timesteps:
            raise ValueError(f"t={t} not in the map; timesteps are {result.timesteps}")
        rows = [r for r in rows if r["t"] == t]
    if not rows:
        raise ValueError("no (block, t) with a finite p-value to select from")
    return rows


def _network_rank(result: GaussianityResult, r: dict[str, Any]) -> tuple[int, int]:
    return result.blocks.index(r["block"]), r["t"]


def _choose(result: GaussianityResult, t, top_k, sign: int, passes, warning) -> list[FeatureKey]:
    """Rows ordered by ``sign * pvalue`` (then ``-sign * statistic``, then network order), those that pass, at most
    ``top_k``; when none pass, the first ``top_k`` (default 3) rows with a logged warning."""
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive int or None, got {top_k}")
    rows = sorted(_candidate_rows(result, t),
                  key=lambda r: (sign * r["pvalue"], -sign * r["statistic"], *_network_rank(result, r)))
    chosen = [r for r in rows if passes(r["pvalue"])]
    if not chosen:
        k = top_k or 3
        logger.warning(warning[0], warning[1], k)
        chosen = rows[:k]
    elif top_k is not None:
        chosen = chosen[:top_k]
    return [(r["block"], r["t"]) for r in chosen]


def select_blocks(
    result: GaussianityResult, alpha: float = 0.05, top_k: int | None = None, t: int | None = None
) -> list[FeatureKey]:
    """Non-Gaussian keys (``pvalue < alpha``), most non-Gaussian first, at most ``top_k``.

    Order: p-value ascending, then median KS statistic descending, then network order. Only timestep ``t``
    is considered when given. If no key passes, the ``top_k`` (default 3) smallest-p keys are returned and a
    warning is logged.
    """
    return _choose(result, t, top_k, sign=1, passes=lambda p: p < alpha,
                   warning=("select_blocks: no (block, t) has p < %g; falling back to the %d smallest p-values", alpha))


def rejected_blocks(
    result: GaussianityResult, alpha: float = 0.05, top_k: int | None = None, t: int | None = None
) -> list[FeatureKey]:
    """Complement of :func:`select_blocks`: Gaussian-looking keys (``pvalue >= alpha``), most Gaussian first.

    Order: p-value descending, then statistic ascending, then network order. If none pass, the ``top_k``
    (default 3) largest-p keys are returned and a warning is logged.
    """
    return _choose(result, t, top_k, sign=-1, passes=lambda p: p >= alpha,
                   warning=("rejected_blocks: no (block, t) has p >= %g; falling back to the %d largest p-values",
                            alpha))


def same_t_pairs(result: GaussianityResult, alpha: float = 0.05, top_k: int | None = 3) -> list[dict[str, Any]]:
    """For every timestep: the most non-Gaussian and the most Gaussian blocks *at that t*, equally many of each
    (the smaller side sets the count, so a probe never wins by having more blocks to concatenate).

    Comparing probes on these two sets controls for the noise level, which the global selection does not (its
    rejected keys are often all at the largest t). ``"fallback"`` names the side whose keys do not pass their test
    at that t (``"selected"``: no block is non-Gaussian there; ``"rejected"``: none is Gaussian; else None).
    Timesteps where the two sets would overlap or one is empty are reported with ``"usable": False``."""
    pv = {(r["block"], r["t"]): r["pvalue"] for r in result.table}
    out = []
    for t in result.timesteps:
        try:
            sel = select_blocks(result, alpha=alpha, top_k=top_k, t=t)
            rej = rejected_blocks(result, alpha=alpha, top_k=len(sel), t=t)
        except ValueError:
            continue
        k = min(len(sel), len(rej))
        sel, rej = sel[:k], rej[:k]
        fallback = ("selected" if not any(pv[x] < alpha for x in sel) else
                    "rejected" if not any(pv[x] >= alpha for x in rej) else None)
        usable = bool(sel and rej and not set(sel) & set(rej))
        out.append({"t": int(t), "selected": [list(x) for x in sel], "rejected": [list(x) for x in rej],
                    "fallback": fallback if k else None, "usable": usable})
    return out


def ks_block_map(
    features: Mapping[FeatureKey, np.ndarray],
    split: Sequence[str] | np.ndarray | None = None,
    use_split: str = "train",
    alpha: float = 0.05,
    *,
    max_dims: int | None = None,
    aggregate: Literal["median", "min_bonferroni", "fisher"] = "median",
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One KS row per block over *all* timesteps of the map: the rows of every ``(block, t)`` are stacked, so each
    dimension is tested on the mixture over t, the distribution a random t per sample produces (the per-layer
    map the D-Cube paper plots). Row keys as in :func:`ks_map` with ``t`` = ``"all"`` and ``timesteps``."""
    rows_mask = None
    if split is not None:
        rows_mask = np.flatnonzero(np.asarray(split).astype(str) == use_split)
    keys = list(features.keys())
    blocks = list(dict.fromkeys(b for b, _ in keys))
    out = []
    for b in blocks:
        ts = sorted(int(t) for bb, t in keys if bb == b)
        parts = []
        cols = None
        for t in ts:
            X = np.asarray(features[(b, t)])
            X = X if rows_mask is None else X[rows_mask]
            if cols is None:
                cols = _dim_subset(X.shape[1], max_dims, seed)
            parts.append(X[:, cols])
        out.append({"block": b, "t": "all", "timesteps": ts, **_ks_row(np.concatenate(parts, 0), alpha, aggregate)})
    return out


def plot_block_map(rows: list[dict[str, Any]], path: str | Path, alpha: float = 0.05) -> Path:
    """Bar chart of the per-block KS p-value over all t (log scale), dashed line at ``alpha``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    floor = 1e-16
    fig = Figure(figsize=(max(5.0, 0.6 * len(rows) + 2.0), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    p = np.array([r["pvalue"] for r in rows], dtype=float)
    ax.bar(x, np.clip(np.nan_to_num(p, nan=1.0), floor, 1.0), color=["C3" if v < alpha else "C0" for v in p])
    ax.axhline(alpha, color="k", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, 1.5)
    ax.set_xticks(x, [r["block"] for r in rows], rotation=45, ha="right")
    ax.set_ylabel("KS p-value, all t pooled")
    ax.set_title("per-block Gaussianity over all t (red: non-Gaussian)", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


# ---------------------------------------------------------------------------- plot


def plot_gaussianity(result: GaussianityResult, path: str | Path, alpha: float = 0.05) -> Path:
    """p-value per block (x, network order; log y), one line per timestep, dashed line at ``alpha``.

    p-values below ``1e-16`` are drawn at ``1e-16``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    floor = 1e-16
    p = result.matrix("pvalue")
    fig = Figure(figsize=(max(5.0, 0.6 * len(result.blocks) + 2.0), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(result.blocks))
    for j, t in enumerate(result.timesteps):
        ax.plot(x, np.clip(p[:, j], floor, 1.0), marker="o", label=f"t={t}")
    ax.axhline(alpha, color="k", linestyle="--", linewidth=1, label=f"alpha={alpha:g}")
    ax.set_yscale("log")
    finite = p[np.isfinite(p)]
    low = max(floor, float(finite.min())) if finite.size else floor
    ax.set_ylim(min(low, alpha) / 3, 1.5)  # use the height for the p-values there are (and always show alpha)
    ax.set_xticks(x, result.blocks, rotation=45, ha="right")
    ax.set_xlabel("block")
    ax.set_ylabel(f"KS p-value ({result.aggregate} over dims)")
    split = f"{result.use_split} split" if result.use_split else "all samples"
    ax.set_title(f"KS Gaussianity map ({split}); below alpha = non-Gaussian", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
