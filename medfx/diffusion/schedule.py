"""The noise process: its config, MONAI's DDPM scheduler behind it, and :class:`NoiseProcess`, the one place medfx
noises images (q(x_t | x_0)) or reads the alpha tables (x0 from eps and back). One timestep convention: ints in
[0, T)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.networks.schedulers import DDPMScheduler

SCHEDULES = ("linear_beta", "scaled_linear_beta", "sigmoid_beta", "cosine")


@dataclass
class DiffusionConfig:
    num_train_timesteps: int = 1000  # T; training and feature timesteps are integers in [0, T)
    schedule: str = "linear_beta"  # one of linear_beta, scaled_linear_beta, sigmoid_beta, cosine (MONAI names)
    beta_start: float = 1e-4  # first beta (ignored by cosine)
    beta_end: float = 0.02  # last beta (ignored by cosine)
    prediction: str = "epsilon"  # the network predicts the noise
    class_dropout: float = 0.1  # conditional models: probability of training with the "no class" label (CFG)

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.num_train_timesteps < 2:
            raise ValueError("num_train_timesteps must be >= 2")
        if self.prediction != "epsilon":
            raise ValueError("only prediction='epsilon' is supported")
        if not 0.0 <= self.class_dropout < 1.0:
            raise ValueError("class_dropout must be in [0, 1)")


def _beta_kwargs(cfg: DiffusionConfig) -> dict:
    kw = dict(num_train_timesteps=cfg.num_train_timesteps, schedule=cfg.schedule)
    if cfg.schedule != "cosine":
        kw.update(beta_start=cfg.beta_start, beta_end=cfg.beta_end)
    return kw


def make_scheduler(cfg: DiffusionConfig) -> DDPMScheduler:
    """The training (forward-process) scheduler: ``add_noise`` and the alpha tables."""
    return DDPMScheduler(**_beta_kwargs(cfg), prediction_type=cfg.prediction, clip_sample=False)


class NoiseProcess:
    """The forward process of one :class:`DiffusionConfig` and its inversion, for training, feature extraction,
    the D-Cube cycle loss and sampling. ``add_noise`` is MONAI's ``DDPMScheduler.add_noise``."""

    def __init__(self, cfg: DiffusionConfig):
        self.cfg = cfg
        self.scheduler = make_scheduler(cfg)
        self.num_train_timesteps = cfg.num_train_timesteps

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` per sample (``t``: long ``[B]``)."""
        return self.scheduler.add_noise(original_samples=x0, noise=noise, timesteps=t)

    def alpha_bar(self, t: int, device=None, dtype=torch.float64) -> torch.Tensor:
        """``abar_t`` as a scalar tensor; ``t = -1`` is the clean image (``abar = 1``), the end of a sampler."""
        if t < 0:
            return torch.ones((), dtype=dtype, device=device)
        return self.scheduler.alphas_cumprod[t].to(device=device, dtype=dtype)

    @staticmethod
    def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, a_t: torch.Tensor) -> torch.Tensor:
        """The clean image implied by the noise prediction ``eps`` at ``abar_t = a_t``."""
        return (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()

    @staticmethod
    def predict_eps(x_t: torch.Tensor, x0: torch.Tensor, a_t: torch.Tensor) -> torch.Tensor:
        """The noise implied by the clean image ``x0`` at ``abar_t = a_t`` (inverse of :meth:`predict_x0`)."""
        return (x_t - a_t.sqrt() * x0) / (1 - a_t).sqrt()
