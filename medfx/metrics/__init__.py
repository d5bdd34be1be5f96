"""Evaluation: classification metrics and plots; Fréchet distances with pluggable, locally loaded detectors."""

from .classification import (
    METRIC_NAMES,
    classification_metrics,
    format_mean_sd,
    plot_confusion,
    plot_roc,
)
from .detectors import (
    ClassifierDetector,
    Detector,
    DiffusionFeatureDetector,
    InceptionDetector,
    RandomConvDetector,
    default_detector,
    global_pool,
)
from .fid import (
    FeatureStats,
    compute_features,
    compute_stats,
    coverage,
    fid,
    frechet_distance,
    frechet_distance_from_moments,
    precision_recall,
)

__all__ = [
    "METRIC_NAMES",
    "ClassifierDetector",
    "Detector",
    "DiffusionFeatureDetector",
    "FeatureStats",
    "InceptionDetector",
    "RandomConvDetector",
    "classification_metrics",
    "compute_features",
    "compute_stats",
    "coverage",
    "default_detector",
    "fid",
    "format_mean_sd",
    "frechet_distance",
    "frechet_distance_from_moments",
    "global_pool",
    "plot_confusion",
    "plot_roc",
    "precision_recall",
]
