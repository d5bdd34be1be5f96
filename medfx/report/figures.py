"""Figures of the HTML report, drawn from a run's saved files (predictions, histories, images) as PNG bytes.

Every figure uses matplotlib's object API (no pyplot, no global backend) with constrained layout, titles of
at most two short lines set as figure titles (so colourbars never cover them), and a size fixed in inches so
that it is legible at the width the report shows it (``max-width`` 100 % of a 560 px column).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

DPI = 110


def _figure(w: float, h: float, ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def roc_per_seed(y, proba_seeds: np.ndarray, class_names: Sequence[str], title: str) -> bytes | None:
    """ROC of every seed (binary: class 1 vs rest; K > 2: macro view = one panel per seed's per-class curves
    would be unreadable, so the per-class curves of the seed-averaged probabilities are drawn)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.asarray(y)
    k = proba_seeds.shape[2]
    if len(np.unique(y)) < 2:
        return None
    fig, (ax,) = _figure(3.7, 3.4)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    if k == 2:
        for s, p in enumerate(proba_seeds):
            fpr, tpr, _ = roc_curve(y == 1, p[:, 1])
            ax.plot(fpr, tpr, linewidth=1.2, label=f"seed {s}: AUC {roc_auc_score(y == 1, p[:, 1]):.3f}"
                    if len(proba_seeds) > 1 else f"AUC {roc_auc_score(y == 1, p[:, 1]):.3f}")
    else:
        p = proba_seeds.mean(0)
        for c in range(k):
            if (y == c).all() or not (y == c).any():
                continue
            fpr, tpr, _ = roc_curve(y == c, p[:, c])
            ax.plot(fpr, tpr, linewidth=1.2, label=f"{class_names[c]}: {roc_auc_score(y == c, p[:, c]):.3f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def roc_overlay(y, preds: dict[str, np.ndarray], labels: dict[str, str],
                title: str = "ROC, every method (test)") -> bytes | None:
    """Binary tasks: one ROC per method on one plot (scores averaged over the method's seeds)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.asarray(y)
    if not preds or next(iter(preds.values())).shape[2] != 2 or len(np.unique(y)) < 2:
        return None
    fig, (ax,) = _figure(4.6, 4.0)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    for name, p in preds.items():
        score = p.mean(0)[:, 1]
        fpr, tpr, _ = roc_curve(y == 1, score)
        ax.plot(fpr, tpr, linewidth=1.3, label=f"{labels.get(name, name)}: {roc_auc_score(y == 1, score):.3f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right", fontsize=7, title="AUC of seed-averaged scores", title_fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def confusion_summed(cm: np.ndarray, class_names: Sequence[str], title: str) -> bytes:
    """Confusion matrix summed over seeds: counts, with the row-normalised share (recall) underneath."""
    cm = np.asarray(cm, dtype=float)
    k = len(class_names)
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, (ax,) = _figure(2.5 + 0.5 * k, 2.2 + 0.45 * k)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of true class")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]:g}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), class_names, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center", fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def training_curves(histories: dict[str, list[dict]], best: dict[str, int], cap: int | None, select_metric: str,
                    title: str) -> bytes | None:
    """Per seed: training loss and validation ``select_metric`` against the epoch; the best epoch is marked, the
    epoch cap drawn as a dashed line."""
    if not any(histories.values()):
        return None
    fig, (a1, a2) = _figure(9.0, 3.0, ncols=2)
    colours = [f"C{i}" for i in range(10)]
    vkey = "val_loss" if select_metric == "loss" else f"val_{select_metric}"
    for i, (seed, hist) in enumerate(histories.items()):
        ep = [h["epoch"] for h in hist]
        c = colours[i % 10]
        a1.plot(ep, [h.get("train_total", h.get("train_ce")) for h in hist], color=c, label=f"seed {seed} train")
        if any("val_loss" in h for h in hist):
            a1.plot(ep, [h.get("val_loss") for h in hist], color=c, linestyle=":", label=f"seed {seed} val")
        a2.plot(ep, [h.get(vkey) for h in hist], color=c, marker="o", markersize=2.5, label=f"seed {seed}")
        b = best.get(seed)
        if b is not None and b in ep:
            a2.plot([b], [hist[ep.index(b)].get(vkey)], marker="*", markersize=11, color=c, linestyle="none")
    for ax in (a1, a2):
        if cap:
            ax.axvline(cap, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.set_title("loss (train solid, val dotted)", fontsize=8)
    a2.set_ylabel(f"validation {select_metric}")
    a2.set_title(f"val {select_metric}; star = selected epoch" + (f", dashed = cap {cap}" if cap else ""), fontsize=8)
    a1.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def image_grid(images_by_class: dict[str, list[np.ndarray]], title: str) -> bytes | None:
    """A few real images per class (rows labelled with the class); 3D volumes show their middle axial slice."""
    rows = [(c, ims) for c, ims in images_by_class.items() if ims]
    if not rows:
        return None
    ncol = max(len(ims) for _, ims in rows)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.1 * ncol + 1.0, 1.15 * len(rows) + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), ncol, squeeze=False)
    for r, (c, ims) in enumerate(rows):
        for j in range(ncol):
            ax = axes[r][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if j < len(ims):
                ax.imshow(ims[j], cmap="gray", interpolation="nearest")
            if j == 0:
                ax.set_ylabel(str(c), fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def labelled_png(png_bytes: bytes, title: str, width_in: float = 5.0) -> bytes:
    """An existing image (e.g. a DDPM sample grid) re-drawn with a title and pixel-exact tiles."""
    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(png_bytes), format="png")
    h, w = img.shape[:2]
    fig, (ax,) = _figure(width_in, width_in * h / max(w, 1) + 0.5)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return _png(fig)
