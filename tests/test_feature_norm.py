"""D-Cube's input normalisation ``feature_norm="standard"`` (thirty-third session): per-feature z-scores fitted
on the training rows, against numpy; the head learns where a LayerNorm hides the signal; the workflow fits it on
the training rows only; configs and checkpoints carry it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medfx.config import load_config
from medfx.heads import CATSHead, ClassifierData, DCubeHead, HeadTrainConfig, feature_shapes, fit_classifier
from medfx.heads.ablations import DCubeAblation
from medfx.heads.cats import FeatureStandardizer
from medfx.workflows.label_budgets import _scaled_train_config
from medfx.workflows.pipeline import fit_and_score

FAST = {"epochs": 25, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.0, "ema_decay": 0.0, "patience": 0,
        "select_metric": "acc", "dcube_weights": (1.0, 10.0, 0.0)}  # no flip term: standardised maps stay unmirrored
TINY = {"resnet": "resnet10", "resnet_widen_factor": 0.25, "fuse_channels": 8, "stage_channels": (8, 4, 2),
        "hidden": 16, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def common_pattern_data(n: int, dims: int, seed: int, images: bool = False) -> ClassifierData:
    """Like the 3D diffusion features of BENCHMARKS' thirty-third session: every sample is one fixed pattern (the
    same for all seeds) plus a small sample-specific part; the class moves one channel of every cell slightly."""
    pattern = 10.0 * torch.randn(8, *(4,) * dims, generator=torch.Generator().manual_seed(123))
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = pattern + 0.2 * torch.randn(n, 8, *(4,) * dims, generator=g)
    x[:, 0] += 0.4 * y.float().reshape(-1, *(1,) * dims)
    img = torch.zeros(n, 1, *(8,) * dims) if images else None
    return ClassifierData(y, {("mid", 10): x}, img)


@pytest.mark.parametrize("dims", [2, 3])
def test_standardizer_matches_numpy(dims):
    x = torch.randn(37, 3, *(2,) * dims, dtype=torch.float64) * 5 + 2
    x[:, 1] = 4.0  # a channel constant on the training rows keeps scale 1 (scikit-learn's rule)
    st = FeatureStandardizer(x.shape[1:])
    with pytest.raises(RuntimeError, match="before fit"):
        st(x.float())
    st.fit([x[:10], x[10:25], x[25:]])  # chunked, as the heads read lazy banks
    ref = x.numpy()
    mean, std = ref.mean(0), ref.std(0)
    std[std == 0] = 1.0
    assert np.allclose(st.mean.numpy(), mean, atol=1e-5) and np.allclose(1 / st.inv_std.numpy(), std, rtol=1e-5)
    z = st(x.float()).numpy()
    assert np.allclose(z, (ref - mean) / std, atol=1e-4)
    with pytest.raises(ValueError, match="shape"):
        st.fit([x[:, :2]])
    with pytest.raises(ValueError, match="at least 2"):
        st.fit([x[:1]])
    again = FeatureStandardizer(x.shape[1:])
    again.load_state_dict(st.state_dict())  # the statistics travel with the state dict
    assert torch.equal(again(x.float()), st(x.float()))


@pytest.mark.parametrize("dims", [2, 3])
def test_standard_norm_learns_what_layer_norm_hides(dims):
    """Within the 25-epoch budget the standardised head learns the class and the LayerNorm one does not. One seed
    was not enough: on an AMD EPYC (forty-sixth session) the LayerNorm head of seed 0 reached 0.84 in 2D where the
    Intel CPUs gave < 0.75, and single seeds of either head can go the other way; so five seeds (data and
    initialisation), judged by the median and by how many seeds the standardised head wins."""
    acc = {"layer": [], "standard": []}
    for s in range(5):
        train, val = common_pattern_data(64, dims, 10 * s, True), common_pattern_data(64, dims, 10 * s + 1, True)
        for norm in acc:
            torch.manual_seed(s)
            head = DCubeAblation(feature_shapes(train.feats), 2, branch="feats", feature_norm=norm, **TINY)
            head.fit_feature_stats(train)
            acc[norm].append(fit_classifier(head, train, val, HeadTrainConfig(**FAST, seed=s)).val_metrics["acc"])
    assert np.median(acc["standard"]) > 0.9 and np.median(acc["layer"]) < 0.75, acc
    assert sum(a > b for a, b in zip(acc["standard"], acc["layer"])) >= 4, acc


def test_workflow_fits_statistics_on_training_rows_only():
    train, val, test = (common_pattern_data(n, 2, s, True) for n, s in ((16, 0), (12, 1), (12, 2)))
    val.feats[("mid", 10)] += 100.0  # statistics from validation or test rows would show
    torch.manual_seed(0)
    head = DCubeHead(feature_shapes(train.feats), 2, feature_norm="standard", **TINY)
    res = fit_and_score(head, train, val, test, HeadTrainConfig(**{**FAST, "epochs": 1}, seed=0))
    got = res["fit"].model.norms[0].mean
    assert torch.allclose(got, train.feats[("mid", 10)].mean(0), atol=1e-5)


def test_config_checkpoint_and_errors():
    data = common_pattern_data(4, 3, 0, True)
    layer = DCubeHead(feature_shapes(data.feats), 2, **TINY)
    assert "feature_norm" not in layer.get_config()  # heads saved before the option rebuild unchanged
    head = DCubeHead(feature_shapes(data.feats), 2, feature_norm="standard", **TINY)
    head.fit_feature_stats(data)
    twin = DCubeHead(**head.get_config())
    twin.load_state_dict(head.state_dict())
    head.eval(), twin.eval()
    assert torch.equal(twin(data.feats, data.images), head(data.feats, data.images))
    image_only = DCubeAblation(feature_shapes(data.feats), 2, branch="image", feature_norm="standard", **TINY)
    image_only.fit_feature_stats(data)  # no feature input: nothing to fit, no error
    with pytest.raises(ValueError, match="feature_norm"):
        DCubeHead(feature_shapes(data.feats), 2, feature_norm="batch", **TINY)
    with pytest.raises(ValueError, match="dcube_feature_norm"):
        load_config(None, ["heads.dcube_feature_norm=batch"])
    with pytest.raises(ValueError, match="unmirrored"):  # the default flip weight 0.1 mirrors feature maps
        load_config(None, ["heads.dcube_feature_norm=standard"])
    with pytest.raises(ValueError, match="unmirrored"):
        load_config(None, ["heads.dcube_feature_norm=standard", "heads.dcube_weights=[1,10,0]",
                           "heads.augment_flip=true"])


def test_budget_harness_never_mirrors_standardised_inputs():
    ok = ["heads.dcube_feature_norm=standard", "heads.dcube_weights=[1,10,0]"]
    std, layer = load_config(None, ok), load_config(None, [])
    assert std.heads.dcube_feature_norm == "standard" and std.heads.budget_augment
    flips = {m: (_scaled_train_config(std, 0, m, 10).augment_flip, _scaled_train_config(layer, 0, m, 10).augment_flip)
             for m in ("dcube", "dcube_feats", "dcube_cnn", "small_cnn")}
    assert flips == {"dcube": (False, True), "dcube_feats": (False, True), "dcube_cnn": (True, True),
                     "small_cnn": (True, True)}
    assert _scaled_train_config(std, 0, "dcube", 10).augment_shift == 2  # the image CNN still gets its shifts


@pytest.mark.parametrize("dims", [2, 3])
def test_cats_standard_norm_fitted_on_training_rows(dims):
    """The CATS-like head's ``norm="standard"``: fitted by the workflow on the training rows only, then learns."""
    train, val, test = (common_pattern_data(n, dims, s) for n, s in ((64, 0), (32, 1), (32, 2)))
    val.feats[("mid", 10)] += 100.0  # statistics from validation rows would show
    torch.manual_seed(0)
    head = CATSHead(feature_shapes(train.feats), 2, width=16, depth=1, heads=2, pool_grid=2, norm="standard")
    with pytest.raises(RuntimeError, match="before fit"):
        head(train.feats)
    res = fit_and_score(head, train, val, test, HeadTrainConfig(**{**FAST, "epochs": 1}, seed=0))
    got = res["fit"].model.norms[0].mean
    assert torch.allclose(got, train.feats[("mid", 10)].mean(0), atol=1e-5)
    torch.manual_seed(0)
    head = CATSHead(feature_shapes(train.feats), 2, width=16, depth=1, heads=2, pool_grid=2, norm="standard")
    res = fit_and_score(head, train, common_pattern_data(32, dims, 3), test, HeadTrainConfig(**FAST, seed=0))
    assert res["metrics"]["acc"] > 0.9
    assert CATSHead(**head.get_config()).norm == "standard"
    with pytest.raises(ValueError, match="cats_norm"):
        load_config(None, ["heads.cats_norm=group"])
    assert load_config(None, ["heads.cats_norm=standard"]).heads.cats_norm == "standard"
