"""The contrastive term of conditional diffusion training: distances, loss, pair sampling, training runs."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import TINY_UNET

from medfx.config import load_config
from medfx.diffusion.losses import DISTANCES, ContrastiveConfig, contrastive_loss, feature_distance
from medfx.diffusion.schedule import DiffusionConfig, NoiseProcess, make_scheduler
from medfx.models.uvit import UViT, UViTConfig
from medfx.train import train_diffusion
from medfx.train.loop import DiffusionObjective, _pair_indices

torch.set_num_threads(1)


# -- feature_distance -------------------------------------------------------------------------------------
def test_feature_distance_hand_values():
    # two pairs of [1, 2, 2] maps (4 values each): pair 0 orthogonal, pair 1 opposite
    f1 = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 2.0, 0.0, 2.0]]).reshape(2, 1, 2, 2)
    f2 = torch.tensor([[0.0, 2.0, 0.0, 0.0], [-2.0, -4.0, 0.0, -4.0]]).reshape(2, 1, 2, 2)
    sum_sq = feature_distance(f1, f2, "sum_sq")
    assert sum_sq.shape == (2,)
    torch.testing.assert_close(sum_sq, torch.tensor([1.0 + 4.0, 9.0 + 36.0 + 36.0]))
    torch.testing.assert_close(feature_distance(f1, f2, "mean_sq"), torch.tensor([5.0 / 4, 81.0 / 4]))
    # unit_sq = 2 - 2 cos: orthogonal -> 2, opposite -> 4
    torch.testing.assert_close(feature_distance(f1, f2, "unit_sq"), torch.tensor([2.0, 4.0]))
    torch.testing.assert_close(feature_distance(f1, f2), torch.tensor([2.0, 4.0]))  # unit_sq is the default
    # 60 degrees apart: cos = 0.5 -> 1.0, the default margin
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, math.sqrt(3) / 2]])
    torch.testing.assert_close(feature_distance(a, 3 * b, "unit_sq"), torch.tensor([1.0]))


def test_unit_sq_range_and_scale_invariance():
    g = torch.Generator().manual_seed(0)
    f1, f2 = torch.randn(64, 8, 3, 3, generator=g), torch.randn(64, 8, 3, 3, generator=g)
    f2[:8] = -f1[:8]  # opposite: the upper end of the range
    f2[8:16] = f1[8:16]  # identical: the lower end
    d = feature_distance(f1, f2, "unit_sq")
    assert d.min() >= 0 and d.max() <= 4 + 1e-5
    torch.testing.assert_close(d[:8], torch.full((8,), 4.0))
    torch.testing.assert_close(d[8:16], torch.zeros(8), atol=1e-6, rtol=0)
    # a positive rescaling of either feature batch (per sample) changes nothing under unit_sq ...
    s1, s2 = torch.rand(64, 1, 1, 1, generator=g) * 100 + 0.01, torch.rand(64, 1, 1, 1, generator=g) * 100 + 0.01
    torch.testing.assert_close(feature_distance(s1 * f1, s2 * f2, "unit_sq"), d, atol=1e-5, rtol=1e-5)
    # ... while the un-normalised distances scale with the square of a common factor
    for dist in ("sum_sq", "mean_sq"):
        torch.testing.assert_close(feature_distance(10 * f1, 10 * f2, dist), 100 * feature_distance(f1, f2, dist))


def test_sum_sq_grows_with_feature_size():
    g = torch.Generator().manual_seed(1)
    f1, f2 = torch.randn(16, 4, 5, 5, generator=g), torch.randn(16, 4, 5, 5, generator=g)
    big1, big2 = f1.repeat(1, 8, 2, 2), f2.repeat(1, 8, 2, 2)  # the same content, 32x more values
    torch.testing.assert_close(feature_distance(big1, big2, "sum_sq"), 32 * feature_distance(f1, f2, "sum_sq"))
    torch.testing.assert_close(feature_distance(big1, big2, "mean_sq"), feature_distance(f1, f2, "mean_sq"))
    torch.testing.assert_close(feature_distance(big1, big2, "unit_sq"), feature_distance(f1, f2, "unit_sq"))
    # independent unit-variance features: sum_sq ~ 2 x (number of values), far beyond a margin of 0.1
    assert feature_distance(big1, big2, "sum_sq").median() > 1000 * 0.1 * 32


def test_feature_distance_rejects_unknown_distance():
    with pytest.raises(ValueError, match="unknown distance 'l1'"):
        feature_distance(torch.ones(2, 3), torch.ones(2, 3), "l1")


@pytest.mark.parametrize("kwargs,field", [({"weight": -1.0}, "weight"), ({"distance": "l2"}, "distance"),
                                          ({"same_class_ratio": 1.5}, "same_class_ratio"),
                                          ({"margin": -0.1}, "margin")])
def test_contrastive_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ContrastiveConfig(**kwargs)


# -- contrastive_loss -------------------------------------------------------------------------------------
@pytest.mark.parametrize("distance", DISTANCES)
def test_loss_zero_for_identical_same_class_pairs(distance):
    f = torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(2))
    loss = contrastive_loss(f, f.clone(), torch.zeros(6, dtype=torch.bool), margin=1.0, distance=distance)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    # identical different-class pairs pay the full margin
    loss = contrastive_loss(f, f.clone(), torch.ones(6, dtype=torch.bool), margin=0.7, distance=distance)
    assert loss.item() == pytest.approx(0.7, abs=1e-5)


def test_loss_value_mixed_batch():
    f1 = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    f2 = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, 0.1], [-1.0, 0.0]])  # sum_sq: 2, 2, 1.01, 4
    different = torch.tensor([0, 1, 1, 1])
    # same: 2; different: relu(3 - 2) = 1, relu(3 - 1.01) = 1.99, relu(3 - 4) = 0
    expected = (2.0 + 1.0 + 1.99 + 0.0) / 4
    assert contrastive_loss(f1, f2, different, margin=3.0, distance="sum_sq").item() == pytest.approx(expected)
    # a bool flag and a 0/1 flag mean the same
    assert contrastive_loss(f1, f2, different.bool(), 3.0, "sum_sq").item() == pytest.approx(expected)


@pytest.mark.parametrize("distance", DISTANCES)
def test_hinge_inactive_beyond_margin(distance):
    f1 = torch.randn(5, 16, generator=torch.Generator().manual_seed(3)).requires_grad_()
    f2 = -f1.detach() * 3  # opposite: unit_sq = 4, sum/mean_sq large
    d = feature_distance(f1, f2, distance)
    margin = 0.9 * d.min().item()
    loss = contrastive_loss(f1, f2, torch.ones(5), margin=margin, distance=distance)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(f1.grad) == 0


def _step_distance(f1, f2, different, margin, distance, lr=1e-2):
    """Distance before and after one gradient step on ``f1`` (``f2`` fixed)."""
    f1 = f1.clone().requires_grad_()
    before = feature_distance(f1, f2, distance).detach()
    contrastive_loss(f1, f2, different, margin, distance).backward()
    with torch.no_grad():
        after = feature_distance(f1 - lr * f1.grad, f2, distance)
    return before, after


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradient_sign(distance):
    g = torch.Generator().manual_seed(4)
    f1, f2 = torch.randn(8, 2, 4, 4, generator=g), torch.randn(8, 2, 4, 4, generator=g)
    # same class: every pair is pulled together
    before, after = _step_distance(f1, f2, torch.zeros(8), 1.0, distance)
    assert (after < before).all()
    # different class, closer than the margin: every pair is pushed apart
    near = f1 + 0.05 * f2  # close to f1 in every distance
    margin = 2 * feature_distance(f1, near, distance).max().item()
    before, after = _step_distance(f1, near, torch.ones(8), margin, distance, lr=1e-3)
    assert (before < margin).all() and (after > before).all()
    # the analytic gradient of the same-class term for sum_sq: 2 (f1 - f2) / B
    if distance == "sum_sq":
        x = f1.clone().requires_grad_()
        contrastive_loss(x, f2, torch.zeros(8), 1.0, "sum_sq").backward()
        torch.testing.assert_close(x.grad, 2 * (f1 - f2) / 8)


# -- a toy encoder trained only with the contrastive loss --------------------------------------------------
def _toy_images(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Class 0: horizontal stripes, class 1: vertical stripes, both with a random phase, contrast and noise."""
    g = torch.Generator().manual_seed(seed)
    labels = np.arange(n) % 2
    pos = torch.arange(8).float()
    x = torch.empty(n, 1, 8, 8)
    for i, c in enumerate(labels):
        wave = torch.sin(pos * math.pi / 2 + 2 * math.pi * torch.rand((), generator=g))
        img = wave[:, None].expand(8, 8) if c == 0 else wave[None, :].expand(8, 8)
        x[i, 0] = (0.5 + torch.rand((), generator=g)) * img + 0.3 * torch.randn(8, 8, generator=g)
    return x, labels


def _class_distances(enc, x, labels, distance):
    with torch.no_grad():
        f = enc(x)
    i, j = np.triu_indices(len(x), k=1)
    d = feature_distance(f[i], f[j], distance)
    diff = torch.as_tensor(labels[i] != labels[j])
    return d[~diff].mean().item(), d[diff].mean().item()


@pytest.mark.parametrize("distance,margin", [("unit_sq", 1.0), ("mean_sq", 0.1), ("sum_sq", 10.0)])
def test_toy_encoder_learns_from_contrastive_loss_alone(distance, margin):
    """Margins of 1-3x the different-class distance at init (mean_sq/sum_sq depend on the feature scale)."""
    torch.manual_seed(0)
    nn = torch.nn
    enc = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))
    x_train, y_train = _toy_images(64, seed=1)
    x_test, y_test = _toy_images(40, seed=2)
    same0, diff0 = _class_distances(enc, x_test, y_test, distance)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(120):
        anchors = torch.randint(len(x_train), (32,), generator=gen).tolist()
        partners, different = _pair_indices(y_train, anchors, 0.5, gen)
        loss = contrastive_loss(enc(x_train[anchors]), enc(x_train[partners]), different, margin, distance)
        opt.zero_grad()
        loss.backward()
        opt.step()
    same1, diff1 = _class_distances(enc, x_test, y_test, distance)
    assert same1 < 0.8 * same0, (same0, same1)
    assert diff1 > diff0 or diff1 > margin, (diff0, diff1)
    assert diff1 > 4 * same1  # the classes are separated on held-out images


# -- pair sampling ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.8, 1.0])
def test_pair_indices_same_class_ratio_and_flags(ratio):
    labels = np.array([0] * 30 + [1] * 50 + [2] * 20)
    gen = torch.Generator().manual_seed(5)
    anchors = torch.randint(len(labels), (3000,), generator=gen).tolist()
    partners, different = _pair_indices(labels, anchors, ratio, gen)
    assert len(partners) == len(anchors) and different.shape == (len(anchors),) and different.dtype == torch.bool
    partners = np.asarray(partners)
    assert partners.min() >= 0 and partners.max() < len(labels)
    truth = labels[anchors] != labels[partners]
    np.testing.assert_array_equal(different.numpy(), truth)  # the flag is right for every pair
    assert abs((~different).float().mean().item() - ratio) < 0.03
    # different-class partners are spread over every other class
    if ratio < 1.0:
        assert {int(c) for c in labels[partners[truth]]} == {0, 1, 2}


def test_pair_indices_is_deterministic():
    labels = np.arange(20) % 3
    a = _pair_indices(labels, list(range(20)), 0.5, torch.Generator().manual_seed(7))
    b = _pair_indices(labels, list(range(20)), 0.5, torch.Generator().manual_seed(7))
    assert a[0] == b[0] and torch.equal(a[1], b[1])


def test_pair_indices_single_class_and_singleton_class():
    # one class only: a different-class partner cannot exist, so every pair is a same-class pair
    labels = np.zeros(10, dtype=int)
    partners, different = _pair_indices(labels, list(range(10)), 0.0, torch.Generator().manual_seed(0))
    assert not different.any() and all(0 <= p < 10 for p in partners)
    # a class with one member: its same-class partner is the anchor itself; other classes still pair normally
    labels = np.array([0, 1, 1, 1])
    partners, different = _pair_indices(labels, [0] * 20, 1.0, torch.Generator().manual_seed(0))
    assert partners == [0] * 20 and not different.any()
    partners, different = _pair_indices(labels, [0] * 20, 0.0, torch.Generator().manual_seed(0))
    assert set(partners) <= {1, 2, 3} and different.all()


# -- DiffusionObjective -----------------------------------------------------------------------------------
def _tiny_uvit() -> UViT:
    torch.manual_seed(0)
    return UViT(UViTConfig(img_size=(16, 16), patch_size=4, embed_dim=32, depth=3, num_heads=2, num_classes=2))


def test_objective_pairs_share_t_and_noise():
    model = _tiny_uvit()
    sched = make_scheduler(DiffusionConfig(num_train_timesteps=50))  # MONAI's, the reference
    obj = DiffusionObjective(model, NoiseProcess(DiffusionConfig(num_train_timesteps=50)), ContrastiveConfig(weight=1.0, block="mid", margin=1.0))
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 1, 16, 16, generator=g), torch.randn(4, 1, 16, 16, generator=g)
    t, y = torch.tensor([3, 10, 25, 49]), torch.tensor([0, 1, 0, 1])
    # the same images as their own same-class partners: identical noisy inputs, so the term is exactly zero
    same = torch.zeros(4, dtype=torch.bool)
    loss, mse, con = obj(x0, t, noise, y, x0_pair=x0.clone(), y_pair=y.clone(), different=same)
    assert con.item() == 0.0 and loss.item() == pytest.approx(mse.item())
    plain_loss, plain_mse, plain_con = obj(x0, t, noise, y)  # no pairs: the plain eps-MSE
    assert plain_con.item() == 0.0 and plain_mse.item() == pytest.approx(mse.item(), rel=1e-5)
    assert plain_loss.item() == pytest.approx(plain_mse.item())
    # other partners: the term is the loss on the mid features of both noisy batches
    x1, y1 = torch.randn(4, 1, 16, 16, generator=g), torch.tensor([0, 0, 1, 1])
    different = y != y1
    loss, mse, con = obj(x0, t, noise, y, x0_pair=x1, y_pair=y1, different=different)
    with torch.no_grad():
        f0 = model.forward_blocks(sched.add_noise(x0, noise, t), t, ["mid"], y=y)["mid"]
        f1 = model.forward_blocks(sched.add_noise(x1, noise, t), t, ["mid"], y=y1)["mid"]
    expected = contrastive_loss(f0, f1, different, 1.0, "unit_sq")
    assert con.item() == pytest.approx(expected.item(), rel=1e-4) and con.item() > 0
    assert loss.item() == pytest.approx(mse.item() + con.item(), rel=1e-5)


# -- end to end -------------------------------------------------------------------------------------------
UVIT_TINY = ["model.arch=uvit", "model.uvit.patch_size=4", "model.uvit.embed_dim=32", "model.uvit.depth=3",
             "model.uvit.num_heads=2", "contrastive.block=mid"]


@pytest.mark.parametrize("extra", [[], UVIT_TINY, ["model.conditional=false", "contrastive.block=down.1",
                                                   "contrastive.distance=sum_sq", "contrastive.weight=0.5"]],
                         ids=["unet", "uvit", "unet-unconditional-sum_sq"])
def test_train_diffusion_logs_contrastive(npz2d, tmp_path, extra):
    cfg = load_config(None, [f"data.path={npz2d}", f"run.out_dir={tmp_path}", "run.name=c", *TINY_UNET,
                             "model.conditional=true", "contrastive.weight=1.0", "train.steps=3", "train.log_every=1",
                             "train.batch_size=4", "train.num_samples=1", *extra])
    res = train_diffusion(cfg)
    assert res.step == 3 and math.isfinite(res.final_loss)
    rows = [json.loads(line) for line in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    w = cfg.contrastive.weight
    for r in rows:
        assert r["contrastive"] >= 0 and math.isfinite(r["contrastive"])
        assert r["loss"] == pytest.approx(r["mse"] + w * r["contrastive"], rel=1e-5)
    assert any(r["contrastive"] > 0 for r in rows)
    if cfg.contrastive.distance == "unit_sq":
        assert all(r["contrastive"] <= 4 for r in rows)


def test_train_diffusion_without_contrastive_logs_none(npz2d, tmp_path):
    cfg = load_config(None, [f"data.path={npz2d}", f"run.out_dir={tmp_path}", "run.name=p", *TINY_UNET,
                             "train.steps=1", "train.batch_size=4", "train.num_samples=1", "train.log_every=1"])
    res = train_diffusion(cfg)
    rows = [json.loads(line) for line in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and "contrastive" not in rows[0] and rows[0]["loss"] == pytest.approx(rows[0]["mse"])
