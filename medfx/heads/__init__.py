"""Classifiers on frozen diffusion features (CATS-like and D-Cube heads) and the shared training harness."""

from .cats import (
    PAPER3D_CATS_PARAMS,
    CATSHead,
    cats_param_count_for,
    feature_shapes,
    paper3d_cats_config,
    plot_mixing_weights,
)
from .dcube import DCubeHead, DCubeLoss, cycle_loss, dcube_loss
from .trainer import (
    ClassifierData,
    FitResult,
    HeadTrainConfig,
    evaluate,
    fit_classifier,
    load_classifier,
    predict_proba,
    save_classifier,
)

__all__ = [
    "PAPER3D_CATS_PARAMS",
    "CATSHead",
    "ClassifierData",
    "DCubeHead",
    "DCubeLoss",
    "FitResult",
    "HeadTrainConfig",
    "cats_param_count_for",
    "cycle_loss",
    "dcube_loss",
    "evaluate",
    "feature_shapes",
    "fit_classifier",
    "load_classifier",
    "paper3d_cats_config",
    "plot_mixing_weights",
    "predict_proba",
    "save_classifier",
]
