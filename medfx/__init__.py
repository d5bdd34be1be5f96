"""medfx: diffusion models as feature extractors for 2D and 3D medical image classification."""

__version__ = "0.1.0"
