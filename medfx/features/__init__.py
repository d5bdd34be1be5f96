"""Block x timestep features: extractor, on-disk feature bank, pooling, hooks, Gaussianity (KS) map."""

from .bank import FeatureBank, extract_bank
from .extractor import FeatureExtractor, FeaturesConfig
from .gaussianity import GaussianityResult, ks_map, plot_gaussianity, rejected_blocks, select_blocks
from .hooks import StopForward, capture, monai_unet_modules
from .pooling import adaptive_pool, pool_features

__all__ = ["FeatureBank", "FeatureExtractor", "FeaturesConfig", "GaussianityResult", "StopForward", "ks_map",
           "plot_gaussianity", "rejected_blocks", "select_blocks", "adaptive_pool", "capture",
           "extract_bank", "monai_unet_modules", "pool_features", "DiffusionFeatures"]


def __getattr__(name):  # scikit-learn is imported only when the transformer is used
    if name == "DiffusionFeatures":
        from .sklearn import DiffusionFeatures

        return DiffusionFeatures
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
