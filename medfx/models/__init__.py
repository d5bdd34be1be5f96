"""Diffusion backbones (U-Net, U-ViT) behind one contract, and CNN baselines."""

from __future__ import annotations

import dataclasses

from ..utils.dataclass_io import from_dict, to_dict
from .base import Backbone, BlockInfo
from .unet import DiffusionUNet, UNetConfig
from .uvit import UViT, UViTConfig

ARCHS = {"unet": (DiffusionUNet, UNetConfig), "uvit": (UViT, UViTConfig)}


def resolve_backbone_spec(model_cfg, image_shape: tuple[int, ...], num_classes: int | None) -> dict:
    """The concrete, self-contained constructor spec ``{"arch", "config"}`` for data of ``image_shape``
    (``[C, *spatial]``); this dict is what checkpoints store to rebuild the network."""
    channels, spatial = image_shape[0], tuple(image_shape[1:])
    k = num_classes if model_cfg.conditional else None
    if model_cfg.arch == "unet":
        cfg = dataclasses.replace(model_cfg.unet, spatial_dims=len(spatial), in_channels=channels, num_classes=k)
    else:
        cfg = dataclasses.replace(model_cfg.uvit, img_size=spatial, in_channels=channels, num_classes=k)
    return {"arch": model_cfg.arch, "config": to_dict(cfg)}


def build_backbone(spec: dict) -> Backbone:
    """Rebuild a backbone from its spec dict (see ``resolve_backbone_spec``)."""
    arch = spec.get("arch")
    if arch not in ARCHS:
        raise ValueError(f"unknown backbone arch {arch!r}; valid: {', '.join(ARCHS)}")
    cls, cfg_cls = ARCHS[arch]
    return cls(from_dict(cfg_cls, spec["config"]))


def count_parameters(module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = ["Backbone", "BlockInfo", "DiffusionUNet", "UNetConfig", "UViT", "UViTConfig", "build_backbone",
           "resolve_backbone_spec", "count_parameters"]
