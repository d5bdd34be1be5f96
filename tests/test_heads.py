"""Classifier heads on frozen diffusion features and the shared training harness (tiny, CPU)."""

from __future__ import annotations

import dataclasses
import inspect
import logging

import numpy as np
import pytest
import torch

from medfx.diffusion import DiffusionConfig
from medfx.heads import (
    PAPER3D_CATS_PARAMS,
    CATSHead,
    ClassifierData,
    DCubeHead,
    DCubeLoss,
    HeadTrainConfig,
    cats_param_count_for,
    dcube_loss,
    evaluate,
    feature_shapes,
    fit_classifier,
    load_classifier,
    paper3d_cats_config,
    plot_mixing_weights,
    predict_proba,
    save_classifier,
)
from medfx.heads import dcube as dcube_mod
from medfx.heads import trainer as trainer_mod
from medfx.models import DiffusionUNet, UNetConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def make_data(n: int, dims: int, k: int = 2, seed: int = 0, images: bool = False, amp: float = 1.5) -> ClassifierData:
    """Class c shifts channel c of the ("mid", 10) map (and brightens a central blob of the image by c)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    y = y[torch.randperm(n, generator=g)]
    mid = torch.randn(n, 8, *(4,) * dims, generator=g)
    mid[torch.arange(n), y] += amp
    feats = {("mid", 10): mid, ("up.0", 10): torch.randn(n, 4, *(2,) * dims, generator=g)}
    img = None
    if images:
        img = 0.5 * torch.randn(n, 1, *(8,) * dims, generator=g)
        centre = (slice(None), slice(None), *(slice(2, 6),) * dims)
        img[centre] += y.float().reshape(-1, *(1,) * (dims + 1))
    return ClassifierData(y, feats, img)


FAST = {"epochs": 15, "batch_size": 16, "lr": 3e-3, "weight_decay": 0.0, "ema_decay": 0.9, "patience": 0,
        "select_metric": "acc"}
TINY_DCUBE = {"resnet": "resnet10", "resnet_widen_factor": 0.25, "fuse_channels": 8}


def tiny_backbone(dims: int, k: int | None) -> DiffusionUNet:
    net = DiffusionUNet(UNetConfig(spatial_dims=dims, channels=(8, 16), attention_levels=(False, True),
                                   num_head_channels=(8,), norm_num_groups=8, num_classes=k))
    torch.manual_seed(0)
    with torch.no_grad():  # MONAI zero-inits output and residual convs: randomise them so eps depends on y
        for p in net.parameters():
            if not p.any():
                p.normal_(0, 0.1)
    return net.requires_grad_(False)


# ------------------------------------------------------------------------------------------------------------
# CATS-like head
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [2, 3])
def test_cats_learns_easy_features(dims):
    train, val = make_data(64, dims, seed=0), make_data(32, dims, seed=1)
    torch.manual_seed(0)  # the head's initialisation must not depend on which tests ran before (it once failed so)
    head = CATSHead(feature_shapes(train.feats), 2, width=32, depth=1, heads=2, pool_grid=2, dropout=0.0)
    res = fit_classifier(head, train, val, HeadTrainConfig(**{**FAST, "epochs": 10}, seed=0))
    assert res.val_metrics["acc"] > 0.9
    assert evaluate(res.model, val)["acc"] == pytest.approx(res.val_metrics["acc"])
    assert res.weights == "ema" and res.num_params == sum(p.numel() for p in head.parameters())
    assert len(res.history) == 10 and res.history[0]["train_total"] > res.history[-1]["train_total"]
    assert res.wall_time_s > 0


def test_cats_batch_norm_keeps_magnitude_signal():
    """Class = the overall scale of every cell: a per-token LayerNorm erases it, the default BatchNorm keeps it."""
    g = torch.Generator().manual_seed(0)

    def scaled(n):
        y = torch.arange(n) % 2
        x = torch.randn(n, 8, 4, 4, generator=g) * (1.0 + 2.0 * y).reshape(-1, 1, 1, 1)
        return ClassifierData(y, {("mid", 10): x})

    train, val = scaled(128), scaled(64)
    accs = {}
    for norm in ("batch", "layer"):
        torch.manual_seed(0)
        head = CATSHead(feature_shapes(train.feats), 2, width=16, depth=1, heads=2, pool_grid=2, norm=norm)
        res = fit_classifier(head, train, val, HeadTrainConfig(**{**FAST, "epochs": 8}, seed=0))
        accs[norm] = res.val_metrics["acc"]
    assert accs["batch"] > 0.9 and accs["layer"] < 0.7, accs
    with pytest.raises(ValueError, match="norm must be"):
        CATSHead(feature_shapes(train.feats), 2, norm="group")


def test_cats_paper3d_param_count():
    cfg = paper3d_cats_config(num_classes=2)
    assert sorted({b for b, _ in cfg["in_shapes"]}) == ["down.5", "mid", "up.0"]
    assert len(cfg["in_shapes"]) == 9
    assert cats_param_count_for(**cfg) == PAPER3D_CATS_PARAMS == 1_690_435
    head = CATSHead(**cfg)  # the real module agrees with the meta-device count
    assert sum(p.numel() for p in head.parameters()) == 1_690_435
    assert cats_param_count_for(**paper3d_cats_config(num_classes=3)) == 1_690_620
    # forward on small 3D maps of the right channel count (pooled / replicated to 4^3)
    feats = {key: torch.randn(2, 512, 2, 3, 2) for key in cfg["in_shapes"]}
    assert head(feats).shape == (2, 2)


def test_cats_mixing_weights_shapes_and_errors(tmp_path):
    feats = {("down.1", 5): torch.randn(3, 16, 8, 8), ("mid", 50): torch.randn(3, 32, 2, 2)}
    head = CATSHead(feature_shapes(feats), 3, width=16, depth=1, heads=2, pool_grid=4)
    assert head(feats).shape == (3, 3)
    w = head.mixing_weights()
    assert list(w) == [("down.1", 5), ("mid", 50)] and sum(w.values()) == pytest.approx(1.0)
    with pytest.raises(KeyError, match="missing"):
        head({("mid", 50): feats[("mid", 50)]})
    with pytest.raises(ValueError, match="expected"):
        head({**feats, ("mid", 50): torch.randn(3, 31, 2, 2)})
    with pytest.raises(ValueError, match="heads=3 must divide width=16"):
        CATSHead(feature_shapes(feats), 2, width=16, heads=3)
    rebuilt = CATSHead(**head.get_config())
    rebuilt.load_state_dict(head.state_dict())
    head.eval(), rebuilt.eval()
    assert torch.allclose(rebuilt(feats), head(feats))
    png = plot_mixing_weights(head, tmp_path / "mix.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------------------------
# D-Cube head
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dims,k", [(2, 2), (2, 3), (3, 2), (3, 3)])
def test_dcube_forward_any_k_and_dims(dims, k):
    data = make_data(4, dims, k=k, images=True)
    head = DCubeHead(feature_shapes(data.feats), k, **TINY_DCUBE, stage_channels=(8, 4, 2))
    assert head.grid == (4,) * dims  # the largest input grid
    out = head(data.feats, data.images)
    assert out.shape == (4, k)
    terms = dcube_loss(head, data.feats, data.images, data.labels)
    own_flip = dcube_loss(head, data.feats, data.images, data.labels, flip_feats=data.feats)["flip"]
    assert own_flip.item() != pytest.approx(terms["flip"].item())  # caller-provided flipped features are used
    assert set(terms) == {"total", "ce", "cycle", "flip"}
    assert terms["cycle"].item() == 0.0 and terms["flip"].item() > 0.0
    assert terms["total"].item() == pytest.approx((terms["ce"] + 0.1 * terms["flip"]).item(), rel=1e-5)


def test_dcube_learns_three_classes(caplog):
    dcube_mod._warned.clear()
    train, val = make_data(60, 2, k=3, seed=0, images=True), make_data(30, 2, k=3, seed=1, images=True)
    head = DCubeHead(feature_shapes(train.feats), 3, **TINY_DCUBE, stage_channels=(8, 8, 4),
                     hidden=16, dropout=0.0)
    with caplog.at_level(logging.WARNING, logger="medfx.heads.dcube"):
        res = fit_classifier(head, train, val, HeadTrainConfig(**{**FAST, "epochs": 10, "batch_size": 20},
                                                               augment_flip=True))
    assert res.val_metrics["acc"] > 0.9
    assert {"train_ce", "train_cycle", "train_flip"} <= set(res.history[0])
    assert sum("cycle loss is OFF" in r.message for r in caplog.records) == 1  # said once, not every step


def _cycle_setup(k: int = 3):
    data = make_data(4, 2, k=k, images=True)
    torch.manual_seed(0)
    head = DCubeHead(feature_shapes(data.feats), k, **TINY_DCUBE, stage_channels=(8, 4, 2))
    head.eval()  # deterministic forward (dropout off, BatchNorm running stats) so runs can be compared
    return data, head, tiny_backbone(2, k), DiffusionConfig(num_train_timesteps=100)


def test_cycle_gradient_reaches_head_not_backbone():
    data, head, backbone, dcfg = _cycle_setup()
    terms = dcube_loss(head, data.feats, data.images, data.labels, backbone=backbone, diffusion_cfg=dcfg,
                       generator=torch.Generator().manual_seed(0))
    assert terms["cycle"].item() > 0
    terms["cycle"].backward()
    head_grad = sum(float(p.grad.abs().sum()) for p in head.parameters() if p.grad is not None)
    assert head_grad > 0
    assert head.fc[-1].weight.grad.abs().sum() > 0  # reaches the classifier output layer
    assert all(p.grad is None or not p.grad.any() for p in backbone.parameters())
    assert not any(p.requires_grad for p in backbone.parameters())


def test_faithful_cycle_gives_no_head_gradient():
    data, head, backbone, dcfg = _cycle_setup()
    params = [p for p in head.parameters()]

    def grads(weights, faithful):
        terms = dcube_loss(head, data.feats, data.images, data.labels, backbone=backbone, diffusion_cfg=dcfg,
                           weights=weights, faithful_cycle=faithful, generator=torch.Generator().manual_seed(0))
        g = torch.autograd.grad(terms["total"], params, allow_unused=True)
        return terms, [torch.zeros_like(p) if x is None else x for p, x in zip(params, g)]

    terms, g_faithful = grads((1.0, 10.0, 0.1), True)
    assert float(terms["cycle"]) > 0 and not terms["cycle"].requires_grad  # logged, but no graph
    _, g_no_cycle = grads((1.0, 0.0, 0.1), False)
    assert all(torch.allclose(a, b) for a, b in zip(g_faithful, g_no_cycle))
    _, g_soft = grads((1.0, 10.0, 0.1), False)
    assert any(not torch.allclose(a, b) for a, b in zip(g_soft, g_no_cycle))


def test_cycle_off_or_misconfigured(caplog):
    dcube_mod._warned.clear()
    data, head, _, dcfg = _cycle_setup(k=2)
    with caplog.at_level(logging.WARNING, logger="medfx.heads.dcube"):
        t = dcube_loss(head, data.feats, data.images, data.labels, backbone=tiny_backbone(2, None), diffusion_cfg=dcfg)
    assert float(t["cycle"]) == 0.0 and "not class-conditional" in caplog.text
    trainable = tiny_backbone(2, 2).requires_grad_(True)
    with pytest.raises(ValueError, match="requires_grad"):
        dcube_loss(head, data.feats, data.images, data.labels, backbone=trainable, diffusion_cfg=dcfg)
    with pytest.raises(ValueError, match="diffusion_cfg"):
        dcube_loss(head, data.feats, data.images, data.labels, backbone=tiny_backbone(2, 2))
    loss = DCubeLoss(trainable, dcfg)  # the trainer-facing loss freezes the backbone in place
    assert not any(p.requires_grad for p in trainable.parameters())
    assert loss(head, data, torch.Generator().manual_seed(0))["cycle"].item() > 0


def test_fit_with_cycle_term_through_frozen_backbone():
    train, val = make_data(16, 2, k=3, seed=0, images=True), make_data(8, 2, k=3, seed=1, images=True)
    head = DCubeHead(feature_shapes(train.feats), 3, **TINY_DCUBE,
                     stage_channels=(8, 4, 2))
    backbone = tiny_backbone(2, 3)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    cfg = HeadTrainConfig(**{**FAST, "epochs": 2, "batch_size": 8})
    res = fit_classifier(head, train, val, cfg, loss_fn=DCubeLoss(backbone, DiffusionConfig(num_train_timesteps=100),
                                                                  cfg.dcube_weights))
    assert all(h["train_cycle"] > 0 for h in res.history)
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in before.items())  # the backbone never changes


def test_dcube_pretrained_path_loads_local_weights(tmp_path):
    data = make_data(2, 2, images=True)
    src = DCubeHead(feature_shapes(data.feats), 2, **TINY_DCUBE)
    sd = {"module." + k: v for k, v in src.resnet.state_dict().items()}
    torch.save(sd, tmp_path / "r10.pt")
    dst = DCubeHead(feature_shapes(data.feats), 2, **TINY_DCUBE,
                    pretrained_path=str(tmp_path / "r10.pt"))
    assert torch.equal(dst.resnet.conv1.weight, src.resnet.conv1.weight)
    torch.save({"nothing": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="no tensor matches"):
        DCubeHead(feature_shapes(data.feats), 2, resnet="resnet10", pretrained_path=str(tmp_path / "bad.pt"))


# ------------------------------------------------------------------------------------------------------------
# trainer
# ------------------------------------------------------------------------------------------------------------


def test_ema_weights_are_selected_and_saved(tmp_path):
    train, val = make_data(64, 2, seed=0), make_data(32, 2, seed=1)
    head = CATSHead(feature_shapes(train.feats), 2, width=16, depth=1, heads=2, pool_grid=2)
    cfg = HeadTrainConfig(**{**FAST, "epochs": 4})
    res = fit_classifier(head, train, val, cfg)
    raw, ema = head.state_dict(), res.model.state_dict()
    assert res.model is not head
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)
    path = save_classifier(tmp_path / "cats.pt", res.model, head.get_config(),
                           extra={"train": dataclasses.asdict(cfg), "best_epoch": res.best_epoch})
    obj = torch.load(path, weights_only=True)
    assert obj["format"] == load_classifier(path)["format"] == "medfx-classifier-v1"
    assert all(torch.equal(obj["state_dict"][k], ema[k]) for k in ema)
    rebuilt = CATSHead(**obj["config"])
    rebuilt.load_state_dict(obj["state_dict"])
    assert np.allclose(predict_proba(rebuilt, val), predict_proba(res.model, val), atol=1e-6)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves no temporary file
    with pytest.raises(TypeError, match="only plain values"):
        save_classifier(tmp_path / "x.pt", res.model, {"cfg": cfg})


def test_ema_off_uses_raw_weights():
    train, val = make_data(32, 2, seed=0), make_data(16, 2, seed=1)
    head = CATSHead(feature_shapes(train.feats), 2, width=16, depth=1, heads=2, pool_grid=2)
    res = fit_classifier(head, train, val, HeadTrainConfig(**{**FAST, "epochs": 1, "ema_decay": 0.0}))
    assert res.weights == "raw"
    assert all(torch.equal(v, head.state_dict()[k]) for k, v in res.model.state_dict().items())


def test_selection_and_early_stopping_use_validation_only(monkeypatch):
    assert not any("test" in name for name in inspect.signature(fit_classifier).parameters)
    train, val = make_data(64, 2, seed=0), make_data(24, 2, seed=1)
    val = ClassifierData(torch.randint(0, 2, (24,), generator=torch.Generator().manual_seed(5)), val.feats)  # noise
    seen = []
    real_evaluate = trainer_mod.evaluate

    def spy(model, data, batch_size=256, num_workers=0):
        seen.append(data.labels.clone())
        return real_evaluate(model, data, batch_size, num_workers)

    monkeypatch.setattr(trainer_mod, "evaluate", spy)
    head = CATSHead(feature_shapes(train.feats), 2, width=16, depth=1, heads=2, pool_grid=2)
    res = fit_classifier(head, train, val, HeadTrainConfig(**{**FAST, "epochs": 40, "patience": 3}))
    assert seen and all(torch.equal(s, val.labels) for s in seen)
    assert res.stopped_early and len(res.history) < 40
    scores = [h["val_acc"] for h in res.history]
    assert res.best_score == max(scores) and scores[res.best_epoch - 1] == max(scores)
    assert len(res.history) - res.best_epoch == 3  # stopped exactly `patience` epochs after the best


def test_predict_proba_and_config_validation():
    data = make_data(10, 3, k=3)
    head = CATSHead(feature_shapes(data.feats), 3, width=16, depth=1, heads=2, pool_grid=2)
    p = predict_proba(head, data, batch_size=4)
    assert p.shape == (10, 3) and np.allclose(p.sum(1), 1.0, atol=1e-5)
    for field, value in [("select_metric", "mcc"), ("ema_decay", 1.0), ("batch_size", 1), ("patience", -1),
                         ("dcube_weights", (1.0, 2.0))]:
        with pytest.raises(ValueError, match=field):
            HeadTrainConfig(**{field: value})
    flat = make_data(10, 2, k=3)
    with pytest.raises(ValueError, match="needs 'image'"):
        fit_classifier(DCubeHead(feature_shapes(flat.feats), 3, resnet="resnet10"), flat, flat, HeadTrainConfig())


def test_diverged_head_is_a_clear_error():
    """Non-finite outputs (e.g. bf16 overflow on unscaled features) stop the fit with a message that says so."""
    train, val = make_data(32, 2, seed=0), make_data(16, 2, seed=1)
    head = CATSHead(feature_shapes(train.feats), 2, width=16, depth=1, heads=2, pool_grid=2)
    bad = ClassifierData(val.labels, {k: torch.full_like(v, float("inf")) for k, v in val.feats.items()})
    with pytest.raises(FloatingPointError, match=r"CATSHead, epoch 1: .*not finite \(NaN/inf\) for 16 of 16"):
        fit_classifier(head, train, bad, HeadTrainConfig(**{**FAST, "epochs": 1}))
    assert np.isfinite(evaluate(head, val)["loss"])  # finite inputs still evaluate
    # test-time predictions too: finite on validation but not on test must not reach scikit-learn as NaN
    proba = predict_proba(head, val)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    with pytest.raises(FloatingPointError, match=r"not finite \(NaN/inf\) for 16 of 16"):
        predict_proba(head, bad)
