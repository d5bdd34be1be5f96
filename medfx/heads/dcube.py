"""D-Cube classifier head (ICDM 2024; methods notes §2.4-2.8), rebuilt from the configuration, 2D and 3D.

Architecture (``DCubeHead``), with the reference code's fixed 128 px / 16x16 geometry derived from the inputs:

1. the selected (block, t) feature maps ``[B, C_i, *grid_i]`` are each normalised (a LayerNorm over channels per
   grid cell, one per input; D-Cube shares one LayerNorm across its equal-width U-ViT tokens; or, with
   ``feature_norm="standard"``, per-feature z-scores from the training rows' statistics, set by
   ``fit_feature_stats`` and applied before pooling: ``medfx.heads.cats.FeatureStandardizer``), adaptive-pooled
   to one grid, concatenated along channels and mixed by a 1x1 conv to ``fuse_channels`` (``f_main``).
   D-Cube mixes *tokens* with this conv (``fusion="tokens"``: no pooling, a linear map over the concatenated
   tokens); the default mixes channels, which needs no fixed token count;
2. sub-feature branch on the IMAGE: a MONAI ResNet (random init; ``pretrained_path`` loads a local state dict,
   nothing is ever downloaded). Its last feature map gives ``f_sub`` (3x3 conv to ``fuse_channels``, resized to
   the grid) and class scores (1x1 conv to K, global *sum* pooling -> ``[B, K, 1, ...]``);
3. ``x = conv1x1(cat(f_main, f_sub)) -> [B, 1, *grid]``; ``x = x + x * score`` -> ``[B, K, *grid]``;
4. three multi-kernel stages, each ``ReLU(conv3) + ReLU(conv5)`` then BatchNorm, channels K -> 64 -> 32 -> 4,
   no pooling; flatten -> Linear(., 32) -> ReLU -> Dropout(0.5) -> Linear(32, K).

Losses (``dcube_loss``): CE + 10 * cycle + 0.1 * flip-consistency, with the reference code's defects fixed:
the cycle term carries a gradient (the head's soft probabilities mix the frozen backbone's class embeddings,
``faithful_cycle=True`` keeps the original no-gradient argmax variant), any K >= 2, any device.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Norm
from torch import nn

from ..diffusion.schedule import NoiseProcess
from ..utils.errors import CheckpointError
from ..utils.torch_io import safe_torch_load
from .cats import (
    ChannelLayerNorm,
    FeatureKey,
    FeatureStandardizer,
    adaptive_pool,
    fit_standardizers,
    in_shapes_config,
    normalize_in_shapes,
    select_features,
)

logger = logging.getLogger(__name__)

RESNETS = ("resnet10", "resnet18", "resnet34", "resnet50")
FEATURE_NORMS = ("layer", "standard")
_INTERP = {1: "linear", 2: "bilinear", 3: "trilinear"}
_warned: set[str] = set()


def _warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(msg)


class MultiKernelStage(nn.Module):
    """``BN(ReLU(conv3x3(x)) + ReLU(conv5x5(x)))`` in any spatial dims; keeps the grid size."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int):
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.conv3 = conv(in_channels, out_channels, 3, padding=1)
        self.conv5 = conv(in_channels, out_channels, 5, padding=2)
        self.norm = Norm[Norm.BATCH, spatial_dims](out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv3(x)) + F.relu(self.conv5(x)))


def _build_resnet(name: str, spatial_dims: int, in_channels: int, num_classes: int, pretrained_path: str | None,
                  widen_factor: float = 1.0, imagenet_stem: bool = False):
    """A MONAI ResNet without its pooling/FC (``feed_forward=False``); optionally load a LOCAL state dict.

    ``imagenet_stem=True`` builds the torchvision/ImageNet layout: 3 input channels, a stride-2 7x7 stem, no bias
    in the downsampling convs, so an ImageNet state dict loads completely (anything left at random init is then
    an error, not a warning)."""
    if name not in RESNETS:
        raise ValueError(f"resnet must be one of {RESNETS}, got {name!r}")
    from monai.networks import nets

    extra = dict(conv1_t_stride=2, bias_downsample=False) if imagenet_stem else {}
    net = getattr(nets, name)(spatial_dims=spatial_dims, n_input_channels=3 if imagenet_stem else in_channels,
                              num_classes=num_classes, feed_forward=False, widen_factor=widen_factor, **extra)
    if pretrained_path is not None:
        sd = safe_torch_load(pretrained_path, "pretrained ResNet state dict (heads.dcube_pretrained)")
        sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
        if not isinstance(sd, dict):
            raise CheckpointError(f"{pretrained_path}: heads.dcube_pretrained must be a state dict, "
                                  f"got a {type(sd).__name__}")
        sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.removeprefix("module.").startswith("fc.")}
        own = net.state_dict()
        usable = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
        if not usable:
            raise ValueError(f"{pretrained_path}: no tensor matches the {spatial_dims}D {name} "
                             f"(first keys: {list(sd)[:3]})")
        net.load_state_dict(usable, strict=False)
        skipped = len(own) - len(usable)
        if skipped and imagenet_stem:
            left = [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
            if left:
                raise ValueError(f"{pretrained_path}: {len(left)} tensors of the {name} do not load (e.g. {left[0]!r}, "
                                 f"expected shape {tuple(own[left[0]].shape)}); the ImageNet path needs an intact "
                                 "torchvision-layout state dict")
        elif skipped:
            logger.warning("%s: loaded %d tensors into %s, %d left at random init", pretrained_path,
                           len(usable), name, skipped)
    return net


def _resnet_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The last feature map of a MONAI ResNet (before global pooling)."""
    x = net.act(net.bn1(net.conv1(x)))
    if not net.no_max_pool:
        x = net.maxpool(x)
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


class DCubeHead(nn.Module):
    """D-Cube classifier on frozen diffusion features and the image. ``forward(feats, image) -> logits [B, K]``."""

    input_kinds = ("feats", "image")  # what the trainer feeds

    def __init__(
        self,
        in_shapes,                                  # {(block, t): (C, *grid)} or [[block, t, (C, *grid)], ...]
        num_classes: int,                           # K >= 2
        image_channels: int = 1,                    # channels of the image fed to the ResNet branch
        grid: Sequence[int] | None = None,          # common grid; None = the per-axis largest input grid
        fuse_channels: int = 256,                   # channels of f_main and f_sub (D-Cube: 512)
        resnet: str = "resnet18",                   # MONAI ResNet of the sub-feature branch (D-Cube: ResNet-50)
        pretrained_path: str | None = None,         # local state dict for the ResNet (never downloaded)
        resnet_widen_factor: float = 1.0,           # MONAI widen_factor of the ResNet (< 1: a thinner branch)
        stage_channels: Sequence[int] = (64, 32, 4),  # the multi-kernel stages after the K-channel map
        hidden: int = 32,                           # width of the hidden FC layer
        dropout: float = 0.5,                       # dropout before the last FC layer
        fusion: str = "channels",                   # "channels" (1x1 conv over channels, pooled to grid) or
        # "tokens" (D-Cube: every input's cells are tokens, concatenated, mixed by a linear map over tokens to the
        # grid's cell count; needs inputs of equal channels; f_main keeps those channels)
        imagenet_stem: bool = False,                # D-Cube: learned 1x1 conv image_channels -> 3 in front of an
        # intact ImageNet-layout ResNet (3-channel stride-2 stem), so ImageNet weights load completely
        feature_norm: str = "layer",                # "layer": D-Cube's LayerNorm over channels per cell; "standard":
        # per-feature z-scores with the training rows' statistics (fit_feature_stats before training)
    ):
        super().__init__()
        self.in_shapes = normalize_in_shapes(in_shapes)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if not stage_channels:
            raise ValueError("stage_channels must not be empty")
        self.keys: list[FeatureKey] = list(self.in_shapes)
        d = self.spatial_dims = len(next(iter(self.in_shapes.values()))) - 1
        if grid is None:
            grid = tuple(max(s[1 + a] for s in self.in_shapes.values()) for a in range(d))
        self.grid = tuple(int(g) for g in grid)
        if len(self.grid) != d:
            raise ValueError(f"grid {self.grid} must have {d} entries (the inputs' spatial dims)")
        self.num_classes, self.image_channels, self.fuse_channels = num_classes, image_channels, fuse_channels
        self.resnet_name, self.pretrained_path = resnet, pretrained_path
        self.resnet_widen_factor = resnet_widen_factor
        self.stage_channels, self.hidden, self.dropout = tuple(int(c) for c in stage_channels), hidden, dropout
        if fusion not in ("channels", "tokens"):
            raise ValueError(f"fusion must be 'channels' or 'tokens', got {fusion!r}")
        self.fusion, self.imagenet_stem = fusion, bool(imagenet_stem)
        if feature_norm not in FEATURE_NORMS:
            raise ValueError(f"feature_norm must be one of {FEATURE_NORMS}, got {feature_norm!r}")
        self.feature_norm = feature_norm
        conv = Conv[Conv.CONV, d]

        # main branch: normalise, then pool to one grid + 1x1 channel-mixing conv, or token mixing
        self.norms = nn.ModuleList(ChannelLayerNorm(s[0]) if feature_norm == "layer" else FeatureStandardizer(s)
                                   for s in self.in_shapes.values())
        if fusion == "tokens":
            chans = {s[0] for s in self.in_shapes.values()}
            if len(chans) != 1:
                raise ValueError(f"fusion='tokens' needs inputs of equal channels, got {sorted(chans)}")
            self.fuse_channels = fuse_channels = chans.pop()
            n_tokens = sum(math.prod(s[1:]) for s in self.in_shapes.values())
            self.fuse = nn.Linear(n_tokens, math.prod(self.grid))  # D-Cube's Conv1d(k=1) over the token axis
        else:
            self.fuse = conv(sum(s[0] for s in self.in_shapes.values()), fuse_channels, 1)
        # sub-feature branch on the image
        self.adapter = conv(image_channels, 3, 1) if imagenet_stem else None
        if self.adapter is not None:
            with torch.no_grad():  # start as grey -> RGB replication (learned from there)
                self.adapter.weight.fill_(1.0 / image_channels)
                self.adapter.bias.zero_()
        self.resnet = _build_resnet(resnet, d, image_channels, num_classes, pretrained_path, resnet_widen_factor,
                                    imagenet_stem)
        sub_ch = self.resnet.in_planes  # channels of the last ResNet stage (512 or 2048)
        self.sub_proj = conv(sub_ch, fuse_channels, 3, padding=1)
        self.sub_score = conv(sub_ch, num_classes, 1)
        self.to_gray = conv(2 * fuse_channels, 1, 1)
        # multi-kernel head
        chans = (num_classes, *self.stage_channels)
        self.stages = nn.Sequential(*(MultiKernelStage(d, a, b) for a, b in itertools.pairwise(chans)))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * math.prod(self.grid), hidden), nn.ReLU(),
                                nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def get_config(self) -> dict:
        """Plain constructor kwargs (``DCubeHead(**cfg)`` rebuilds the head)."""
        return {"in_shapes": in_shapes_config(self.in_shapes), "num_classes": self.num_classes,
                "image_channels": self.image_channels, "grid": list(self.grid),
                "fuse_channels": self.fuse_channels, "resnet": self.resnet_name,
                "pretrained_path": self.pretrained_path, "resnet_widen_factor": self.resnet_widen_factor,
                "stage_channels": list(self.stage_channels), "hidden": self.hidden, "dropout": self.dropout,
                "fusion": self.fusion, "imagenet_stem": self.imagenet_stem,
                # the default is left out, so the configs of heads saved before the option rebuild unchanged
                **({} if self.feature_norm == "layer" else {"feature_norm": self.feature_norm})}

    @torch.no_grad()
    def fit_feature_stats(self, data, batch_size: int = 256) -> None:
        """With ``feature_norm="standard"``: the per-feature statistics from the training rows ``data``
        (``ClassifierData``: its ``feats`` of this head's keys, read ``batch_size`` rows at a time); a no-op for
        ``"layer"``. The workflow calls it before training (``fit_and_score``)."""
        if self.feature_norm == "standard":
            fit_standardizers(self.norms, self.keys, data, batch_size)

    def sub_features(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f_sub [B, fuse, *grid], score [B, K, 1, ...])`` from the image."""
        if image.ndim != self.spatial_dims + 2 or image.shape[1] != self.image_channels:
            raise ValueError(f"image must be [B, {self.image_channels}, <{self.spatial_dims} spatial dims>], "
                             f"got {tuple(image.shape)}")
        h = _resnet_features(self.resnet, image if self.adapter is None else self.adapter(image))
        f_sub = F.interpolate(self.sub_proj(h), size=self.grid, mode=_INTERP[self.spatial_dims], align_corners=False)
        score = self.sub_score(h).flatten(2).sum(-1)  # global sum pooling -> [B, K]
        return f_sub, score.reshape(*score.shape, *(1,) * self.spatial_dims)

    def main_features(self, feats: Mapping[FeatureKey, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
        """The fused diffusion features ``[B, fuse, *grid]`` (token mixing or pooled 1x1 channel mixing)."""
        if self.fusion == "tokens":
            xs = [self.norms[i](x.to(dtype)).flatten(2) for i, x in enumerate(select_features(feats, self.keys))]
            return self.fuse(torch.cat(xs, 2)).reshape(xs[0].shape[0], self.fuse_channels, *self.grid)
        if self.feature_norm == "standard":  # per-feature statistics are of the input grid: standardise, then pool
            xs = [adaptive_pool(self.norms[i](x.to(dtype)), self.grid)
                  for i, x in enumerate(select_features(feats, self.keys))]
        else:
            xs = [self.norms[i](adaptive_pool(x.to(dtype), self.grid))
                  for i, x in enumerate(select_features(feats, self.keys))]
        return self.fuse(torch.cat(xs, 1))

    def forward(self, feats: Mapping[FeatureKey, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        dtype = self.to_gray.weight.dtype
        f_main = self.main_features(feats, dtype)  # [B, fuse, *grid]
        f_sub, score = self.sub_features(image.to(dtype))  # [B, fuse, *grid], [B, K, 1, ...]
        x = self.to_gray(torch.cat([f_main, f_sub], 1))  # [B, 1, *grid]
        x = x + x * score  # [B, K, *grid]
        return self.fc(self.stages(x))  # [B, K]


# ------------------------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------------------------


def flip_last_axis(feats: Mapping[FeatureKey, torch.Tensor], image: torch.Tensor, axis: int = -1):
    """Features and image mirrored along spatial ``axis`` (default the last; the 'flipped copy' of the
    consistency term when no features of the flipped image are available)."""

    def mirror(x):
        return x.flip(2 + axis if axis >= 0 else x.ndim + axis)

    return {k: mirror(v) for k, v in feats.items()}, mirror(image)


def _cycle_active(backbone, diffusion_cfg) -> bool:
    if backbone is None:
        _warn_once("none", "D-Cube cycle loss is OFF: no diffusion backbone was given (cycle = 0).")
        return False
    if getattr(backbone, "num_classes", None) is None:
        _warn_once("uncond", "D-Cube cycle loss is OFF: the backbone is not class-conditional "
                             "(backbone.num_classes is None), so it cannot be steered by predicted labels (cycle = 0).")
        return False
    if diffusion_cfg is None:
        raise ValueError("diffusion_cfg is required for the cycle loss (the backbone's noise schedule)")
    trainable = [n for n, p in backbone.named_parameters() if p.requires_grad]
    if trainable:
        raise ValueError(f"the backbone must be frozen for the cycle loss (requires_grad=False), but "
                         f"{len(trainable)} tensors are trainable, e.g. {trainable[0]!r}; "
                         f"call backbone.requires_grad_(False)")
    return True


def cycle_loss(
    backbone,
    diffusion_cfg,
    image: torch.Tensor,
    labels: torch.Tensor,
    logits: torch.Tensor,
    generator: torch.Generator | None = None,
    faithful: bool = False,
    process=None,
) -> torch.Tensor:
    """MSE between the frozen conditional backbone's noise predictions with the true and the predicted labels.

    ``t`` and the noise are drawn on the CPU from ``generator`` (device-independent), the image is noised with
    the noise process of ``diffusion_cfg`` (``NoiseProcess``). Default: the head's soft probabilities ``softmax(logits)`` mix the
    class embeddings, so the gradient reaches the head through the frozen backbone. ``faithful=True``: D-Cube's
    original argmax labels under ``no_grad`` (the term is only logged, no gradient). ``image`` must be in the
    backbone's input intensity range.
    """
    process = process if process is not None else NoiseProcess(diffusion_cfg)
    b = image.shape[0]
    t = torch.randint(0, diffusion_cfg.num_train_timesteps, (b,), generator=generator).to(image.device)
    noise = torch.randn(tuple(image.shape), generator=generator).to(device=image.device, dtype=image.dtype)
    x_t = process.add_noise(image, noise, t)
    with torch.no_grad():
        eps_true = backbone(x_t, t, labels.long())
    if faithful:
        with torch.no_grad():
            eps_pred = backbone(x_t, t, logits.argmax(1))
    else:
        eps_pred = backbone(x_t, t, torch.softmax(logits.float(), 1))
    return F.mse_loss(eps_pred.float(), eps_true.float())


def dcube_loss(
    head: DCubeHead,
    feats: Mapping[FeatureKey, torch.Tensor],
    image: torch.Tensor,
    labels: torch.Tensor,
    *,
    backbone=None,
    diffusion_cfg=None,
    flip_feats: Mapping[FeatureKey, torch.Tensor] | None = None,
    weights: Sequence[float] = (1.0, 10.0, 0.1),
    generator: torch.Generator | None = None,
    faithful_cycle: bool = False,
    process=None,
    flip_axis: int = -1,
) -> dict[str, torch.Tensor]:
    """D-Cube's step-2 loss ``{"total", "ce", "cycle", "flip"}`` with ``weights = (ce, cycle, flip)``.

    - ``flip``: MSE between the logits of the input and of its mirrored copy (mirrored along spatial
      ``flip_axis``: in 3D the left-right axis, see ``heads.flip_axis``). ``flip_feats`` are the features of the
      flipped image computed by the frozen backbone (D-Cube: the flip passes through the whole model); when None,
      the feature maps themselves are mirrored (a cheap approximation: diffusion features are not exactly
      flip-equivariant).
    - ``cycle``: see ``cycle_loss``; 0 (with a one-time warning) when ``backbone`` is None or unconditional.
      The backbone must be frozen (``requires_grad=False``); the graph still runs through it.
    """
    if len(weights) != 3:
        raise ValueError(f"weights must be (ce, cycle, flip), got {tuple(weights)}")
    w_ce, w_cycle, w_flip = (float(w) for w in weights)
    labels = labels.long()
    logits = head(feats, image)
    ce = F.cross_entropy(logits.float(), labels)
    zero = logits.new_zeros((), dtype=torch.float32)
    flip = zero
    if w_flip:
        ff, fi = flip_last_axis(feats, image, flip_axis)
        logits_f = head(flip_feats if flip_feats is not None else ff, fi)
        flip = F.mse_loss(logits.float(), logits_f.float())
    cycle = zero
    if w_cycle and _cycle_active(backbone, diffusion_cfg):
        cycle = cycle_loss(backbone, diffusion_cfg, image, labels, logits, generator, faithful_cycle, process)
    total = w_ce * ce + w_cycle * cycle + w_flip * flip
    return {"total": total, "ce": ce, "cycle": cycle, "flip": flip}


class DCubeLoss:
    """``dcube_loss`` as a trainer loss: ``loss_fn(model, batch, generator) -> dict`` (see ``fit_classifier``).

    The backbone is frozen in place (``requires_grad_(False)``, eval mode) and the noise process built once.
    """

    def __init__(self, backbone=None, diffusion_cfg=None, weights: Sequence[float] = (1.0, 10.0, 0.1),
                 faithful_cycle: bool = False, flip_axis: int = -1):
        self.flip_axis = flip_axis
        self.backbone, self.diffusion_cfg = backbone, diffusion_cfg
        self.weights, self.faithful_cycle = tuple(weights), faithful_cycle
        self.process = None
        if backbone is not None:
            backbone.requires_grad_(False).eval()
            if diffusion_cfg is not None:
                self.process = NoiseProcess(diffusion_cfg)

    def __call__(self, model: DCubeHead, batch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        if self.backbone is not None:
            self.backbone.to(batch.images.device)
        return dcube_loss(model, batch.feats, batch.images, batch.labels, backbone=self.backbone,
                          diffusion_cfg=self.diffusion_cfg, weights=self.weights, generator=generator,
                          faithful_cycle=self.faithful_cycle, process=self.process,
                          flip_feats=getattr(batch, "flip_feats", None), flip_axis=self.flip_axis)
