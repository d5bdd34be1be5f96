"""CATS-like fusion head: a small transformer over pooled multi-block, multi-timestep diffusion features.

**This is a reconstruction, not the published CATS module.** Only the abstract of Li et al. ("Are Diffusion
Models Effective Good Feature Extractors for MRI Discriminative Tasks?") is public: it says CATS fuses U-Net
representations and adds 1.7M parameters; no code, layer list or input choice is released. Name it
"CATS-like" in results. Every design choice below is ours (methods notes §1.5, options A + B):

- inputs are (block, t) feature maps ``[B, C, *grid]`` (2D or 3D), each adaptive-average-pooled to ``pool_grid``;
- per input: a per-channel standardisation over the batch (BatchNorm, ``norm="batch"``, the default: the
  learned version of the StandardScaler the linear probes use), a 1x1 projection to ``width`` (a Linear on the
  grid-cell tokens), a learned (block, t) embedding and a positional embedding per grid cell (shared by all
  inputs). ``norm="layer"`` (LayerNorm over the channels of each grid cell) was our first choice; it removes
  each cell's overall magnitude, and on AdrenalMNIST3D (16-channel inputs) the head then could not learn at all
  (training loss stuck at the entropy of the class prior; BENCHMARKS.md), so it is no longer the default;
  ``norm="standard"`` (per-feature z-scores from the training rows, ``FeatureStandardizer``) was no better than
  ``"batch"`` on AdrenalMNIST3D (BENCHMARKS, thirty-third session);
- learned softmax mixing weights over the (block, t) inputs scale each input's projected tokens
  (Hyperfeatures-style; ``mixing_weights()``); with pre-norm transformer layers they express a relative
  emphasis between inputs, not an exact share of the prediction;
- a CLS token, ``depth`` pre-norm transformer encoder layers (DifFormer-style fusion), a final LayerNorm
  and a linear classifier on the CLS token.

``paper3d_cats_config`` sizes the head for the ``paper-3d`` U-Net inputs (``down.5``, ``mid``, ``up.0``,
512 channels, 3 timesteps, pooled to 4^3) to match the published 1.7M budget: width 184, depth 2 gives
**1,690,435** parameters for K = 2 (``PAPER3D_CATS_PARAMS``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from monai.networks.layers.factories import Norm
from torch import nn

from ..features.extractor import FeatureKey
from ..features.pooling import adaptive_pool

# ------------------------------------------------------------------------------------------------------------
# helpers shared by the heads
# ------------------------------------------------------------------------------------------------------------


def feature_shapes(feats: Mapping[FeatureKey, torch.Tensor]) -> dict[FeatureKey, tuple[int, ...]]:
    """``{(block, t): (C, *grid)}`` of a feature dict (drop the batch axis): what the heads' ``in_shapes`` take."""
    return {key: tuple(int(s) for s in v.shape[1:]) for key, v in feats.items()}


def normalize_in_shapes(in_shapes) -> dict[FeatureKey, tuple[int, ...]]:
    """Accept ``{(block, t): shape}`` or the list form ``[[block, t, shape], ...]`` (``get_config``); validate."""
    items = in_shapes.items() if isinstance(in_shapes, Mapping) else ((tuple(r[:2]), r[2]) for r in in_shapes)
    out: dict[FeatureKey, tuple[int, ...]] = {}
    for key, shape in items:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"in_shapes keys must be (block, t) pairs, got {key!r}")
        key = (str(key[0]), int(key[1]))
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (2, 3, 4):
            raise ValueError(f"in_shapes[{key}] must be (C, *grid) with a 1-3D grid, got {shape}")
        out[key] = shape
    if not out:
        raise ValueError("in_shapes is empty: the head needs at least one (block, t) input")
    dims = {len(s) - 1 for s in out.values()}
    if len(dims) != 1:
        raise ValueError(f"all inputs must have the same number of spatial dims, got shapes {list(out.values())}")
    return out


def in_shapes_config(in_shapes: Mapping[FeatureKey, tuple[int, ...]]) -> list[list]:
    """Plain list form ``[[block, t, [C, *grid]], ...]`` for configs and checkpoints."""
    return [[b, t, list(s)] for (b, t), s in in_shapes.items()]


def select_features(feats: Mapping, keys: Sequence[FeatureKey]) -> list[torch.Tensor]:
    """The tensors for ``keys`` in order; a clear KeyError when some are missing."""
    missing = [k for k in keys if k not in feats]
    if missing:
        raise KeyError(f"features missing for {missing}; the head was built for {list(keys)}, got {list(feats)}")
    return [feats[k] for k in keys]


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of each grid cell of ``[B, C, *grid]`` (a per-token LayerNorm).

    Unlike GroupNorm/InstanceNorm it keeps each channel's spatial mean, the signal linear probes on pooled
    diffusion features rely on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class FeatureStandardizer(nn.Module):
    """Per-feature z-scores of ``[B, C, *grid]`` maps: ``(x - mean) / std`` for every (channel, grid cell), with the
    statistics of the head's **training rows** (``fit``), like the StandardScaler the linear probes fit on theirs.

    Why (BENCHMARKS, thirty-third session): on AdrenalMNIST3D the diffusion features are dominated by a pattern
    common to every volume; after a LayerNorm over channels 98.5-99.97% of the input variance is that pattern and a
    head built on it can stay at chance. Per-feature z-scores leave only the variation across samples. The
    statistics are buffers (they travel with the state dict); ``forward`` refuses to run before ``fit``."""

    def __init__(self, shape: Sequence[int], eps: float = 1e-6):
        super().__init__()
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(*shape))
        self.register_buffer("inv_std", torch.ones(*shape))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit(self, chunks) -> FeatureStandardizer:
        """Statistics from an iterable of ``[b, C, *grid]`` tensors (streaming float64 sums; >= 2 rows in all)."""
        n, s1, s2 = 0, 0.0, 0.0
        for x in chunks:
            x = torch.as_tensor(x).to(torch.float64)
            if tuple(x.shape[1:]) != tuple(self.mean.shape):
                raise ValueError(f"feature maps of shape {tuple(x.shape[1:])} for a standardizer of "
                                 f"{tuple(self.mean.shape)}")
            n, s1, s2 = n + x.shape[0], s1 + x.sum(0), s2 + (x * x).sum(0)
        if n < 2:
            raise ValueError(f"feature standardisation needs at least 2 training rows, got {n}")
        mean = s1 / n
        var = (s2 / n - mean * mean).clamp_min(0.0)
        self.mean.copy_(mean.to(self.mean.dtype))
        std = var.sqrt()  # a feature constant on the training rows keeps scale 1 (as scikit-learn's scaler)
        self.inv_std.copy_(torch.where(std > self.eps, 1.0 / std, torch.ones_like(std)).to(self.inv_std.dtype))
        self.fitted.fill_(True)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.fitted):
            raise RuntimeError("FeatureStandardizer used before fit(): fit it on the training rows' features "
                               "(the heads' fit_feature_stats) first")
        return ((x.float() - self.mean.float()) * self.inv_std.float()).to(x.dtype)


@torch.no_grad()
def fit_standardizers(norms, keys: Sequence[FeatureKey], data, batch_size: int = 256) -> None:
    """Fit each ``FeatureStandardizer`` of ``norms`` on ``data.feats[key]`` (``ClassifierData``: the training
    rows, read ``batch_size`` rows at a time); the heads' ``fit_feature_stats``."""
    n = len(data)
    for norm, key in zip(norms, keys):
        src = select_features(data.feats or {}, [key])[0]
        norm.fit(src[torch.arange(a, min(a + batch_size, n))] for a in range(0, n, batch_size))


# ------------------------------------------------------------------------------------------------------------
# the head
# ------------------------------------------------------------------------------------------------------------


class CATSHead(nn.Module):
    """CATS-like fusion head (a reconstruction, see the module docstring). ``forward(feats) -> logits [B, K]``."""

    input_kinds = ("feats",)  # what the trainer feeds: the (block, t) feature dict

    def __init__(
        self,
        in_shapes,                      # {(block, t): (C, *grid)} or [[block, t, (C, *grid)], ...]
        num_classes: int,               # K >= 2
        width: int = 128,               # token width d
        depth: int = 2,                 # transformer encoder layers
        heads: int = 4,                 # attention heads (must divide width)
        mlp_ratio: float = 4.0,         # feed-forward width / d
        pool_grid: int = 4,             # every input is adaptive-pooled to pool_grid^dims cells
        dropout: float = 0.1,           # dropout in the transformer and before the classifier
        norm: str = "batch",            # input normalisation: "batch" (per channel, over the batch), "layer", or
        # "standard" (per-feature z-scores from the training rows, fit_feature_stats; FeatureStandardizer)
    ):
        super().__init__()
        self.in_shapes = normalize_in_shapes(in_shapes)
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if width % heads:
            raise ValueError(f"heads={heads} must divide width={width}")
        if depth < 1 or pool_grid < 1:
            raise ValueError(f"depth and pool_grid must be >= 1, got depth={depth}, pool_grid={pool_grid}")
        self.keys: list[FeatureKey] = list(self.in_shapes)
        self.spatial_dims = len(next(iter(self.in_shapes.values()))) - 1
        self.num_classes, self.width, self.depth, self.heads = num_classes, width, depth, heads
        self.mlp_ratio, self.pool_grid, self.dropout = mlp_ratio, pool_grid, dropout
        self.grid = (pool_grid,) * self.spatial_dims
        n_in, n_cells = len(self.keys), pool_grid**self.spatial_dims

        if norm not in ("batch", "layer", "standard"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'standard', got {norm!r}")
        self.norm = norm
        bn = Norm[Norm.BATCH, self.spatial_dims]
        self.norms = nn.ModuleList((bn(s[0]) if norm == "batch" else ChannelLayerNorm(s[0]) if norm == "layer"
                                    else FeatureStandardizer(s)) for s in self.in_shapes.values())
        self.projs = nn.ModuleList(nn.Linear(s[0], width) for s in self.in_shapes.values())  # 1x1 conv on tokens
        self.source_embed = nn.Parameter(torch.zeros(n_in, width))  # one per (block, t)
        self.pos_embed = nn.Parameter(torch.zeros(n_cells, width))  # one per grid cell
        self.mix_logits = nn.Parameter(torch.zeros(n_in))  # softmax mixing over (block, t)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        layer = nn.TransformerEncoderLayer(width, heads, round(width * mlp_ratio), dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm_out = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.source_embed, self.pos_embed, self.cls_token):
            if not p.is_meta:
                nn.init.trunc_normal_(p, std=0.02)

    # -- interpretability -----------------------------------------------------------------------------------------
    def mixing_weights(self) -> dict[FeatureKey, float]:
        """Softmax mixing weight of each (block, t) input; they sum to one."""
        w = torch.softmax(self.mix_logits.detach().float(), 0).cpu().tolist()
        return dict(zip(self.keys, w))

    def get_config(self) -> dict:
        """Plain constructor kwargs (``CATSHead(**cfg)`` rebuilds the head)."""
        return {"in_shapes": in_shapes_config(self.in_shapes), "num_classes": self.num_classes,
                "width": self.width, "depth": self.depth, "heads": self.heads, "mlp_ratio": self.mlp_ratio,
                "pool_grid": self.pool_grid, "dropout": self.dropout, "norm": self.norm}

    def fit_feature_stats(self, data, batch_size: int = 256) -> None:
        """With ``norm="standard"``: the per-feature statistics from the training rows ``data`` (the workflow
        calls it before training, ``fit_and_score``); a no-op otherwise."""
        if self.norm == "standard":
            fit_standardizers(self.norms, self.keys, data, batch_size)

    # -- forward ----------------------------------------------------------------------------------------------------
    def tokens(self, feats: Mapping[FeatureKey, torch.Tensor]) -> torch.Tensor:
        """The token sequence ``[B, 1 + n_inputs * n_cells, width]`` (CLS first) before the encoder."""
        xs = select_features(feats, self.keys)
        mix = torch.softmax(self.mix_logits, 0) * len(self.keys)  # 1 for every input at initialisation
        out = []
        for i, x in enumerate(xs):
            if x.ndim != self.spatial_dims + 2 or x.shape[1] != self.in_shapes[self.keys[i]][0]:
                raise ValueError(f"feature {self.keys[i]} has shape {tuple(x.shape)}, expected "
                                 f"[B, {self.in_shapes[self.keys[i]][0]}, <{self.spatial_dims} grid dims>]")
            if self.norm == "standard":  # per-feature statistics are of the input grid: standardise, then pool
                x = adaptive_pool(self.norms[i](x.to(self.pos_embed.dtype)), self.grid)
            else:
                x = self.norms[i](adaptive_pool(x, self.grid).to(self.pos_embed.dtype))
            tok = self.projs[i](x.flatten(2).transpose(1, 2))  # [B, n_cells, width]
            out.append(mix[i] * tok + self.source_embed[i] + self.pos_embed)
        tokens = torch.cat(out, 1)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], 1)

    def forward(self, feats: Mapping[FeatureKey, torch.Tensor]) -> torch.Tensor:
        h = self.encoder(self.tokens(feats))  # [B, 1 + N, width]
        return self.classifier(self.drop(self.norm_out(h[:, 0])))  # [B, K]


# ------------------------------------------------------------------------------------------------------------
# sizing for the paper-3d U-Net
# ------------------------------------------------------------------------------------------------------------

PAPER3D_BLOCKS: tuple[str, ...] = ("down.5", "mid", "up.0")  # 512-channel blocks around the bottleneck
PAPER3D_TIMESTEPS: tuple[int, ...] = (10, 50, 100)  # small t work best (CATS abstract, DDAE, diffssl)
PAPER3D_CATS_PARAMS = 1_690_435  # cats_param_count_for(paper3d_cats_config(num_classes=2)...), K = 2
PAPER3D_CATS_PARAMS_K3 = 1_690_620  # the same head for K = 3


def cats_param_count_for(in_shapes, num_classes: int = 2, **kwargs) -> int:
    """Parameters of a ``CATSHead(in_shapes, num_classes, **kwargs)``, built on the meta device (no memory)."""
    with torch.device("meta"):
        head = CATSHead(in_shapes, num_classes, **kwargs)
    return sum(p.numel() for p in head.parameters())


def paper3d_cats_config(
    num_classes: int = 2,
    blocks: Sequence[str] = PAPER3D_BLOCKS,
    timesteps: Sequence[int] = PAPER3D_TIMESTEPS,
    channels: int = 512,
    grid: Sequence[int] = (5, 7, 5),
) -> dict:
    """Constructor kwargs of the default CATS-like head on ``paper-3d`` U-Net features.

    Inputs are ``blocks`` x ``timesteps`` maps of ``channels`` (at 160x224x160 the deep blocks are 5x7x5 or
    10x14x10; ``grid`` only documents the input size, the head pools every input to 4^3). Width 184 and depth 2
    give 1,690,435 parameters for K = 2, the published 1.7M budget.
    """
    in_shapes = {(b, int(t)): (channels, *grid) for b in blocks for t in timesteps}
    return {"in_shapes": in_shapes, "num_classes": num_classes, "width": 184, "depth": 2, "heads": 4,
            "mlp_ratio": 4.0, "pool_grid": 4, "dropout": 0.1}


# ------------------------------------------------------------------------------------------------------------
# plot
# ------------------------------------------------------------------------------------------------------------


def plot_mixing_weights(head: CATSHead, path: str | Path, title: str | None = None) -> Path:
    """Bar chart (PNG) of the head's softmax mixing weight per (block, t)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weights = head.mixing_weights()
    labels = [f"{b}\nt={t}" for b, t in weights]
    fig = Figure(figsize=(max(4.0, 0.6 * len(labels) + 1.5), 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    ax.bar(range(len(labels)), list(weights.values()), color="tab:blue")
    ax.axhline(1.0 / len(labels), color="grey", linestyle="--", linewidth=0.8, label="uniform")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("mixing weight")
    ax.set_title(title or "CATS-like head: (block, t) mixing weights", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
