"""MONAI ``DiffusionModelUNet`` behind the medfx backbone contract (2D and 3D through ``spatial_dims``).

The wrapper keeps MONAI's module tree (so MONAI and MONAI Generative checkpoints load into ``self.net``) and
re-states its forward pass so that every block has a readable name and the pass can stop early:

    down.0 ... down.{L-1}   encoder levels (output of each DownBlock / AttnDownBlock, before the skip pop)
    mid                     the bottleneck (AttnMidBlock)
    up.0 ... up.{L-1}       decoder levels (up.0 is the deepest, just after the bottleneck)

``L`` is ``len(channels)``. Feature maps are ``[B, C, *spatial]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.networks.nets import DiffusionModelUNet
from monai.networks.nets.diffusion_model_unet import get_timestep_embedding
from torch.utils.checkpoint import checkpoint

from .base import Backbone, BlockInfo


@dataclass
class UNetConfig:
    spatial_dims: int = 2  # 2 for images, 3 for volumes
    in_channels: int = 1  # image channels (medfx data are single-channel)
    channels: tuple[int, ...] = (32, 64, 64)  # output channels per resolution level
    attention_levels: tuple[bool, ...] = (False, False, True)  # self-attention at each level
    num_res_blocks: int = 1  # residual blocks per level
    num_head_channels: tuple[int, ...] = (32,)  # channels per attention head; one value or one per level
    norm_num_groups: int = 32  # GroupNorm groups (must divide every entry of channels)
    norm_eps: float = 1e-6  # GroupNorm epsilon
    resblock_updown: bool = False  # residual blocks instead of plain conv for up/down sampling
    use_flash_attention: bool = True  # torch SDPA kernels (CPU and GPU)
    num_classes: int | None = None  # class-conditional when set (K real classes + 1 "no class" embedding)
    use_checkpoint: bool = False  # activation checkpointing of every level while training (same outputs, less memory)

    def __post_init__(self):
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if len(self.attention_levels) != len(self.channels):
            raise ValueError(
                f"attention_levels has {len(self.attention_levels)} entries but channels has {len(self.channels)}"
            )
        if len(self.num_head_channels) not in (1, len(self.channels)):
            raise ValueError("num_head_channels must have one entry or one per level")
        bad = [c for c in self.channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"norm_num_groups={self.norm_num_groups} does not divide channels {bad}")
        if self.num_classes is not None and self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 for a conditional model, got {self.num_classes}")

    def block_names(self) -> list[str]:
        """The block names of the network this config builds (without building it)."""
        levels = range(len(self.channels))
        return [f"down.{i}" for i in levels] + ["mid"] + [f"up.{i}" for i in levels]


class DiffusionUNet(Backbone):
    """Noise-prediction U-Net with named blocks. ``forward(x, t, y=None) -> eps``."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.config = cfg
        self.spatial_dims = cfg.spatial_dims
        self.num_classes = cfg.num_classes
        heads = cfg.num_head_channels
        self.net = DiffusionModelUNet(
            spatial_dims=cfg.spatial_dims,
            in_channels=cfg.in_channels,
            out_channels=cfg.in_channels,
            num_res_blocks=cfg.num_res_blocks,
            channels=cfg.channels,
            attention_levels=cfg.attention_levels,
            norm_num_groups=cfg.norm_num_groups,
            norm_eps=cfg.norm_eps,
            resblock_updown=cfg.resblock_updown,
            num_head_channels=heads[0] if len(heads) == 1 else heads,
            num_class_embeds=None if cfg.num_classes is None else cfg.num_classes + 1,
            use_flash_attention=cfg.use_flash_attention,
        )
        self.feature_info = self._declare_blocks()

    def _declare_blocks(self) -> list[BlockInfo]:
        ch = self.config.channels
        levels = len(ch)
        d = self.spatial_dims
        infos, factor = [], 1
        for i in range(levels):
            if i < levels - 1:  # every level but the last halves the resolution
                factor *= 2
            infos.append(BlockInfo(f"down.{i}", i, ch[i], (factor,) * d))
        infos.append(BlockInfo("mid", levels, ch[-1], (factor,) * d))
        rev = list(reversed(ch))
        for i in range(levels):
            if i < levels - 1:
                factor //= 2
            infos.append(BlockInfo(f"up.{i}", levels + 1 + i, rev[i], (factor,) * d))
        return infos

    def _run(self, x, t, y, blocks, stop_early, reduce=None):
        net = self.net
        want = set(blocks)
        last = max((self.block(b).index for b in blocks), default=-1)
        feats: dict[str, torch.Tensor] = {}

        t = self._timesteps(t, x.shape[0], x.device)
        emb = net.time_embed(get_timestep_embedding(t, net.block_out_channels[0]).to(dtype=x.dtype))
        if self.num_classes is not None:
            if y is None:  # unconditional ("no class") embedding
                y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
            emb = emb + self._class_embedding(net.class_embedding, y).to(emb.dtype)

        def keep(name: str, value: torch.Tensor, index: int) -> bool:
            if name in want:
                feats[name] = value if reduce is None else reduce(name, value)
            return stop_early and index >= last

        ckpt = self.config.use_checkpoint and self.training and torch.is_grad_enabled()

        def call(block, **kw):
            # activation checkpointing: recompute the level in the backward pass instead of storing it
            return checkpoint(block, use_reentrant=False, **kw) if ckpt else block(**kw)

        h = net.conv_in(x)
        skips = [h]
        for i, block in enumerate(net.down_blocks):
            h, res = call(block, hidden_states=h, temb=emb, context=None)
            skips.extend(res)
            if keep(f"down.{i}", h, i):
                return None, feats
        levels = len(net.down_blocks)
        h = call(net.middle_block, hidden_states=h, temb=emb, context=None)
        if keep("mid", h, levels):
            return None, feats
        for i, block in enumerate(net.up_blocks):
            n = len(block.resnets)
            res, skips = skips[-n:], skips[:-n]
            h = call(block, hidden_states=h, res_hidden_states_list=res, temb=emb, context=None)
            if keep(f"up.{i}", h, levels + 1 + i):
                return None, feats
        return net.out(h), feats

    def load_monai_state_dict(self, state_dict: dict) -> None:
        """Load weights of a MONAI (core or Generative) ``DiffusionModelUNet`` with the same architecture."""
        self.net.load_old_state_dict(state_dict)
