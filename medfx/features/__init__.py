"""Block x timestep features: extractor, on-disk feature bank, pooling, hooks, Gaussianity (KS) map."""

from .bank import FeatureBank, covering_bank, extract_bank, extract_banks
from .extractor import FeatureExtractor, FeaturesConfig
from .gaussianity import GaussianityResult, ks_map, plot_gaussianity, rejected_blocks, select_blocks
from .hooks import StopForward, capture, monai_unet_modules
from .pooling import adaptive_pool, pool_features

__all__ = ["FeatureBank", "FeatureExtractor", "FeaturesConfig", "GaussianityResult", "StopForward", "ks_map",
           "plot_gaussianity", "rejected_blocks", "select_blocks", "adaptive_pool", "capture",
           "covering_bank", "extract_bank", "extract_banks", "monai_unet_modules", "pool_features"]
