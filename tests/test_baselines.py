"""CNN baselines: documented parameter counts, 2D/3D forward, learning an easy image task."""

from __future__ import annotations

import pytest
import torch

from medfx.heads import ClassifierData, HeadTrainConfig, evaluate, fit_classifier
from medfx.models.baselines import BASELINES, build_baseline

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def blob_data(n: int, dims: int, size: int = 8, seed: int = 0) -> ClassifierData:
    """Class 1: a bright central blob on noise; class 0: noise only."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.arange(n) % 2)[torch.randperm(n, generator=g)]
    img = 0.5 * torch.randn(n, 1, *(size,) * dims, generator=g)
    lo, hi = size // 4, size - size // 4
    img[(slice(None), slice(None), *(slice(lo, hi),) * dims)] += 1.5 * y.float().reshape(-1, *(1,) * (dims + 1))
    return ClassifierData(y, images=img)


def n_params(name: str, dims: int, k: int = 2, in_channels: int = 1) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in build_baseline(name, dims, k, in_channels).parameters())


@pytest.mark.parametrize("name,dims,expected", [
    ("resnet18", 3, 33_161_922),  # the CATS paper's "33.23M" ResNet-18 (methods notes §1.4: 33.162M for c=1)
    ("resnet18", 2, 11_172_162),
    ("resnet50", 3, 46_163_010),
    ("resnet50", 2, 23_509_698),
    ("small_cnn", 2, 23_538),
    ("small_cnn", 3, 69_906),
])
def test_documented_param_counts(name, dims, expected):
    assert n_params(name, dims) == expected


def test_resnet18_3d_four_channels_matches_paper_count():
    assert round(n_params("resnet18", 3, in_channels=4) / 1e6, 2) == 33.23


@pytest.mark.parametrize("dims", [2, 3])
def test_small_cnn_learns_blob(dims):
    train, val = blob_data(64, dims, seed=0), blob_data(32, dims, seed=1)
    model = build_baseline("small_cnn", dims, 2)
    cfg = HeadTrainConfig(epochs=10, batch_size=16, lr=3e-3, weight_decay=0.0, ema_decay=0.9, patience=0,
                          select_metric="acc")
    res = fit_classifier(model, train, val, cfg)
    assert res.val_metrics["acc"] > 0.9
    assert evaluate(res.model, val)["acc"] == pytest.approx(res.val_metrics["acc"])


def test_resnet18_2d_learns_blob():
    train, val = blob_data(48, 2, seed=0), blob_data(24, 2, seed=1)
    # BatchNorm running statistics need a few dozen steps before eval mode works: small batches, 8 epochs
    cfg = HeadTrainConfig(epochs=8, batch_size=8, lr=1e-3, weight_decay=0.0, ema_decay=0.5, patience=0,
                          select_metric="acc")
    res = fit_classifier(build_baseline("resnet18", 2, 2), train, val, cfg)
    assert res.val_metrics["acc"] > 0.9


@pytest.mark.parametrize("dims,k", [(2, 3), (3, 2)])
def test_forward_shapes(dims, k):
    x = torch.randn(2, 1, *(8,) * dims)
    for name in ("small_cnn",) + (("resnet18",) if dims == 2 else ()):
        model = build_baseline(name, dims, k).eval()
        assert model(x).shape == (2, k)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown baseline 'vgg'.*small_cnn"):
        build_baseline("vgg", 2, 2)
    with pytest.raises(ValueError, match="spatial_dims"):
        build_baseline("small_cnn", 4, 2)
    with pytest.raises(ValueError, match="num_classes"):
        build_baseline("resnet18", 2, 1)
    assert set(BASELINES) == {"resnet18", "resnet50", "small_cnn"}
