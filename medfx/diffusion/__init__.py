from .losses import ContrastiveConfig, contrastive_loss, diffusion_loss
from .noise import sample_seeds, seeded_noise
from .samplers import sample_images
from .schedule import DiffusionConfig, NoiseProcess, make_scheduler

__all__ = [
    "DiffusionConfig", "NoiseProcess", "make_scheduler", "ContrastiveConfig", "diffusion_loss",
    "contrastive_loss", "seeded_noise", "sample_seeds", "sample_images",
]
