"""Feature extractor, hooks, pooling and the on-disk feature bank (U-Net; the U-ViT shares the contract)."""

import contextlib

import numpy as np
import pytest
import torch

from medfx.diffusion import DiffusionConfig
from medfx.features import (
    FeatureExtractor,
    StopForward,
    capture,
    extract_bank,
    monai_unet_modules,
)
from medfx.features.pooling import pool_features
from medfx.models import DiffusionUNet, UNetConfig, UViT, UViTConfig

DIFF = DiffusionConfig(num_train_timesteps=100)


def unet(d=2):
    torch.manual_seed(0)
    return DiffusionUNet(UNetConfig(spatial_dims=d, channels=(8, 16, 16), attention_levels=(False, False, True),
                                    num_head_channels=(8,), norm_num_groups=8)).eval()


@pytest.mark.parametrize("d", [2, 3])
def test_declared_blocks_match_real_shapes(d):
    m = unet(d)
    size = (16, 12) if d == 2 else (16, 12, 8)
    x = torch.randn(2, 1, *size)
    out, feats = m.forward_intermediates(x, torch.tensor([0, 5]))
    assert out.shape == x.shape and list(feats) == m.block_names()
    assert m.block_names() == ["down.0", "down.1", "down.2", "mid", "up.0", "up.1", "up.2"]
    for info in m.feature_info:
        f = feats[info.name]
        assert f.shape[1] == info.channels, info
        assert tuple(f.shape[2:]) == tuple(s // r for s, r in zip(size, info.reduction)), info
    randomize(m)
    out, feats = m.forward_intermediates(x, torch.tensor([0, 5]))
    assert out.abs().max() > 1e-3
    ref_out, ref_feats = monai_forward(m, x, torch.tensor([0, 5]))  # independent: MONAI's own forward
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    for name, ref in ref_feats.items():
        torch.testing.assert_close(feats[name], ref, rtol=1e-5, atol=1e-6)


def randomize(m, seed=0):
    """MONAI zero-initialises output and residual convolutions; random weights make every comparison count."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return m


def monai_forward(m, x, t, y=None):
    """MONAI ``DiffusionModelUNet.forward`` on the wrapper's weights, with hooks on MONAI's own blocks."""
    net, feats, hooks = m.net, {}, []

    def keep(name, first=False):
        def hook(mod, args, out):  # returns None: the module's output is left alone
            feats[name] = out[0] if first else out

        return hook

    hooks += [b.register_forward_hook(keep(f"down.{i}", first=True)) for i, b in enumerate(net.down_blocks)]
    hooks.append(net.middle_block.register_forward_hook(keep("mid")))
    hooks += [b.register_forward_hook(keep(f"up.{i}")) for i, b in enumerate(net.up_blocks)]
    try:
        out = net(x, timesteps=t, class_labels=y)
    finally:
        for h in hooks:
            h.remove()
    return out, feats


@pytest.mark.parametrize("d", [2, 3])
def test_unet_wrapper_equals_monai_forward(d):
    """The wrapper re-states MONAI's forward to name and stop at blocks: it must compute the same function,
    unconditional and class-conditional (MONAI's class embedding; the wrapper's "no class" row for y=None)."""
    torch.manual_seed(0)
    m = DiffusionUNet(UNetConfig(spatial_dims=d, channels=(8, 16), attention_levels=(False, True),
                                 num_head_channels=(8,), norm_num_groups=8, num_classes=3)).eval()
    randomize(m)
    x = torch.randn(2, 1, *((16, 12) if d == 2 else (8, 8, 4)))
    t, y = torch.tensor([3, 70]), torch.tensor([2, 0])
    with torch.no_grad():
        for labels, monai_labels in ((y, y), (None, torch.full((2,), 3))):
            out, feats = m.forward_intermediates(x, t, y=labels)
            assert out.abs().max() > 1e-3
            ref_out, ref_feats = monai_forward(m, x, t, monai_labels)
            torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
            assert set(ref_feats) == set(feats)
            for name in feats:
                torch.testing.assert_close(feats[name], ref_feats[name], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(m(x, t, y), m(x, t, None))  # the labels matter


@pytest.mark.parametrize("d", [2, 3])
def test_extractor_equals_manual_forward_with_hooks(d):
    m = unet(d)
    x = torch.randn(3, 1, *(16,) * d)
    ids = ["a", "b", "c"]
    ext = FeatureExtractor(m, DIFF, blocks=["down.1", "mid", "up.1"], timesteps=[0, 40], pool="gap", seed=3)
    feats = ext(x, ids)
    assert list(feats) == [(b, t) for b in ["down.1", "mid", "up.1"] for t in [0, 40]]
    mods = monai_unet_modules(m.net)
    for t in (0, 40):
        tt = torch.full((3,), t)
        xt = ext.process.add_noise(x, ext.noise(x, ids, 0), tt)
        with torch.no_grad(), capture({k: mods[k] for k in ("down.1", "mid", "up.1")}) as store:
            m.net(xt, tt)
        for b in ("down.1", "mid", "up.1"):
            assert torch.allclose(feats[(b, t)], store[b].flatten(2).mean(-1), atol=1e-5), (b, t)


@pytest.mark.parametrize("d,schedule", [(2, "linear_beta"), (3, "cosine")])
def test_extraction_noises_like_monai_add_noise_with_per_sample_seeds(d, schedule):
    """What the backbone sees = MONAI's own ``DDPMScheduler.add_noise`` of the image with N(0, 1) noise drawn from
    the sample's seed (one generator per sample and noise draw), whatever the batch."""
    from monai.networks.schedulers import DDPMScheduler

    from medfx.diffusion.noise import sample_seeds

    m = unet(d)
    diff = DiffusionConfig(num_train_timesteps=100, schedule=schedule)
    x = torch.rand(3, 1, *(16,) * d) * 2 - 1
    ids = ["a", "b", "c"]
    ext = FeatureExtractor(m, diff, blocks=["mid"], timesteps=[5, 70], pool="gap", seed=11, noise_draws=2)
    seen = []
    real = m.forward_blocks
    m.forward_blocks = lambda xt, tt, *a, **k: seen.append((xt.clone(), tt.clone())) or real(xt, tt, *a, **k)
    ext(x, ids)
    kw = {} if schedule == "cosine" else {"beta_start": 1e-4, "beta_end": 0.02}
    ref = DDPMScheduler(num_train_timesteps=100, schedule=schedule, clip_sample=False, **kw)
    expected = []
    for draw in range(2):
        seeds = sample_seeds(11, ids, salt=f"draw{draw}")
        eps = torch.stack([torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(s)) for s in seeds])
        for t in (5, 70):
            tt = torch.full((3,), t, dtype=torch.long)
            expected.append((ref.add_noise(original_samples=x, noise=eps, timesteps=tt), tt))
    assert len(seen) == len(expected) == 4
    for (xt, tt), (xt_ref, tt_ref) in zip(seen, expected):
        assert torch.equal(tt, tt_ref)
        torch.testing.assert_close(xt, xt_ref, rtol=0, atol=0)
        assert not torch.allclose(xt, x, atol=1e-3)


def test_batch_size_and_order_invariance():
    m = unet()
    x = torch.randn(6, 1, 16, 16)
    ids = [f"s{i}" for i in range(6)]
    ext = FeatureExtractor(m, DIFF, blocks=None, timesteps=[10, 60], pool="avgmax", seed=1)
    full = ext(x, ids)
    parts = [ext(x[i:i + 2], ids[i:i + 2]) for i in range(0, 6, 2)]
    perm = [5, 3, 1, 0, 2, 4]
    shuffled = ext(x[perm], [ids[i] for i in perm])
    for k, v in full.items():
        assert torch.allclose(v, torch.cat([p[k] for p in parts]), atol=1e-5)
        assert torch.allclose(v[perm], shuffled[k], atol=1e-5)
    other_seed = FeatureExtractor(m, DIFF, timesteps=[60], pool="gap", seed=2)(x, ids)
    assert not torch.allclose(other_seed[("mid", 60)], pool_features_from(full[("mid", 60)]))


def pool_features_from(avgmax):
    return avgmax[:, : avgmax.shape[1] // 2]


def test_noise_draws_and_clean_mode():
    m = unet()
    x = torch.randn(2, 1, 16, 16)
    one = FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[50], seed=0)(x, ["a", "b"])
    two = FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[50], seed=0, noise_draws=2)(x, ["a", "b"])
    assert not torch.allclose(one[("mid", 50)], two[("mid", 50)])
    c1 = FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[50], seed=0, clean=True)(x, ["a", "b"])
    c2 = FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[50], seed=9, clean=True)(x, ["a", "b"])
    assert torch.equal(c1[("mid", 50)], c2[("mid", 50)])
    with torch.no_grad():
        ref = m.forward_blocks(x, torch.full((2,), 50), ["mid"])["mid"].flatten(2).mean(-1)
    assert torch.allclose(c1[("mid", 50)], ref, atol=1e-6)


def test_early_stop_gives_identical_features_and_skips_decoder():
    m = unet()
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([3, 3])
    calls = []
    handles = [b.register_forward_hook(lambda *_: calls.append(1)) for b in m.net.up_blocks]
    try:
        early = m.forward_blocks(x, t, ["down.0", "mid"])
        assert calls == []  # no decoder block ran
        _, full = m.forward_intermediates(x, t, ["down.0", "mid"])
        assert len(calls) == len(m.net.up_blocks)
    finally:
        for h in handles:
            h.remove()
    for k in early:
        assert torch.equal(early[k], full[k])


def test_errors_name_the_problem():
    m = unet()
    with pytest.raises(KeyError, match="valid blocks: down.0, down.1"):
        FeatureExtractor(m, DIFF, blocks=["middle"], timesteps=[0])
    with pytest.raises(ValueError, match=r"outside \[0, 100\)"):
        FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[100])
    with pytest.raises(ValueError, match="pool"):
        FeatureExtractor(m, DIFF, pool="median")


def test_hooks_removed_after_exceptions():
    m = unet()
    mods = monai_unet_modules(m.net)
    with pytest.raises(RuntimeError):
        with capture(mods):
            m.net(torch.randn(1, 2, 16, 16), torch.tensor([1]))  # wrong channel count -> error inside forward
    assert all(len(mod._forward_hooks) == 0 for mod in mods.values())
    with capture(mods, stop_after="mid") as store, contextlib.suppress(StopForward):
        m.net(torch.randn(1, 1, 16, 16), torch.tensor([1]))
    assert set(store) == {"down.0", "down.1", "down.2", "mid"}
    assert all(len(mod._forward_hooks) == 0 for mod in mods.values())


@pytest.mark.parametrize("pool,shape", [("gap", (16,)), ("avgmax", (32,)), ("grid", (16, 2, 2)), ("none", (16, 4, 4))])
def test_pooling_shapes(pool, shape):
    assert tuple(pool_features(torch.randn(3, 16, 4, 4), pool, grid=2).shape[1:]) == shape


def test_uvit_shares_the_interface():
    m = UViT(UViTConfig(img_size=(16, 16), patch_size=4, embed_dim=32, depth=5, num_heads=2)).eval()
    ext = FeatureExtractor(m, DIFF, blocks=["in.1", "mid"], timesteps=[0, 20], pool="gap")
    f = ext(torch.randn(2, 1, 16, 16), ["a", "b"])
    assert set(f) == {("in.1", 0), ("in.1", 20), ("mid", 0), ("mid", 20)} and f[("mid", 0)].shape == (2, 32)


class _Split(torch.utils.data.Dataset):
    def __init__(self, x, y, prefix):
        self.x, self.labels, self.ids, self.class_names = x, y, [f"{prefix}/{i}" for i in range(len(x))], ["a", "b"]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.labels[i]), self.ids[i]


def test_bank_streams_reuses_and_invalidates(tmp_path):
    m = unet()
    g = torch.Generator().manual_seed(0)
    splits = {s: _Split(torch.randn(n, 1, 16, 16, generator=g), np.arange(n) % 2, s)
              for s, n in (("train", 10), ("val", 4), ("test", 4))}
    ext = FeatureExtractor(m, DIFF, blocks=["mid", "up.0"], timesteps=[0, 30], pool="grid", grid=2, seed=0)
    bank = extract_bank(m, ext, splits, tmp_path / "bank", {"ckpt": "abc"}, batch_size=3, progress=False)
    assert len(bank) == 4 and bank[("mid", 30)].shape == (18, 16 * 4)
    assert bank.maps(("mid", 30)).shape == (18, 16, 2, 2)
    assert list(bank.split[:10]) == ["train"] * 10 and bank.ids[10] == "val/0"
    direct = ext(splits["val"].x, splits["val"].ids)[("up.0", 0)].flatten(1).numpy()
    np.testing.assert_allclose(bank[("up.0", 0)][bank.mask("val")], direct, atol=1e-5)
    stamp = (tmp_path / "bank" / "meta.json").stat().st_mtime_ns
    extract_bank(m, ext, splits, tmp_path / "bank", {"ckpt": "abc"}, progress=False)  # same inputs: reused
    assert (tmp_path / "bank" / "meta.json").stat().st_mtime_ns == stamp
    b2 = extract_bank(m, ext, splits, tmp_path / "bank", {"ckpt": "other"}, progress=False)  # new checkpoint
    assert b2.meta["settings"]["ckpt"] == "other"
    ext3 = FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[0], pool="gap", seed=5)
    b3 = extract_bank(m, ext3, splits, tmp_path / "bank", {"ckpt": "other"}, progress=False)  # new setting
    assert b3.blocks == ["mid"] and b3[("mid", 0)].shape == (18, 16)
    with pytest.raises(KeyError, match="not in bank"):
        b3[("up.0", 0)]
