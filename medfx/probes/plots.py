"""Heatmaps of probe-grid scores (blocks x timesteps). Uses matplotlib's object API (no pyplot state)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .grid import ProbeGridResult

__all__ = ["plot_heatmap", "plot_all_heatmaps"]

logger = logging.getLogger(__name__)


def plot_heatmap(result: ProbeGridResult, metric: str, path: str | Path, split: str = "test") -> Path:
    """Save a blocks (y) x timesteps (x) heatmap of ``metric`` with values in the cells.

    The best cell, chosen on validation (:meth:`ProbeGridResult.best`), is outlined. ``split`` as in
    :meth:`ProbeGridResult.matrix`.
    """
    m = result.matrix(metric, split=split)
    sd = result.matrix_sd(metric) if split == "test" and result.mode == "cv" else None
    n_b, n_t = m.shape
    fig = Figure(figsize=(max(4.5, 1.6 + 0.9 * n_t), max(3.0, 1.2 + 0.45 * n_b)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = m[np.isfinite(m)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(
        np.ma.masked_invalid(m), cmap="viridis", aspect="auto", vmin=vmin, vmax=max(vmax, vmin + 1e-9)
    )
    mid = (vmin + vmax) / 2
    for i in range(n_b):
        for j in range(n_t):
            v = m[i, j]
            text = "–" if np.isnan(v) else f"{v:.3f}"
            if sd is not None and np.isfinite(sd[i, j]):
                text += f"\n±{sd[i, j]:.3f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if np.isfinite(v) and v < mid else "black",
            )
    try:
        b, t = result.best(metric)
        i, j = result.blocks.index(b), result.timesteps.index(t)
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
    except ValueError as e:
        logger.warning("heatmap %s: no best cell marked (%s)", metric, e)
    ax.set_xticks(range(n_t), [str(t) for t in result.timesteps])
    ax.set_yticks(range(n_b), result.blocks)
    ax.set_xlabel("timestep t")
    ax.set_ylabel("block")
    what = (
        "test" if result.mode == "holdout" and split == "test" else ("CV mean" if split == "test" else "val")
    )
    prefix = f"{result.name}: " if result.name else ""
    chosen = "best by CV mean" if result.mode == "cv" else "best on val"
    ax.set_title(f"{prefix}{metric} ({what})\nred box = {chosen}", fontsize=9)  # two short lines: never clipped
    fig.colorbar(im, ax=ax, label=metric)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_all_heatmaps(result: ProbeGridResult, out_dir: str | Path, split: str = "test") -> list[Path]:
    """One heatmap per metric, saved as ``out_dir/probe_<metric>_<split>.png``."""
    out_dir = Path(out_dir)
    return [plot_heatmap(result, m, out_dir / f"probe_{m}_{split}.png", split=split) for m in result.metrics]
