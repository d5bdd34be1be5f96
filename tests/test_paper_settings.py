"""Paper reproduction switches: CATS paper budget from the pipeline config, EMA warm-up as documented, NaN
seeds in summaries, and the ``dcube-paper`` settings."""

import math

import numpy as np
import pytest
import torch

from medfx.config import load_config
from medfx.models import count_parameters
from medfx.probes import ProbeGridResult
from medfx.utils.ema import EMA, effective_decay
from medfx.workflows.pipeline import _summarize, build_method, cats_inputs


def _probe(blocks, ts, auc):
    table = [{"block": b, "t": t, "val_auc": auc(b, t)} for b in blocks for t in ts]
    return ProbeGridResult(list(blocks), list(ts), table)


# -- MRI paper: the 1.7M CATS-like configuration --------------------------------------------------------------
def test_cats_preset_paper_gives_9_inputs_and_the_published_budget():
    cfg = load_config(None, ["heads.cats_preset=paper"])
    blocks = ["down.4", "down.5", "mid", "up.0", "up.1"]
    score = {"down.4": 0.6, "down.5": 0.8, "mid": 0.9, "up.0": 0.85, "up.1": 0.7}
    probe = _probe(blocks, [0, 10, 50, 100, 200], lambda b, t: score[b] - t / 1e4)
    keys = cats_inputs(probe, cfg.heads)
    # top-3 blocks by validation AUC, each at its 3 best timesteps
    assert keys == [(b, t) for b in ("mid", "up.0", "down.5") for t in (0, 10, 50)]
    model = build_method("cats", cfg, {k: (512, 5, 7, 5) for k in keys}, 3, 2)
    assert count_parameters(model) == 1_690_435  # the MRI paper's 1.7M budget (512-channel paper-3d blocks)
    assert model.get_config()["width"] == 184 and model.get_config()["depth"] == 2
    default = load_config(None, [])
    assert len(cats_inputs(probe, default.heads)) == 3  # medfx default: 3 inputs, one per block


@pytest.mark.parametrize("missing", [math.nan, None])
def test_cats_inputs_rank_cells_without_a_validation_auc_last(missing):
    """A cell whose validation AUC is missing (NaN, as a grid read back from JSON holds it, or None) ranks last, and
    the others keep their order by score; the CATS inputs agree with ``ProbeGridResult.top`` on the same grid. (A NaN
    key used to leave Python's sort unordered: the CATS head then read arbitrary cells.)"""
    blocks, ts = ["down.0", "down.1", "mid", "up.0", "up.1"], [0, 50]
    score = {("down.0", 0): 0.70, ("down.0", 50): missing, ("down.1", 0): 0.91, ("down.1", 50): 0.60,
             ("mid", 0): 0.80, ("mid", 50): 0.95, ("up.0", 0): missing, ("up.0", 50): 0.65,
             ("up.1", 0): 0.85, ("up.1", 50): 0.50}
    probe = _probe(blocks, ts, lambda b, t: score[(b, t)])
    # one per block, best first: mid (0.95), down.1 (0.91), up.1 (0.85), then down.0 (0.70), up.0 (0.65)
    for k, want in [(3, [("mid", 50), ("down.1", 0), ("up.1", 0)]),
                    (5, [("mid", 50), ("down.1", 0), ("up.1", 0), ("down.0", 0), ("up.0", 50)])]:
        assert cats_inputs(probe, load_config(None, [f"heads.cats_inputs={k}"]).heads) == want
    ranked = probe.top(len(blocks) * len(ts), metric="auc")
    assert ranked[-2:] == [("down.0", 50), ("up.0", 0)]
    firsts = []  # top()'s order, one cell per block: the same inputs
    for b, t in ranked:
        if b not in {x for x, _ in firsts}:
            firsts.append((b, t))
    assert firsts == [("mid", 50), ("down.1", 0), ("up.1", 0), ("down.0", 0), ("up.0", 50)]
    paper = cats_inputs(probe, load_config(None, ["heads.cats_preset=paper"]).heads)
    assert paper == [("mid", 50), ("mid", 0), ("down.1", 0), ("down.1", 50), ("up.1", 0), ("up.1", 50)]


@pytest.mark.parametrize("overrides", [[], ["heads.cats_preset=paper"]])
def test_cats_inputs_stop_when_no_cell_has_a_validation_auc(overrides):
    """With no finite validation AUC anywhere (e.g. a one-class validation split) there is nothing to choose the
    CATS inputs by: the same error as ``ProbeGridResult.best``, not the first cells in table order."""
    probe = _probe(["down.0", "mid"], [0, 50], lambda b, t: math.nan)
    with pytest.raises(ValueError, match="no finite validation 'auc'"):
        cats_inputs(probe, load_config(None, overrides).heads)


def test_cats_preset_paper_rejects_contradicting_width():
    with pytest.raises(ValueError, match="cats_preset=paper fixes"):
        load_config(None, ["heads.cats_preset=paper", "heads.cats_width=64"])
    with pytest.raises(ValueError, match="cats_preset must be"):
        load_config(None, ["heads.cats_preset=big"])


# -- EMA: the documented warm-up -----------------------------------------------------------------------------
def test_ema_effective_decay_matches_docs():
    assert effective_decay(0.999, 250) == pytest.approx(251 / 260)  # ~0.965 in a short head run
    assert 0.96 < effective_decay(0.999, 250) < 0.97 and 0.98 < effective_decay(0.999, 600) < 0.99
    assert effective_decay(0.999, 20_000) == 0.999 and effective_decay(0.999, 5, warmup=False) == 0.999


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_update_follows_effective_decay(warmup):
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, 0.999, warmup=warmup)
    ref = 0.0
    for step in range(30):
        with torch.no_grad():
            net.weight.fill_(float(step + 1))
        ema.update(net, step)
        d = min(0.999, (1 + step) / (10 + step)) if warmup else 0.999
        ref = d * ref + (1 - d) * (step + 1)
    assert ema.module.weight.item() == pytest.approx(ref, rel=1e-5)


def test_heads_ema_warmup_reaches_the_harness():
    from medfx.workflows.pipeline import head_train_config

    cfg = load_config(None, ["heads.ema_warmup=false"])
    assert head_train_config(cfg, 0, False).ema_warmup is False
    assert head_train_config(load_config(None, []), 0, True).ema_warmup is True


# -- one NaN behaviour ---------------------------------------------------------------------------------
def test_summarize_propagates_nan():
    seeds = {"0": {"auc": 0.9, "acc": 0.8}, "1": {"auc": float("nan"), "acc": 0.7}}
    s = _summarize({"seeds": seeds})["summary"]
    assert math.isnan(s["auc"][0])  # a NaN-AUC seed is not dropped silently
    assert s["acc"][0] == pytest.approx(0.75) and s["acc"][1] == pytest.approx(np.std([0.8, 0.7], ddof=1))
    assert np.isfinite(_summarize({"seeds": {"0": {"auc": 0.9}, "1": {"auc": 0.7}}})["summary"]["auc"][0])


# -- D-Cube step 2 as published ---------------------------------------------------------------------------------
def test_dcube_paper_preset_has_every_published_setting():
    c = load_config(None, ["preset=dcube-paper"])
    assert c.features.clean and c.features.random_t and c.heads.grid == 16  # clean image, random t, no pooling
    assert c.heads.dcube_fusion == "tokens" and c.heads.lr == 2e-4 and c.heads.augment_flip
    assert c.heads.dcube_flip_features and c.heads.flip_axis == "auto"
    assert c.heads.dcube_imagenet_stem and c.heads.dcube_resnet == "resnet50"
    assert c.contrastive.distance == "sum_sq" and c.contrastive.margin == 0.1 and c.contrastive.mse_reduction == "sum"
    assert c.diffusion.class_dropout == 0.0 and c.train.lr == 2e-4
    d = load_config(None, [])  # medfx defaults differ on purpose (README table)
    assert (d.heads.dcube_fusion, d.heads.grid, d.heads.lr, d.features.random_t) == ("channels", 4, 1e-3, False)


def test_token_fusion_mixes_tokens_not_channels():
    from medfx.heads import DCubeHead

    shapes = {("mid", 0): (16, 4, 4), ("up.0", 0): (16, 4, 4), ("up.1", 0): (16, 4, 4)}
    head = DCubeHead(shapes, 2, fusion="tokens", resnet="resnet10", resnet_widen_factor=0.25).eval()
    assert isinstance(head.fuse, torch.nn.Linear) and tuple(head.fuse.weight.shape) == (16, 48)  # 3*16 -> 16 tokens
    assert head.fuse_channels == 16  # f_main keeps the feature width (D-Cube: 512)
    feats = {k: torch.randn(2, *s) for k, s in shapes.items()}
    assert head(feats, torch.randn(2, 1, 32, 32)).shape == (2, 2)
    with pytest.raises(ValueError, match="equal channels"):
        DCubeHead({("a", 0): (8, 4, 4), ("b", 0): (16, 4, 4)}, 2, fusion="tokens", resnet="resnet10")


def test_imagenet_stem_loads_every_tensor_and_keeps_stride_2(tmp_path):
    from monai.networks import nets

    from medfx.heads import DCubeHead
    from medfx.heads.dcube import _resnet_features

    torch.manual_seed(1)
    ref = nets.resnet18(spatial_dims=2, n_input_channels=3, conv1_t_stride=2, bias_downsample=False,
                        feed_forward=False, num_classes=2)
    sd = {k: v.clone() for k, v in ref.state_dict().items()}
    sd["fc.weight"], sd["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)  # an ImageNet classifier, ignored
    path = tmp_path / "imagenet-resnet18.pt"
    torch.save(sd, path)
    shapes = {("mid", 0): (8, 2, 2)}
    head = DCubeHead(shapes, 2, resnet="resnet18", pretrained_path=str(path), imagenet_stem=True)
    for k, v in ref.state_dict().items():
        assert torch.equal(head.resnet.state_dict()[k], v), k  # nothing left at random init
    assert head.resnet.conv1.stride == (2, 2) and head.resnet.conv1.in_channels == 3
    assert head.adapter.in_channels == 1 and head.adapter.out_channels == 3
    h = _resnet_features(head.resnet, head.adapter(torch.randn(1, 1, 64, 64)))
    assert tuple(h.shape[-2:]) == (2, 2)  # stride 32 overall, as the ImageNet ResNet (MONAI default: 4x4)
    # a 1-channel, stride-1 MONAI state dict is not an intact ImageNet network: an error, not a warning
    bad = nets.resnet18(spatial_dims=2, n_input_channels=1, feed_forward=False, num_classes=2).state_dict()
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="do not load"):
        DCubeHead(shapes, 2, resnet="resnet18", pretrained_path=str(tmp_path / "bad.pt"), imagenet_stem=True)


@pytest.mark.parametrize("codes,dims,value,expected", [
    ("RAS", 3, "auto", 0), ("LPS", 3, "auto", 0), ("PLS", 3, "auto", 1), ("SAR", 3, "auto", 2),
    (None, 2, "auto", -1), ("RAS", 3, "2", 2)])
def test_flip_axis_is_left_right(codes, dims, value, expected):
    from medfx.workflows.pipeline import flip_axis

    over = [f"heads.flip_axis={value!r}"] + ([f"data.orientation={codes}"] if codes else [])
    assert flip_axis(load_config(None, over), dims) == expected


def test_flip_augment_uses_features_of_the_flipped_image():
    from medfx.heads.trainer import ClassifierData, _flip_augment

    n = 64
    img = torch.arange(n * 8 * 8 * 8, dtype=torch.float32).reshape(n, 1, 8, 8, 8)
    data = ClassifierData(torch.zeros(n), {("mid", 0): torch.zeros(n, 2, 2, 2, 2)}, img,
                          {("mid", 0): torch.ones(n, 2, 2, 2, 2)})
    out = _flip_augment(data, torch.Generator().manual_seed(0), axis=0)
    flipped = out.feats[("mid", 0)].flatten(1).mean(1) == 1
    assert 0 < flipped.sum() < n
    assert torch.equal(out.images[flipped], img[flipped].flip(2))  # spatial axis 0 = tensor dim 2
    assert torch.equal(out.images[~flipped], img[~flipped])
    assert (out.flip_feats[("mid", 0)][flipped] == 0).all()  # swapped: the flip of a flipped sample is the original


def test_consistency_term_passes_flipped_image_features():
    import torch.nn.functional as F

    from medfx.heads import DCubeHead
    from medfx.heads.dcube import dcube_loss

    shapes = {("mid", 0): (8, 4, 4)}
    head = DCubeHead(shapes, 2, resnet="resnet10", resnet_widen_factor=0.25).eval()
    feats, flip_feats = {("mid", 0): torch.randn(3, 8, 4, 4)}, {("mid", 0): torch.randn(3, 8, 4, 4)}
    img = torch.randn(3, 1, 16, 16)
    out = dcube_loss(head, feats, img, torch.tensor([0, 1, 0]), flip_feats=flip_feats, weights=(1, 0, 1),
                     flip_axis=0)
    ref = F.mse_loss(head(feats, img), head(flip_feats, img.flip(2)))
    assert out["flip"].item() == pytest.approx(ref.item(), rel=1e-5)


def test_extractor_flip_and_random_t():
    from medfx.diffusion.schedule import DiffusionConfig
    from medfx.features.extractor import FeatureExtractor
    from medfx.models import DiffusionUNet, UNetConfig

    torch.manual_seed(0)
    model = DiffusionUNet(UNetConfig(channels=(8, 16), attention_levels=(False, True), num_head_channels=(8,),
                                     norm_num_groups=8)).eval()
    diff = DiffusionConfig(num_train_timesteps=50)
    x = torch.randn(4, 1, 16, 16)
    ids = ["a", "b", "c", "d"]
    flip = FeatureExtractor(model, diff, ["mid"], [3], clean=True, flip_axis=-1)(x, ids)
    plain = FeatureExtractor(model, diff, ["mid"], [3], clean=True)(x.flip(-1), ids)
    assert torch.allclose(flip[("mid", 3)], plain[("mid", 3)])
    ext = FeatureExtractor(model, diff, ["mid"], [0, 1], clean=True, random_t=True)
    t0, t0b = ext.timesteps_for(0, ids, "cpu"), ext.timesteps_for(0, ids[::-1], "cpu")
    assert torch.equal(t0, t0b.flip(0))  # per sample, independent of batch order
    assert len(set(t0.tolist())) > 1 and (t0 >= 0).all() and (t0 < 50).all()
    assert not torch.equal(t0, ext.timesteps_for(1, ids, "cpu"))  # another draw label, other t
    got = ext(x, ids)[("mid", 0)]
    with torch.no_grad():
        ref = model.forward_blocks(x, t0, ["mid"])["mid"].float().mean(dim=(2, 3))
    assert torch.allclose(got, ref, atol=1e-5)  # the clean image at the drawn t


def test_pair_mse_sum_is_dcube_reduction():
    from medfx.diffusion.losses import pair_mse

    pred, noise = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    se = (pred - noise).pow(2).flatten(1).sum(1)
    ref = torch.stack([se[i] + se[i + 3] for i in range(3)]).mean()
    assert pair_mse(pred, noise, "sum").item() == pytest.approx(ref.item(), rel=1e-6)
    assert pair_mse(pred, noise).item() == pytest.approx(((pred - noise) ** 2).mean().item(), rel=1e-6)
    # the ratio of the two is 2*C*H*W: the weight sum_sq's contrastive term loses under "sum" (review B7)
    assert (pair_mse(pred, noise, "sum") / pair_mse(pred, noise)).item() == pytest.approx(2 * 16, rel=1e-5)


# -- KS evidence controlled for t -------------------------------------------------------------------------------
def test_same_t_pairs_compare_at_one_timestep():
    from medfx.features.gaussianity import GaussianityResult, same_t_pairs

    p = {("a", 0): 1e-5, ("b", 0): 0.5, ("c", 0): 0.01, ("a", 50): 1e-4, ("b", 50): 0.9, ("c", 50): 0.2}
    table = [{"block": b, "t": t, "statistic": 0.1, "pvalue": v} for (b, t), v in p.items()]
    res = GaussianityResult(["a", "b", "c"], [0, 50], table)
    rows = {r["t"]: r for r in same_t_pairs(res, alpha=0.05, top_k=1)}
    assert rows[0]["selected"] == [["a", 0]] and rows[0]["rejected"] == [["b", 0]] and rows[0]["usable"]
    assert rows[50]["selected"] == [["a", 50]] and rows[50]["rejected"] == [["b", 50]]
    for r in rows.values():  # never a comparison across noise levels
        assert {t for _, t in r["selected"] + r["rejected"]} == {r["t"]}


def test_same_t_pairs_equal_counts_and_fallback():
    """Found on AdrenalMNIST3D: at a t where 3 blocks are non-Gaussian and 1 is Gaussian, the probe compared 3
    concatenated blocks with 1. Both sides now get the smaller count; a side that fails its test is named."""
    from medfx.features.gaussianity import GaussianityResult, same_t_pairs

    p = {("a", 0): 1e-4, ("b", 0): 1e-3, ("c", 0): 1e-2, ("d", 0): 0.3,  # 3 non-Gaussian, 1 Gaussian
         ("a", 9): 0.2, ("b", 9): 0.5, ("c", 9): 0.4, ("d", 9): 0.9,  # none non-Gaussian
         ("a", 5): 1e-4, ("b", 5): 0.2, ("c", 5): 0.5, ("d", 5): 0.3}  # 1 vs 3
    table = [{"block": b, "t": t, "statistic": 0.1, "pvalue": v} for (b, t), v in p.items()]
    rows = {r["t"]: r for r in same_t_pairs(GaussianityResult(list("abcd"), [0, 5, 9], table), top_k=3)}
    assert rows[0]["selected"] == [["a", 0]] and rows[0]["rejected"] == [["d", 0]]  # the extremes, one each
    assert rows[0]["fallback"] is None and rows[0]["usable"]
    assert rows[5]["selected"] == [["a", 5]] and rows[5]["rejected"] == [["c", 5]] and rows[5]["fallback"] is None
    # no block is non-Gaussian at t=9: the fallback takes the least Gaussian ones, the row says so, and with 4
    # blocks the two sets of 3 overlap, so the row is not usable
    assert rows[9]["selected"] == [["a", 9], ["c", 9], ["b", 9]]
    assert rows[9]["rejected"] == [["d", 9], ["b", 9], ["c", 9]]
    assert rows[9]["fallback"] == "selected" and not rows[9]["usable"]


def test_ks_block_map_pools_all_timesteps():
    from scipy import stats

    from medfx.features.gaussianity import ks_block_map

    rng = np.random.default_rng(0)
    feats = {("g", 0): rng.normal(size=(60, 3)), ("g", 9): rng.normal(size=(60, 3)),
             ("e", 0): rng.exponential(size=(60, 3)) ** 2, ("e", 9): rng.exponential(size=(60, 3)) ** 2 + 3}
    split = np.array(["train"] * 50 + ["val"] * 10)
    rows = {r["block"]: r for r in ks_block_map(feats, split)}
    X = np.concatenate([feats[("e", 0)][:50], feats[("e", 9)][:50]])
    z = (X - X.mean(0)) / X.std(0, ddof=1)
    ref = np.median([stats.ks_1samp(z[:, d], stats.norm.cdf).pvalue for d in range(3)])
    assert rows["e"]["pvalue"] == pytest.approx(ref) and rows["e"]["n"] == 100 and rows["e"]["timesteps"] == [0, 9]
    assert rows["e"]["pvalue"] < 0.05 < rows["g"]["pvalue"]
