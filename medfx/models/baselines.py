"""CNN baselines trained from scratch on the images (2D or 3D through ``spatial_dims``).

``build_baseline(name, spatial_dims, num_classes, in_channels=1)``; parameter counts for 1 input channel, K = 2:

| name      | 2D         | 3D          | notes                                                              |
|-----------|------------|-------------|--------------------------------------------------------------------|
| resnet18  | 11,172,162 | 33,161,922  | MONAI ``resnet18``; the CATS paper's "33.23M ResNet-18" (notes §1.4) |
| resnet50  | 23,509,698 | 46,163,010  | MONAI ``resnet50``                                                  |
| small_cnn | 23,538     | 69,906      | 3 conv-BN-ReLU blocks (16, 32, 64), GAP, linear                     |

The MONAI ResNets use their defaults (7^d first conv with stride 1, max pooling, shortcut "B"), random init.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv, Norm
from torch import nn

BASELINES = ("resnet18", "resnet50", "small_cnn")


class SmallCNN(nn.Module):
    """A few ``conv3 -> BN -> ReLU`` blocks (stride 2 after the first), global average pooling, a linear layer."""

    def __init__(self, spatial_dims: int, in_channels: int, num_classes: int, channels: Sequence[int] = (16, 32, 64)):
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}")
        conv, bn = Conv[Conv.CONV, spatial_dims], Norm[Norm.BATCH, spatial_dims]
        layers, prev = [], in_channels
        for i, ch in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers += [conv(prev, ch, 3, stride=stride, padding=1, bias=False), bn(ch), nn.ReLU(inplace=True)]
            prev = ch
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # [B, C, *spatial']
        return self.fc(h.flatten(2).mean(-1))  # GAP -> [B, K]


def build_baseline(name: str, spatial_dims: int, num_classes: int, in_channels: int = 1) -> nn.Module:
    """A from-scratch image classifier ``forward(image [B, C, *spatial]) -> logits [B, K]``."""
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if name == "small_cnn":
        return SmallCNN(spatial_dims, in_channels, num_classes)
    if name in ("resnet18", "resnet50"):
        from monai.networks import nets

        return getattr(nets, name)(spatial_dims=spatial_dims, n_input_channels=in_channels, num_classes=num_classes)
    raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}")
