from .schedule import DiffusionConfig, make_scheduler, make_sampler_scheduler
from .losses import ContrastiveConfig, diffusion_loss, contrastive_loss
from .noise import seeded_noise, sample_seeds
from .samplers import sample_images

__all__ = [
    "DiffusionConfig", "make_scheduler", "make_sampler_scheduler", "ContrastiveConfig", "diffusion_loss",
    "contrastive_loss", "seeded_noise", "sample_seeds", "sample_images",
]
