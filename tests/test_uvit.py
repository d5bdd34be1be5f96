"""Tests for the 2D/3D U-ViT backbone (medfx.models.uvit)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from medfx.models.uvit import UVIT_PRESETS, UViT, UViTConfig, uvit_config

# non-square sizes so that swapped axes cannot pass unnoticed
SIZES = {2: (16, 12), 3: (8, 12, 4)}
DIMS = [2, 3]


def make(spatial_dims: int, randomize_head: bool = True, **kw) -> UViT:
    """Tiny U-ViT; the zero-initialised output projection is randomised so the output depends on the input."""
    torch.manual_seed(0)
    cfg = UViTConfig(
        **{
            "img_size": SIZES[spatial_dims],
            "patch_size": 4,
            "embed_dim": 32,
            "depth": 5,
            "num_heads": 2,
            **kw,
        }
    )
    model = UViT(cfg).eval()
    if randomize_head:
        nn.init.normal_(model.decoder_pred.weight, std=0.2)
    return model


def inputs(spatial_dims: int, batch: int = 2, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, channels, *SIZES[spatial_dims], generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    return x, t


# -- shapes and the feature contract ---------------------------------------------------------------


@pytest.mark.parametrize("spatial_dims", DIMS)
@pytest.mark.parametrize("channels", [1, 2])
def test_output_shape_equals_input(spatial_dims, channels):
    model = make(spatial_dims, in_channels=channels)
    x, t = inputs(spatial_dims, channels=channels)
    out = model(x, t)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    assert model(x, 7).shape == x.shape  # scalar t broadcasts


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_block_names_and_feature_info(spatial_dims):
    model = make(spatial_dims)
    assert model.block_names() == ["in.0", "in.1", "mid", "out.0", "out.1"]
    assert [b.index for b in model.feature_info] == list(range(5))
    assert model.spatial_dims == spatial_dims
    assert model.num_classes is None


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_feature_info_matches_intermediates(spatial_dims):
    model = make(spatial_dims)
    x, t = inputs(spatial_dims)
    out, feats = model.forward_intermediates(x, t)
    assert list(feats) == model.block_names()
    for info in model.feature_info:
        grid = tuple(s // r for s, r in zip(x.shape[2:], info.reduction))
        assert feats[info.name].shape == (2, info.channels, *grid)
    ref_out, ref_feats = reference_forward(model, x, t)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    for name, ref in ref_feats.items():
        torch.testing.assert_close(feats[name], ref, rtol=1e-5, atol=1e-6)


def reference_forward(model, x, t):
    """The U-ViT forward written out from the paper's recipe (Bao et al. 2023) with the model's submodules and
    einops for the patch layout, independent of ``UViT._run``: time token + patch tokens + positions, long skips
    from in-block k to out-block n-1-k, final norm and linear decoder, unpatchify, 3x3 conv."""
    from einops import rearrange

    from medfx.models.uvit import timestep_embedding

    cfg, d = model.config, x.ndim - 2
    grid = [s // cfg.patch_size for s in cfg.img_size]
    h = model.patch_embed(x)
    h = torch.cat([model.time_embed(timestep_embedding(t, cfg.embed_dim))[:, None], h], dim=1) + model.pos_embed
    feats, skips = {}, []

    def as_map(tokens):
        names = " ".join(f"g{i}" for i in range(d))
        return rearrange(tokens[:, 1:], f"b ({names}) c -> b c {names}", **{f"g{i}": g for i, g in enumerate(grid)})

    for i, blk in enumerate(model.in_blocks):
        h = blk(h)
        skips.append(h)
        feats[f"in.{i}"] = as_map(h)
    h = model.mid_block(h)
    feats["mid"] = as_map(h)
    for i, blk in enumerate(model.out_blocks):
        h = blk(h, skips.pop())
        feats[f"out.{i}"] = as_map(h)
    h = model.decoder_pred(model.norm(h))[:, 1:]
    g = " ".join(f"g{i}" for i in range(d))
    pp = " ".join(f"p{i}" for i in range(d))
    img = " ".join(f"(g{i} p{i})" for i in range(d))
    sizes = {**{f"g{i}": n for i, n in enumerate(grid)}, **{f"p{i}": cfg.patch_size for i in range(d)}}
    img_out = rearrange(h, f"b ({g}) ({pp} c) -> b c {img}", **sizes)
    return model.final_layer(img_out), feats


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_feature_maps_are_patch_tokens_in_grid_order(spatial_dims):
    """The spatial map at grid position g is the token of the patch at g (time token dropped)."""
    model = make(spatial_dims)
    x, t = inputs(spatial_dims)
    captured = {}
    model.mid_block.register_forward_hook(lambda m, i, o: captured.setdefault("mid", o))
    feat = model.forward_blocks(x, t, blocks="mid")["mid"]
    tokens = captured["mid"]  # [B, 1 + N, D]
    assert tokens.shape[1] == 1 + math.prod(feat.shape[2:])
    torch.testing.assert_close(feat.flatten(2).transpose(1, 2), tokens[:, 1:])
    # perturbing one patch of the input changes the patch-embedding token at that grid position only
    x2 = x.clone()
    x2[(0, 0, *(slice(4, 8),) + (slice(0, 4),) * (spatial_dims - 1))] += 1.0
    emb = model.patch_embed.proj(x) - model.patch_embed.proj(x2)  # [B, D, *grid]
    changed = emb.abs().amax(dim=(0, 1)).nonzero().tolist()
    assert changed == [[1] + [0] * (spatial_dims - 1)]


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_unpatchify_layout(spatial_dims):
    """Token j, offset o, channel c lands at pixel (grid_j * p + o) of channel c, for every axis."""
    model = make(spatial_dims, in_channels=2)
    p, c, n = 4, 2, spatial_dims
    grid = model.grid_size
    tok = torch.arange(math.prod(grid)).view(-1, 1, 1)
    off = torch.arange(p**n).view(1, -1, 1)
    ch = torch.arange(c).view(1, 1, -1)
    codes = (tok * 10_000 + off * 10 + ch).reshape(1, math.prod(grid), p**n * c).float()
    img = model._unpatchify(codes)[0]  # [C, *img]
    assert img.shape == (c, *SIZES[spatial_dims])
    for pos in [(0,) * (n + 1), (1, *(s - 1 for s in SIZES[n])), (0, *(min(5, s - 1) for s in SIZES[n]))]:
        cc, coords = pos[0], pos[1:]
        g = [q // p for q in coords]
        o = [q % p for q in coords]
        j = sum(gi * math.prod(grid[i + 1 :]) for i, gi in enumerate(g))
        k = sum(oi * p ** (n - 1 - i) for i, oi in enumerate(o))
        assert img[pos].item() == j * 10_000 + k * 10 + cc


# -- early stopping and block addressing ------------------------------------------------------------


def _count_calls(model: UViT) -> dict[str, int]:
    counts = {name: 0 for name in model.block_names()}
    counts["decoder_pred"] = 0
    for name, block in model._blocks():
        block.register_forward_hook(lambda m, i, o, name=name: counts.__setitem__(name, counts[name] + 1))
    model.decoder_pred.register_forward_hook(
        lambda m, i, o: counts.__setitem__("decoder_pred", counts["decoder_pred"] + 1)
    )
    return counts


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_forward_blocks_early_stop(spatial_dims):
    model = make(spatial_dims)
    x, t = inputs(spatial_dims)
    _, full = model.forward_intermediates(x, t)
    counts = _count_calls(model)
    feats = model.forward_blocks(x, t, blocks=["mid", "in.0"])
    assert list(feats) == ["in.0", "mid"]  # execution order
    for name in feats:
        torch.testing.assert_close(feats[name], full[name], rtol=0, atol=0)
    assert counts == {"in.0": 1, "in.1": 1, "mid": 1, "out.0": 0, "out.1": 0, "decoder_pred": 0}

    feats = model.forward_blocks(x, t, blocks="out.0")
    torch.testing.assert_close(feats["out.0"], full["out.0"], rtol=0, atol=0)
    assert counts["out.0"] == 1 and counts["out.1"] == 0 and counts["decoder_pred"] == 0


def test_long_skips_mirror_in_blocks():
    """out.i fuses the output of in.{n-1-i}: the second half of its skip_linear input."""
    model = make(2, depth=7)  # 3 in-blocks
    x, t = inputs(2)
    seen = {}
    for i, blk in enumerate(model.out_blocks):
        blk.skip_linear.register_forward_hook(lambda m, inp, o, i=i: seen.__setitem__(i, inp[0]))
    _, feats = model.forward_intermediates(x, t)
    for i in range(3):
        skip = seen[i][..., 32:]  # cat([x, skip], -1)
        torch.testing.assert_close(
            skip[:, 1:].transpose(1, 2), feats[f"in.{2 - i}"].flatten(2), rtol=0, atol=0
        )


def test_forward_intermediates_subset():
    model = make(2)
    x, t = inputs(2)
    out, feats = model.forward_intermediates(x, t, blocks=["out.1"])
    assert list(feats) == ["out.1"]
    torch.testing.assert_close(out, model(x, t), rtol=0, atol=0)


def test_unknown_block_raises_keyerror_listing_valid_names():
    model = make(2)
    x, t = inputs(2)
    with pytest.raises(KeyError, match=r"'down\.0'.*in\.0, in\.1, mid, out\.0, out\.1"):
        model.forward_blocks(x, t, blocks=["mid", "down.0"])


# -- conditioning ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_conditional_output_depends_on_label(spatial_dims):
    model = make(spatial_dims, num_classes=3)
    assert model.label_emb.num_embeddings == 4  # 3 classes + "no class"
    x, t = inputs(spatial_dims)
    out0 = model(x, t, torch.tensor([0, 0]))
    out1 = model(x, t, torch.tensor([1, 1]))
    assert (out0 - out1).abs().max() > 1e-4
    # y=None means the "no class" token (index num_classes)
    torch.testing.assert_close(model(x, t), model(x, t, torch.tensor([3, 3])), rtol=0, atol=0)
    assert (model(x, t) - out0).abs().max() > 1e-4


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_soft_one_hot_equals_hard_labels(spatial_dims):
    model = make(spatial_dims, num_classes=3)
    x, t = inputs(spatial_dims)
    y = torch.tensor([2, 0])
    soft = nn.functional.one_hot(y, 3).float()
    torch.testing.assert_close(model(x, t, soft), model(x, t, y), rtol=1e-5, atol=1e-6)


def test_gradient_flows_to_soft_labels():
    model = make(2, num_classes=3)
    x, t = inputs(2)
    for p in model.parameters():
        p.requires_grad_(False)  # frozen backbone, as in the D-Cube cycle loss
    logits = torch.randn(2, 3, requires_grad=True)
    probs = logits.softmax(-1)
    out = model(x, t, probs)
    out.square().mean().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_label_errors():
    x, t = inputs(2)
    with pytest.raises(ValueError, match="unconditional"):
        make(2)(x, t, torch.tensor([0, 1]))
    cond = make(2, num_classes=3)
    with pytest.raises(ValueError, match="hard labels"):
        cond(x, t, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"soft labels must have shape \[B, 3\]"):
        cond(x, t, torch.rand(2, 4))


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_unconditional_ignores_missing_label(spatial_dims):
    model = make(spatial_dims)
    assert model.label_emb is None
    x, t = inputs(spatial_dims)
    torch.testing.assert_close(model(x, t, None), model(x, t), rtol=0, atol=0)


# -- init, checkpointing, input validation ------------------------------------------------------------


def test_zero_init_final_projection_and_time_dependence():
    model = make(2, randomize_head=False)
    assert model.decoder_pred.weight.abs().sum() == 0 and model.decoder_pred.bias.abs().sum() == 0
    x, _ = inputs(2)
    # all output is the conv bias at init, so it is the same for any input
    torch.testing.assert_close(model(x, 3), model(torch.zeros_like(x), 900))
    model = make(2)
    assert (model(x, 3) - model(x, 900)).abs().max() > 1e-4  # the time token matters


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_activation_checkpointing_matches(spatial_dims):
    x, t = inputs(spatial_dims)
    grads = []
    for flag in (False, True):
        model = make(spatial_dims, use_checkpoint=flag, mlp_time_embed=True).train()
        out = model(x, t)
        out.square().mean().backward()
        grads.append((out.detach(), model.patch_embed.proj.weight.grad.clone()))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


def test_wrong_input_size_raises():
    model = make(2)
    with pytest.raises(ValueError, match=r"expected input \[B, 1, 16, 12\]"):
        model(torch.randn(2, 1, 16, 16), 0)


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"img_size": (16,)}, "img_size"),
        ({"img_size": (16, 18), "patch_size": 4}, "img_size"),
        ({"depth": 6}, "depth"),
        ({"embed_dim": 30, "num_heads": 4}, "num_heads"),
        ({"num_classes": 0}, "num_classes"),
        ({"patch_size": 0}, "patch_size"),
    ],
)
def test_config_validation(kw, field):
    with pytest.raises(ValueError, match=field):
        UViTConfig(**kw)


# -- learning and presets -------------------------------------------------------------------------------


@pytest.mark.parametrize("spatial_dims", DIMS)
def test_overfits_tiny_batch(spatial_dims):
    """Noise prediction at a fixed t on a fixed batch: the loss must fall a lot in 60 steps."""
    torch.manual_seed(0)
    model = make(spatial_dims, randomize_head=False, conv_out=True).train()
    x0, _ = inputs(spatial_dims, batch=4)
    eps = torch.randn_like(x0)
    alpha_bar = 0.5
    xt = alpha_bar**0.5 * x0 + (1 - alpha_bar) ** 0.5 * eps
    t = torch.full((4,), 500)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(60):
        loss = (model(xt, t) - eps).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0.5
    assert losses[-1] < 0.25 * losses[0], losses[::10]


def test_presets():
    assert UVIT_PRESETS == ("tiny", "small-28", "small-3d-28", "dcube-128")
    assert uvit_config("small-3d-28").spatial_dims == 3
    cfg = uvit_config("tiny", num_classes=2, img_size=(8, 8))
    assert cfg.num_classes == 2 and cfg.img_size == (8, 8) and cfg.embed_dim == 32
    with pytest.raises(ValueError, match="valid presets: tiny, small-28"):
        uvit_config("huge")
    with pytest.raises(ValueError, match="depth"):
        uvit_config("tiny", depth=4)


def test_dcube_preset_size():
    cfg = uvit_config("dcube-128")
    assert (cfg.img_size, cfg.patch_size, cfg.embed_dim, cfg.depth, cfg.num_heads) == (
        (128, 128),
        8,
        512,
        13,
        8,
    )
    assert cfg.qkv_bias is False
    with torch.device("meta"):  # no memory or init cost
        model = UViT(cfg)
    n = sum(p.numel() for p in model.parameters())
    assert 40e6 < n < 50e6, n
    assert len(model.feature_info) == 13
    assert model.pos_embed.shape == (1, 1 + 16 * 16, 512)
