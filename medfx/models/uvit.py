"""U-ViT: a Vision Transformer noise predictor with long skip connections, for 2D and 3D images.

Reference: Bao et al., "All are Worth Words: A ViT Backbone for Diffusion Models", CVPR 2023
(https://arxiv.org/abs/2209.12152). Class conditioning follows D-Cube (ICDM 2024, arXiv 2411.11087):
a label embedding is *added to every token* instead of being an extra token; the only extra token
is the time token.

Layout (``depth`` blocks in all, ``depth`` odd)::

    x [B, C, *img] -> patch conv -> tokens [B, N, D]
    [time token | patch tokens] + pos_embed (+ label embedding on every token)
    in.0 ... in.{n-1} -> mid -> out.0 ... out.{n-1}     n = (depth - 1) // 2
    out.i takes a long skip from in.{n-1-i}: Linear(cat(x, skip)) 2D -> D
    LayerNorm -> Linear(D, p**d * C) -> unpatchify -> optional 3x3 conv -> noise [B, C, *img]

Block features. Every block outputs a token map ``[B, 1 + N, D]``. ``forward_blocks`` and
``forward_intermediates`` return it as a **spatial map** ``[B, D, *grid]`` with ``grid = img // patch``:
the time token is dropped and the patch tokens are laid out on the patch grid, so U-ViT features
pool exactly like U-Net features (``feat.flatten(2).mean(-1)``).

Parameter names follow the U-ViT / D-Cube code (``patch_embed.proj``, ``pos_embed``, ``time_embed``,
``label_emb``, ``in_blocks``, ``mid_block``, ``out_blocks``, ``norm``, ``decoder_pred``,
``final_layer``) so that their checkpoints map onto this module with few renames (D-Cube's
``label_emb`` has K rows, ours K + 1; the extra row is the "no class" token).

Presets (``uvit_config(name)``), parameter counts for ``in_channels=1``, unconditional
(a conditional model adds ``(K + 1) * embed_dim``):

=============  ========  =====  =====  =====  =====  ===========
name           img       patch  dim    depth  heads  parameters
=============  ========  =====  =====  =====  =====  ===========
tiny           16x16     4      32     5      2      0.069M
small-28       28x28     4      192    9      4      4.31M
small-3d-28    28x28x28  4      192    7      4      3.42M
dcube-128      128x128   8      512    13     8      44.31M
=============  ========  =====  =====  =====  =====  ===========
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from torch import nn
from torch.utils.checkpoint import checkpoint

from medfx.models.base import Backbone, BlockInfo

__all__ = ["UVIT_PRESETS", "UViT", "UViTConfig", "timestep_embedding", "uvit_config"]


# ----------------------------------------------------------------------------------------------
# Config and presets
# ----------------------------------------------------------------------------------------------


@dataclass
class UViTConfig:
    """Hyper-parameters of a :class:`UViT`."""

    img_size: tuple[int, ...] = (32, 32)  # spatial size; 2 entries = 2D, 3 entries = 3D
    patch_size: int = 4  # cubic patches; every img_size entry must be divisible by it
    in_channels: int = 1  # image channels (output has the same)
    embed_dim: int = 256  # token width D
    depth: int = 7  # total number of blocks, odd: (depth-1)/2 in + 1 mid + (depth-1)/2 out
    num_heads: int = 4  # attention heads; must divide embed_dim
    mlp_ratio: float = 4.0  # MLP hidden width = mlp_ratio * embed_dim
    qkv_bias: bool = False  # bias in the qkv projection
    mlp_time_embed: bool = False  # MLP (D -> 4D -> D) on the sinusoidal time embedding
    num_classes: int | None = None  # None = unconditional; K = K class embeddings + 1 "no class"
    conv_out: bool = True  # 3x3 conv after unpatchify, as in U-ViT
    use_checkpoint: bool = False  # activation checkpointing of the blocks while training

    def __post_init__(self) -> None:
        self.img_size = tuple(int(s) for s in self.img_size)
        if len(self.img_size) not in (2, 3):
            raise ValueError(f"img_size must have 2 or 3 entries (2D or 3D), got {self.img_size}")
        if self.patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {self.patch_size}")
        if any(s < 1 or s % self.patch_size for s in self.img_size):
            raise ValueError(
                f"img_size {self.img_size} must be positive and divisible by patch_size {self.patch_size}"
            )
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}")
        if self.embed_dim < 2 or self.embed_dim % 2:
            raise ValueError(f"embed_dim must be an even number >= 2, got {self.embed_dim}")
        if self.depth < 1 or self.depth % 2 == 0:
            raise ValueError(
                f"depth must be odd and >= 1 ((depth-1)/2 in-blocks, 1 mid, (depth-1)/2 out-blocks), "
                f"got {self.depth}; e.g. U-ViT/D-Cube 'depth 12' is depth=13 here"
            )
        if self.num_heads < 1 or self.embed_dim % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide embed_dim ({self.embed_dim})")
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if self.num_classes is not None and self.num_classes < 1:
            raise ValueError(f"num_classes must be None or >= 1, got {self.num_classes}")

    def block_names(self) -> list[str]:
        """The block names of the network this config builds (without building it)."""
        n = range((self.depth - 1) // 2)
        return [f"in.{i}" for i in n] + ["mid"] + [f"out.{i}" for i in n]

    @property
    def spatial_dims(self) -> int:
        return len(self.img_size)

    @property
    def grid_size(self) -> tuple[int, ...]:
        return tuple(s // self.patch_size for s in self.img_size)


_PRESETS: dict[str, dict] = {
    "tiny": {"img_size": (16, 16), "patch_size": 4, "embed_dim": 32, "depth": 5, "num_heads": 2},
    "small-28": {"img_size": (28, 28), "patch_size": 4, "embed_dim": 192, "depth": 9, "num_heads": 4},
    # patch 4 -> 7^3 = 343 tokens; pass patch_size=7 (4^3 = 64 tokens) for ~5x cheaper CPU runs
    "small-3d-28": {"img_size": (28, 28, 28), "patch_size": 4, "embed_dim": 192, "depth": 7, "num_heads": 4},
    # D-Cube: img 128, patch 8, dim 512, "depth 12" (6 in + mid + 6 out), 8 heads, no qkv bias
    "dcube-128": {
        "img_size": (128, 128),
        "patch_size": 8,
        "embed_dim": 512,
        "depth": 13,
        "num_heads": 8,
        "qkv_bias": False,
        "mlp_time_embed": False,
    },
}

UVIT_PRESETS: tuple[str, ...] = tuple(_PRESETS)


def uvit_config(name: str, **overrides) -> UViTConfig:
    """The preset ``name`` (one of ``UVIT_PRESETS``) with fields replaced by ``overrides``."""
    if name not in _PRESETS:
        raise ValueError(f"unknown U-ViT preset {name!r}; valid presets: {', '.join(UVIT_PRESETS)}")
    return replace(UViTConfig(**_PRESETS[name]), **overrides)


# ----------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[B, dim]`` (cos half, then sin half) of timesteps ``t`` ``[B]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # [B, half]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens ``[B, N, D]`` via a strided conv (2D or 3D)."""

    def __init__(self, spatial_dims: int, patch_size: int, in_channels: int, embed_dim: int):
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.proj = conv(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, D, *grid] -> [B, N, D]


class Attention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention``."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, H, N, d/H]
        x = F.scaled_dot_product_attention(q, k, v)  # [B, H, N, d/H]
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm Transformer block; with ``skip`` it first fuses a long skip: Linear(cat(x, skip))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, skip: bool = False):
        super().__init__()
        self.skip_linear = nn.Linear(2 * dim, dim) if skip else None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip], dim=-1))
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


# ----------------------------------------------------------------------------------------------
# U-ViT
# ----------------------------------------------------------------------------------------------


class UViT(Backbone):
    """U-ViT noise predictor ``forward(x, t, y=None) -> eps`` for 2D or 3D inputs of size ``cfg.img_size``.

    ``t``: integer timesteps ``[B]`` or a scalar. ``y``: hard labels ``[B]`` (index ``num_classes`` is
    the "no class" token), soft probabilities ``[B, num_classes]``, or None (= "no class" for a
    conditional model). Block features are spatial maps ``[B, embed_dim, *grid]`` (time token dropped).
    """

    def __init__(self, cfg: UViTConfig):
        super().__init__()
        self.config = cfg
        self.spatial_dims = cfg.spatial_dims
        self.num_classes = cfg.num_classes
        self.grid_size = cfg.grid_size
        d, p, n_half = cfg.embed_dim, cfg.patch_size, (cfg.depth - 1) // 2
        num_patches = math.prod(self.grid_size)

        self.patch_embed = PatchEmbed(cfg.spatial_dims, p, cfg.in_channels, d)
        self.time_embed = (
            nn.Sequential(nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d))
            if cfg.mlp_time_embed
            else nn.Identity()
        )
        self.label_emb = nn.Embedding(cfg.num_classes + 1, d) if cfg.num_classes is not None else None
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, d))  # time token + patches

        blk = {"dim": d, "num_heads": cfg.num_heads, "mlp_ratio": cfg.mlp_ratio, "qkv_bias": cfg.qkv_bias}
        self.in_blocks = nn.ModuleList([Block(**blk) for _ in range(n_half)])
        self.mid_block = Block(**blk)
        self.out_blocks = nn.ModuleList([Block(**blk, skip=True) for _ in range(n_half)])

        self.norm = nn.LayerNorm(d)
        self.decoder_pred = nn.Linear(d, p**cfg.spatial_dims * cfg.in_channels)
        conv = Conv[Conv.CONV, cfg.spatial_dims]
        self.final_layer = (
            conv(cfg.in_channels, cfg.in_channels, 3, padding=1) if cfg.conv_out else nn.Identity()
        )

        names = [f"in.{i}" for i in range(n_half)] + ["mid"] + [f"out.{i}" for i in range(n_half)]
        self.feature_info = [BlockInfo(nm, i, d, (p,) * cfg.spatial_dims) for i, nm in enumerate(names)]
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Truncated normal (std 0.02) for Linear, positional and label embeddings; zero final projection."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.label_emb is not None:
            nn.init.trunc_normal_(self.label_emb.weight, std=0.02)
        nn.init.zeros_(self.decoder_pred.weight)
        nn.init.zeros_(self.decoder_pred.bias)

    # -- helpers ----------------------------------------------------------------------------
    def _blocks(self) -> list[tuple[str, Block]]:
        """``(name, block)`` in execution order."""
        blocks = [*self.in_blocks, self.mid_block, *self.out_blocks]
        return [(info.name, b) for info, b in zip(self.feature_info, blocks)]

    def _tokens_to_map(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, 1 + N, D]`` -> ``[B, D, *grid]`` (drops the time token)."""
        b, _, d = tokens.shape
        return tokens[:, 1:].transpose(1, 2).reshape(b, d, *self.grid_size)

    def _unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N, p**n * C]`` (per token: patch offsets, then channel) -> ``[B, C, *img]``, any rank n."""
        n, p, c = self.spatial_dims, self.config.patch_size, self.config.in_channels
        b = x.shape[0]
        x = x.reshape(b, *self.grid_size, *(p,) * n, c)  # [B, g0..gn-1, p0..pn-1, C]
        # -> [B, C, g0, p0, g1, p1, ...]
        x = x.permute(0, 2 * n + 1, *(a for i in range(n) for a in (1 + i, 1 + n + i)))
        return x.reshape(b, c, *(g * p for g in self.grid_size))

    def _label_tokens(self, y: torch.Tensor | None, batch: int, device) -> torch.Tensor | None:
        """Label embedding ``[B, 1, D]`` added to every token, or None for an unconditional model."""
        if self.label_emb is None:
            if y is not None:
                raise ValueError("this U-ViT is unconditional (num_classes=None) but y was given")
            return None
        if y is None:
            y = torch.full((batch,), self.num_classes, dtype=torch.long, device=device)
        elif not y.dtype.is_floating_point and y.numel() and (y.min() < 0 or y.max() > self.num_classes):
            raise ValueError(
                f"hard labels must lie in [0, {self.num_classes}] ({self.num_classes} = no class), "
                f"got range [{int(y.min())}, {int(y.max())}]"
            )
        emb = self._class_embedding(self.label_emb, y)
        if emb.shape[0] != batch:
            raise ValueError(f"y has batch size {emb.shape[0]}, x has {batch}")
        return emb.unsqueeze(1)

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.config.in_channels, *self.config.img_size)
        if x.ndim != 2 + self.spatial_dims or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected input [B, {', '.join(map(str, expected))}], got {list(x.shape)}")

    # -- forward ----------------------------------------------------------------------------
    def _run(self, x, t, y, blocks, stop_early, reduce=None) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        self._check_input(x)
        wanted = set(blocks)
        feats: dict[str, torch.Tensor] = {}
        if stop_early and not wanted:
            return None, feats
        b = x.shape[0]

        tokens = self.patch_embed(x)  # [B, N, D]
        t = self._timesteps(t, b, x.device)
        t_tok = self.time_embed(timestep_embedding(t, self.config.embed_dim).to(tokens.dtype))  # [B, D]
        h = torch.cat([t_tok.unsqueeze(1), tokens], dim=1) + self.pos_embed  # [B, 1 + N, D]
        label = self._label_tokens(y, b, x.device)
        if label is not None:
            h = h + label.to(h.dtype)  # D-Cube: label embedding added to every token

        n_half = len(self.in_blocks)
        skips: list[torch.Tensor] = []
        for i, (name, block) in enumerate(self._blocks()):
            skip = skips.pop() if i > n_half else None
            if self.config.use_checkpoint and self.training and torch.is_grad_enabled():
                h = checkpoint(block, h, skip, use_reentrant=False)
            else:
                h = block(h, skip)
            if i < n_half:
                skips.append(h)
            if name in wanted:
                fmap = self._tokens_to_map(h)
                feats[name] = fmap if reduce is None else reduce(name, fmap)
                if stop_early and len(feats) == len(wanted):
                    return None, feats

        h = self.decoder_pred(self.norm(h))[:, 1:]  # [B, N, p**n * C], time token dropped
        return self.final_layer(self._unpatchify(h)), feats
