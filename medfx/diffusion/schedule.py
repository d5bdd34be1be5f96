"""Noise schedules: thin config over MONAI's DDPM/DDIM schedulers (one timestep convention: ints in [0, T))."""

from __future__ import annotations

from dataclasses import dataclass

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
