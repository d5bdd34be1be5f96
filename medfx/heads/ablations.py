"""Ablations of the D-Cube head that attribute its accuracy to the diffusion features or to its image CNN.

``DCubeAblation(..., branch=...)`` is a ``DCubeHead`` with one of its two inputs removed; everything else (the
1x1 mixing to one map, the multi-kernel stages, the FC layers, the loss and the trainer) is D-Cube's:

* ``branch="feats"``: **D-Cube without its image CNN** (diffusion features only). The ResNet, its projection and
  its class-score map are deleted; the gray map ``conv1x1(f_main)`` is broadcast to K channels (the
  ``x + x * score`` modulation needs the CNN's scores, so it is dropped).
* ``branch="image"``: **the image CNN branch alone**, trained with D-Cube's trainer: ``conv1x1(f_sub)`` then
  ``x + x * score`` as in D-Cube; the feature normalisation and mixing conv are deleted, features are ignored.

Both keep D-Cube's call signature ``forward(feats, image)`` so ``dcube_loss`` (CE + flip consistency) applies
unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from monai.networks.layers.factories import Conv

from .cats import FeatureKey
from .dcube import DCubeHead

BRANCHES = ("feats", "image")


class DCubeAblation(DCubeHead):
    """``DCubeHead`` with only its diffusion-feature branch (``"feats"``) or only its image CNN (``"image"``)."""

    def __init__(self, in_shapes, num_classes: int, branch: str = "feats", **kwargs):
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
        super().__init__(in_shapes, num_classes, **kwargs)
        self.branch = branch
        conv = Conv[Conv.CONV, self.spatial_dims]
        if branch == "feats":
            del self.resnet, self.sub_proj, self.sub_score, self.adapter
        else:
            del self.norms, self.fuse
        self.to_gray = conv(self.fuse_channels, 1, 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "branch": self.branch}

    def fit_feature_stats(self, data, batch_size: int = 256) -> None:
        if self.branch == "feats":  # the image branch has no feature input to standardise
            super().fit_feature_stats(data, batch_size)

    def forward(self, feats: Mapping[FeatureKey, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        dtype = self.to_gray.weight.dtype
        if self.branch == "feats":
            x = self.to_gray(self.main_features(feats, dtype))  # [B, 1, *grid]
            x = x.expand(-1, self.num_classes, *x.shape[2:]).contiguous()  # [B, K, *grid]
        else:
            f_sub, score = self.sub_features(image.to(dtype))
            x = self.to_gray(f_sub)
            x = x + x * score
        return self.fc(self.stages(x))
