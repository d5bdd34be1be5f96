"""MONAI ``AutoencoderKL`` for latent diffusion (2D and 3D through ``spatial_dims``).

The autoencoder maps an image ``[C, *spatial]`` to a latent ``[latent_channels, *spatial / 2**(levels-1)]``;
the diffusion U-Net is then trained on (and features are read from) the scaled latent ``z * scale_factor``.
medfx uses the posterior mean ``z_mu`` as the latent (deterministic: the same image always gives the same
latent, so a feature bank does not depend on a sampling draw).

The spec ``{"arch": "autoencoder_kl", "config": {...}}`` is what checkpoints store to rebuild the network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from monai.networks.nets import AutoencoderKL

from ..utils.dataclass_io import from_dict, to_dict

ARCH = "autoencoder_kl"


@dataclass
class AutoencoderConfig:
    spatial_dims: int = 2  # 2 for images, 3 for volumes
    in_channels: int = 1  # image channels (medfx data are single-channel)
    latent_channels: int = 3  # channels of the latent the diffusion model sees
    channels: tuple[int, ...] = (32, 64, 64)  # channels per level; every level but the last halves the size
    attention_levels: tuple[bool, ...] = (False, False, False)  # self-attention at each level
    num_res_blocks: int = 1  # residual blocks per level
    norm_num_groups: int = 16  # GroupNorm groups (must divide every entry of channels)
    norm_eps: float = 1e-6  # GroupNorm epsilon
    nonlocal_attn: bool = False  # attention in the encoder's and decoder's bottleneck (MONAI's default is on)
    use_checkpoint: bool = False  # activation checkpointing of the residual blocks while training (less memory)

    def __post_init__(self):
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if len(self.attention_levels) != len(self.channels):
            raise ValueError(f"attention_levels has {len(self.attention_levels)} entries but channels has "
                             f"{len(self.channels)}")
        bad = [c for c in self.channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"norm_num_groups={self.norm_num_groups} does not divide channels {bad}")
        if self.latent_channels < 1 or self.num_res_blocks < 1:
            raise ValueError("latent_channels and num_res_blocks must be >= 1")

    @property
    def reduction(self) -> int:
        """Downsampling factor per axis between image and latent."""
        return 2 ** (len(self.channels) - 1)

    def latent_shape(self, image_shape) -> tuple[int, ...]:
        """``[latent_channels, *spatial]`` of the latent of an image of spatial shape ``image_shape``."""
        r = self.reduction
        bad = [s for s in image_shape if s % r]
        if bad:
            raise ValueError(f"image size {tuple(image_shape)} is not divisible by the autoencoder's reduction {r} "
                             f"({len(self.channels)} levels); change data.size or latent.channels")
        return (self.latent_channels, *(s // r for s in image_shape))


def autoencoder_spec(cfg: AutoencoderConfig) -> dict:
    return {"arch": ARCH, "config": to_dict(cfg)}


def build_autoencoder(spec_or_cfg) -> AutoencoderKL:
    """A MONAI ``AutoencoderKL`` from an ``AutoencoderConfig`` or its spec dict."""
    cfg = spec_or_cfg
    if isinstance(cfg, dict):
        if cfg.get("arch") != ARCH:
            raise ValueError(f"not an autoencoder spec (arch {cfg.get('arch')!r}, expected {ARCH!r})")
        cfg = from_dict(AutoencoderConfig, cfg["config"])
    return AutoencoderKL(
        spatial_dims=cfg.spatial_dims, in_channels=cfg.in_channels, out_channels=cfg.in_channels,
        num_res_blocks=cfg.num_res_blocks, channels=tuple(cfg.channels), attention_levels=tuple(cfg.attention_levels),
        latent_channels=cfg.latent_channels, norm_num_groups=cfg.norm_num_groups, norm_eps=cfg.norm_eps,
        with_encoder_nonlocal_attn=cfg.nonlocal_attn, with_decoder_nonlocal_attn=cfg.nonlocal_attn,
        use_checkpoint=cfg.use_checkpoint)


def autoencoder_config(spec: dict) -> AutoencoderConfig:
    return from_dict(AutoencoderConfig, spec["config"])


def kl_divergence(z_mu: torch.Tensor, z_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) summed over the latent's elements, averaged over the batch."""
    kl = 0.5 * (z_mu.float().pow(2) + z_sigma.float().pow(2) - torch.log(z_sigma.float().pow(2) + 1e-12) - 1)
    return kl.flatten(1).sum(1).mean()


def with_spatial_dims(cfg: AutoencoderConfig, spatial_dims: int, in_channels: int = 1) -> AutoencoderConfig:
    return dataclasses.replace(cfg, spatial_dims=spatial_dims, in_channels=in_channels)
