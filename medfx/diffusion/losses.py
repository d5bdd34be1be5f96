"""Training losses: epsilon-prediction MSE and the D-Cube-style contrastive loss on block features."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

DISTANCES = ("unit_sq", "mean_sq", "sum_sq")


@dataclass
class ContrastiveConfig:
    weight: float = 0.0  # 0 disables the contrastive term
    block: str = "mid"  # block whose features are compared
    margin: float = 1.0  # hinge margin for different-class pairs, in units of the chosen distance
    same_class_ratio: float = 0.5  # fraction of pairs drawn from the same class
    distance: str = "unit_sq"  # unit_sq: squared L2 of L2-normalised features (range [0, 4]); mean_sq; sum_sq (D-Cube)
    mse_reduction: str = "mean"  # noise-prediction MSE of a pair: "mean" over pixels (medfx), or "sum" over the
    # pixels of both images (D-Cube: per pair contrastive + sum-MSE(x1) + sum-MSE(x2); batch averaged, not summed,
    # a constant factor). With "mean", sum_sq weights the contrastive term 2*C*H*W times more than D-Cube

    def __post_init__(self):
        if self.weight < 0:
            raise ValueError("weight must be >= 0")
        if self.distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {self.distance!r}")
        if not 0.0 <= self.same_class_ratio <= 1.0:
            raise ValueError("same_class_ratio must be in [0, 1]")
        if self.margin < 0:
            raise ValueError("margin must be >= 0")
        if self.mse_reduction not in ("mean", "sum"):
            raise ValueError(f"mse_reduction must be mean or sum, got {self.mse_reduction!r}")


def pair_mse(pred: torch.Tensor, noise: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Noise-prediction error of ``2B`` stacked images (pair members at ``i`` and ``B + i``): the mean over all
    values, or (``"sum"``, D-Cube) the per-pair sum over both images' values, averaged over pairs."""
    if reduction == "mean":
        return F.mse_loss(pred.float(), noise.float())
    per = (pred.float() - noise.float()).pow(2).flatten(1).sum(1)
    b = per.shape[0] // 2
    return (per[:b] + per[b:]).mean()


def diffusion_loss(model, process, x0, t, noise, y=None) -> torch.Tensor:
    """Mean squared error between the true and the predicted noise at timesteps ``t`` (``process``: a
    :class:`~medfx.diffusion.schedule.NoiseProcess`)."""
    x_t = process.add_noise(x0, noise, t)
    pred = model(x_t, t, y)
    return F.mse_loss(pred.float(), noise.float())


def feature_distance(f1: torch.Tensor, f2: torch.Tensor, distance: str = "unit_sq") -> torch.Tensor:
    """Per-pair distance between two feature batches ``[B, ...]`` -> ``[B]``.

    - ``sum_sq``: D-Cube's squared L2 summed over all flattened values. It grows with the feature size
      (131k values for a 128^2 U-ViT mid block), so a margin like 0.1 almost never acts.
    - ``mean_sq``: the same, averaged over values (scale of one activation).
    - ``unit_sq``: squared L2 between L2-normalised flattened features = 2 - 2 cos; always in [0, 4],
      whatever the block size, so a margin (default 1.0, i.e. cosine similarity below 0.5) means the same
      thing for every backbone. This is the medfx default.
    """
    a, b = f1.flatten(1).float(), f2.flatten(1).float()
    if distance == "unit_sq":
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
        return (a - b).pow(2).sum(1)
    if distance == "mean_sq":
        return (a - b).pow(2).mean(1)
    if distance == "sum_sq":
        return (a - b).pow(2).sum(1)
    raise ValueError(f"unknown distance {distance!r}")


def contrastive_loss(f1, f2, different: torch.Tensor, margin: float, distance: str = "unit_sq") -> torch.Tensor:
    """Hadsell-style contrastive loss: pull same-class pairs together, push different-class pairs beyond ``margin``.

    ``different`` is a bool/0-1 tensor ``[B]`` (1 = the pair has different classes)."""
    d = feature_distance(f1, f2, distance)
    y = different.float()
    return ((1 - y) * d + y * F.relu(margin - d)).mean()
