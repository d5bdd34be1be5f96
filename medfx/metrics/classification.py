"""Classification metrics, seed summaries and plots.

``classification_metrics`` takes class probabilities (or any per-class scores) ``[N, K]`` and true
labels ``0..K-1``; predictions are the argmax. AUC follows the MedMNIST evaluator: the class-1
score for K = 2 and the macro one-vs-rest mean for K > 2. When a class is missing from ``y_true``
the AUC is undefined and reported as NaN (never an exception), so that one odd fold does not
crash a cross-validation run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve

logger = logging.getLogger(__name__)

METRIC_NAMES = ("acc", "bacc", "precision", "recall", "f1", "auc")


def _to_numpy(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _check_inputs(y_true, proba, num_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    y = _to_numpy(y_true)
    p = _to_numpy(proba).astype(np.float64)
    if p.ndim != 2:
        raise ValueError(f"proba must have shape [N, K], got {p.shape}")
    if y.ndim != 1 or y.shape[0] != p.shape[0]:
        raise ValueError(f"y_true must have shape [N] with N={p.shape[0]} (rows of proba), got {y.shape}")
    if y.shape[0] == 0:
        raise ValueError("y_true is empty")
    k = p.shape[1] if num_classes is None else int(num_classes)
    if p.shape[1] != k:
        raise ValueError(f"num_classes={k} but proba has {p.shape[1]} columns")
    if k < 2:
        raise ValueError(f"num_classes must be >= 2, got {k}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("y_true must hold integer class labels 0..K-1")
        y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"y_true labels must lie in 0..{k - 1}, got range {y.min()}..{y.max()}")
    return y, p, k


def _auc(y: np.ndarray, p: np.ndarray, k: int) -> float:
    present = np.unique(y)
    if len(present) < k:
        logger.warning("AUC undefined: classes %s absent from y_true; reporting NaN",
                       sorted(set(range(k)) - set(present.tolist())))
        return math.nan
    import sklearn

    with sklearn.config_context(skip_parameter_validation=True):  # arguments checked above
        if k == 2:
            return float(roc_auc_score(y, p[:, 1]))
        # macro one-vs-rest, computed per class so that scores need not sum to one (e.g. logits)
        return float(np.mean([roc_auc_score(y == c, p[:, c]) for c in range(k)]))


def classification_metrics(y_true, proba, num_classes: int | None = None) -> dict[str, float | int | list]:
    """Accuracy, balanced accuracy, macro precision / recall / F1, AUC, confusion matrix and ``n``.

    ``y_true``: ``[N]`` integer labels in ``0..K-1``; ``proba``: ``[N, K]`` scores (numpy or torch).
    Macro precision / recall / F1 use ``zero_division=0`` and average over the classes that occur
    in ``y_true`` or in the predictions (scikit-learn's default); balanced accuracy averages the
    recall of the classes present in ``y_true``. ``confusion[i][j]`` counts true ``i`` predicted ``j``.
    """
    y, p, k = _check_inputs(y_true, proba, num_classes)
    pred = p.argmax(axis=1)
    # every argmax metric from one confusion matrix (scikit-learn's definitions; tests compare against it):
    # a large part of a small model's evaluation time was scikit-learn's per-call input checks
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(np.float64)
    true_n, pred_n = cm.sum(1).astype(np.float64), cm.sum(0).astype(np.float64)
    seen = (true_n > 0) | (pred_n > 0)  # labels in y_true or in the predictions
    recall_c = np.divide(tp, true_n, out=np.zeros(k), where=true_n > 0)
    precision_c = np.divide(tp, pred_n, out=np.zeros(k), where=pred_n > 0)
    f1_den = 2 * tp + (pred_n - tp) + (true_n - tp)
    f1_c = np.divide(2 * tp, f1_den, out=np.zeros(k), where=f1_den > 0)
    return {
        "acc": float(tp.sum() / y.shape[0]),
        "bacc": float(np.mean(recall_c[true_n > 0])),
        "precision": float(np.mean(precision_c[seen])),
        "recall": float(np.mean(recall_c[seen])),
        "f1": float(np.mean(f1_c[seen])),
        "auc": _auc(y, p, k),
        "confusion": cm.tolist(),
        "n": int(y.shape[0]),
    }


def format_mean_sd(mean: float | None, sd: float | None, digits: int = 3) -> str:
    """``"0.912 ± 0.011"``; ``"0.912"`` when ``sd`` is None (one seed or a deterministic method: no spread);
    NaN or None prints as ``"nan"``."""
    if mean is None or math.isnan(mean):
        return "nan"
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


# -- plots ----------------------------------------------------------------------------------
def _new_figure(figsize: tuple[float, float]):
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas on savefig

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots()


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_confusion(cm, class_names: Sequence[str], path, title: str | None = None) -> Path:
    """Confusion matrix heat map with counts; rows = true class, columns = predicted class."""
    cm = np.asarray(cm)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"cm must have shape ({k}, {k}) to match class_names, got {cm.shape}")
    fig, ax = _new_figure((2.6 + 0.6 * k, 2.2 + 0.6 * k))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8, label="count")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticklabels(class_names)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]:g}", ha="center", va="center",
                    color="white" if cm[i, j] > threshold else "black")
    if title:  # a figure title (above the colourbar too), so the colourbar never covers it
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_roc(y_true, proba, class_names: Sequence[str], path, title: str | None = None) -> Path:
    """ROC curves: one (class 1 vs 0) for binary tasks, one-vs-rest per class for K > 2.

    Classes absent from ``y_true`` have no ROC curve and are left out of the legend.
    """
    y, p, k = _check_inputs(y_true, proba, len(class_names))
    fig, ax = _new_figure((4.5, 4.0))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    classes = [1] if k == 2 else list(range(k))
    for c in classes:
        target = y == c
        if target.all() or not target.any():
            continue
        fpr, tpr, _ = roc_curve(target, p[:, c])
        auc = roc_auc_score(target, p[:, c])
        label = f"AUC = {auc:.3f}" if k == 2 else f"{class_names[c]} (AUC = {auc:.3f})"
        ax.plot(fpr, tpr, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right", fontsize="small")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)
