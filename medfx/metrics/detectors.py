"""Feature detectors for Fréchet distances and precision / recall.

A detector maps images ``[B, C, *spatial]`` in ``[-1, 1]`` (2D or 3D) to features ``[B, D]``
(float32, on the detector's device). Every detector has a ``name`` that goes into reports and a
``fd_label``: only :class:`InceptionDetector` reports ``"FID"``; any other detector reports a
labelled Fréchet distance ``"FD_<name>"`` so that it is never mistaken for FID.

medfx never downloads weights. The offline default (:func:`default_detector`) is
:class:`DiffusionFeatureDetector` (global-average-pooled features of a frozen medfx backbone) when a
backbone is available, else :class:`RandomConvDetector` (a fixed random conv net, fine for
relative comparisons and tests, meaningless as an absolute number). FID proper needs the standard FID
Inception-v3 weights on local disk as a plain state dict (pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``,
or a ``.safetensors`` conversion): ``InceptionDetector("path/to/pt_inception-2015-12-05-6726825d.pth")``. The
network is defined in medfx (:mod:`medfx.metrics.inception`); no code is loaded from the file. A TorchScript file
(which is a program, not just weights) is refused unless ``allow_torchscript=True`` says the caller trusts it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.errors import CheckpointError
from .inception import load_fid_inception

logger = logging.getLogger(__name__)

__all__ = [
    "ClassifierDetector",
    "Detector",
    "DiffusionFeatureDetector",
    "InceptionDetector",
    "RandomConvDetector",
    "default_detector",
    "global_pool",
]


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, *spatial]`` maps -> mean over space; ``[B, N, C]`` tokens -> mean over N; ``[B, D]`` as is."""
    if x.ndim >= 4:
        return x.flatten(2).mean(-1)
    if x.ndim == 3:
        return x.mean(1)
    if x.ndim == 2:
        return x
    raise ValueError(f"cannot pool a tensor of shape {tuple(x.shape)}")


class Detector(nn.Module):
    """Base class: subclasses set ``name`` and ``feature_dim`` and implement ``_features``.

    Detectors are frozen: they stay in eval mode (``train()`` is a no-op) and run without gradients.
    Move one with ``.to(device)``; inputs are moved to the detector's device.
    """

    name: str
    feature_dim: int

    @property
    def fd_label(self) -> str:
        """Report key of a Fréchet distance computed with this detector."""
        return f"FD_{self.name}"

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def train(self, mode: bool = True) -> Detector:
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim not in (4, 5):
            raise ValueError(f"{type(self).__name__} expects images [B, C, H, W] or [B, C, D, H, W], "
                             f"got shape {tuple(images.shape)}")
        feats = self._features(images.to(self.device, torch.float32))
        if feats.ndim != 2 or feats.shape[1] != self.feature_dim:
            raise RuntimeError(f"detector {self.name!r} returned features of shape {tuple(feats.shape)}, "
                               f"expected [B, {self.feature_dim}]")
        return feats.float()

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"name={self.name!r}, feature_dim={self.feature_dim}"


# -- Inception-v3 (FID proper) ----------------------------------------------------------
def is_torchscript_file(path: str | Path) -> bool:
    """True for a TorchScript archive (a zip holding ``code/`` or ``constants.pkl``): a program, not weights."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.endswith("/constants.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class InceptionDetector(Detector):
    """The standard FID Inception-v3, from local weights (never downloaded).

    Default: a plain state dict loaded into medfx's own :class:`~medfx.metrics.inception.FIDInceptionV3`
    (``pt_inception-2015-12-05-6726825d.pth`` as published by pytorch-fid, or a ``.safetensors`` conversion),
    loaded with ``torch.load(weights_only=True)``: no code from the file runs.

    ``allow_torchscript=True`` instead loads a TorchScript Inception-v3 such as ``inception-2015-12-05.pt``
    (clean-fid / StyleGAN2-ADA / EDM). **A TorchScript file is a program: using it executes code its author wrote**
    (it can, for example, write files). Only opt in for a file whose origin you trust. TorchScript input is
    ``[B, 3, 299, 299]`` in ``[0, 255]``; ``return_features=True`` is passed when its ``forward`` declares it.

    Input handling: images in ``input_range`` (the data range of the model / dataset, default ``[-1, 1]``;
    ``medfx fid`` passes the checkpoint's ``data.intensity_range``) are mapped to ``[0, 255]`` and rounded (as if saved as 8-bit
    images); 1-channel images are repeated to 3 channels; images are resized to ``resize_to``
    (bicubic, antialiased). Results are close to, not bit-identical with, clean-fid's PIL resizing.

    3D volumes ``[B, C, D1, D2, D3]`` are handled slice-wise: the ``num_slices`` central slices along
    spatial axis ``slice_axis`` (default the last axis, axial under MONAI's RAS convention) go through
    the 2D network and their features are averaged per volume. A slice-wise distance on volumes is
    not comparable with a 2D FID: say so in reports.
    """

    def __init__(self, weights_path: str | Path, feature_dim: int = 2048, resize_to: int = 299,
                 num_slices: int = 16, slice_axis: int = -1, name: str = "inception-v3",
                 input_range: tuple[float, float] = (-1.0, 1.0), allow_torchscript: bool = False):
        super().__init__()

        lo, hi = (float(v) for v in input_range)
        if not lo < hi:
            raise ValueError(f"input_range must be (low, high) with low < high, got {input_range!r}")
        self.input_range = (lo, hi)
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"Inception weights not found at {str(path)!r}. medfx never downloads weights: obtain the FID "
                "Inception-v3 state dict 'pt_inception-2015-12-05-6726825d.pth' (published by pytorch-fid) "
                "yourself and pass its local path, or use DiffusionFeatureDetector / RandomConvDetector "
                "for a labelled FD_<name>.")
        if num_slices < 1:
            raise ValueError(f"num_slices must be >= 1, got {num_slices}")
        if slice_axis not in (-3, -2, -1, 0, 1, 2):
            raise ValueError(f"slice_axis must be a spatial axis in -3..2, got {slice_axis}")
        self.torchscript = is_torchscript_file(path)
        if self.torchscript and not allow_torchscript:
            raise CheckpointError(
                f"{path}: is a TorchScript file, a program that runs its author's code when used; medfx does not "
                "run it. Use the state-dict weights pt_inception-2015-12-05-6726825d.pth, or, only if you trust "
                "the file's origin, opt in with --trust-torchscript-code (allow_torchscript=True)")
        if self.torchscript:
            logger.warning("%s: running TorchScript code (opted in with allow_torchscript)", path)
            try:
                with warnings.catch_warnings():  # TorchScript is the format these weights ship in
                    warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=DeprecationWarning)
                    self.net = torch.jit.load(str(path), map_location="cpu")
            except RuntimeError:
                raise CheckpointError(f"{path}: is not a loadable TorchScript file (torch.jit.load failed)") from None
            self._pass_return_features = self._accepts_return_features(self.net)
        else:
            self.net = load_fid_inception(path)
            self._pass_return_features = False
        self.net.eval()
        self.weights_path = str(path)
        self.name = name
        self.feature_dim = int(feature_dim)
        self.resize_to = int(resize_to)
        self.num_slices = int(num_slices)
        self.slice_axis = int(slice_axis) % 3

    @staticmethod
    def _accepts_return_features(net) -> bool:
        try:
            return any(a.name == "return_features" for a in net.forward.schema.arguments)
        except AttributeError:
            return False

    @property
    def fd_label(self) -> str:
        return "FID"

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim == 5:
            return self._features_3d(images)
        return self._features_2d(images)

    def _features_2d(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"InceptionDetector needs 1 or 3 channels, got {x.shape[1]}")
        lo, hi = self.input_range
        x = ((x - lo) * (255.0 / (hi - lo))).clamp(0, 255).round()
        if tuple(x.shape[-2:]) != (self.resize_to, self.resize_to):
            x = F.interpolate(x, size=(self.resize_to, self.resize_to), mode="bicubic",
                              align_corners=False, antialias=True).clamp(0, 255)
        if not self.torchscript:  # medfx's FIDInceptionV3 takes [-1, 1], like pytorch-fid's normalize_input
            return self.net(x / 127.5 - 1.0).flatten(1)
        out = self.net(x, return_features=True) if self._pass_return_features else self.net(x)
        return out.flatten(1)

    def _features_3d(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        x = x.movedim(2 + self.slice_axis, 1)  # [B, S, C, a, b]
        s = x.shape[1]
        k = min(self.num_slices, s)
        start = (s - k) // 2
        slices = x[:, start:start + k].reshape(b * k, *x.shape[2:])
        return self._features_2d(slices).reshape(b, k, -1).mean(1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weights_path={self.weights_path!r}"


# -- fixed random conv net (tests, fallback) ------------------------------------------------
class RandomConvDetector(Detector):
    """A tiny frozen conv net with seeded random weights, 2D or 3D; features are GAP of its output.

    Deterministic given ``seed`` (independent of the global RNG). Useful for tests and for relative
    comparisons when nothing better is available; the absolute value means nothing.
    """

    def __init__(self, spatial_dims: int, feature_dim: int = 64, seed: int = 0, in_channels: int = 1,
                 width: int = 16):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if feature_dim < 1:
            raise ValueError(f"feature_dim must be >= 1, got {feature_dim}")
        conv = getattr(nn, f"Conv{spatial_dims}d")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.seed = seed
        self.feature_dim = int(feature_dim)
        self.name = f"randconv{spatial_dims}d-{feature_dim}-s{seed}"
        self.net = nn.Sequential(
            conv(in_channels, width, 3, padding=1), nn.Tanh(),
            conv(width, 2 * width, 3, stride=2, padding=1), nn.Tanh(),
            conv(2 * width, feature_dim, 3, stride=2, padding=1), nn.Tanh(),
        )
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.net:
                if isinstance(module, conv):
                    fan_in = module.weight[0].numel()
                    module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        self.requires_grad_(False)
        self.eval()

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 2 + self.spatial_dims or images.shape[1] != self.in_channels:
            raise ValueError(f"{self.name} expects images [B, {self.in_channels}, *{self.spatial_dims} spatial "
                             f"dims], got shape {tuple(images.shape)}")
        return global_pool(self.net(images))


# -- medfx diffusion backbone -------------------------------------------------------------
class DiffusionFeatureDetector(Detector):
    """Global-average-pooled block features of a frozen medfx backbone, concatenated in ``blocks`` order.

    Uses ``backbone.forward_blocks(x, t, blocks=..., y=None)``; maps ``[B, C, *spatial]`` are averaged
    over space and tokens ``[B, N, C]`` (U-ViT) over N. The images are not noised: the network sees
    the clean input at timestep ``t`` (``t=0`` is the natural choice). ``feature_dim`` is read from
    ``backbone.feature_info`` when the backbone has one, else it must be given.
    """

    def __init__(self, backbone: nn.Module, blocks: Sequence[str], t: int = 0, feature_dim: int | None = None,
                 name: str | None = None):
        super().__init__()
        if isinstance(blocks, str):
            blocks = [blocks]
        if len(blocks) == 0:
            raise ValueError("blocks must name at least one block")
        if t < 0:
            raise ValueError(f"t must be >= 0, got {t}")
        self.backbone = backbone
        self.blocks = list(blocks)
        self.t = int(t)
        if feature_dim is None:
            if not hasattr(backbone, "block"):
                raise ValueError("feature_dim is required for a backbone without feature_info")
            feature_dim = sum(backbone.block(b).channels for b in self.blocks)
        self.feature_dim = int(feature_dim)
        self.name = name or f"diffusion-{'+'.join(self.blocks)}-t{self.t}"
        self.eval()

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        t = torch.full((images.shape[0],), self.t, dtype=torch.long, device=images.device)
        feats = self.backbone.forward_blocks(images, t, blocks=self.blocks, y=None)
        missing = [b for b in self.blocks if b not in feats]
        if missing:
            raise KeyError(f"backbone did not return blocks {missing}; got {sorted(feats)}")
        return torch.cat([global_pool(feats[b]) for b in self.blocks], dim=1)


# -- classifier trained on real data ------------------------------------------------------
class ClassifierDetector(Detector):
    """Features of a classifier trained on the real training split.

    ``layer_fn(model, images) -> Tensor`` returns the (penultimate) features, e.g.
    ``lambda m, x: m.features(x)``; spatial outputs are global-average-pooled.
    """

    def __init__(self, model: nn.Module, layer_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor],
                 feature_dim: int, name: str = "classifier"):
        super().__init__()
        self.model = model
        self.layer_fn = layer_fn
        self.feature_dim = int(feature_dim)
        self.name = name
        self.eval()

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return global_pool(self.layer_fn(self.model, images))


def default_detector(spatial_dims: int, backbone: nn.Module | None = None, blocks: Sequence[str] | None = None,
                     t: int = 0, seed: int = 0) -> Detector:
    """The offline default: ``DiffusionFeatureDetector`` on a backbone if given, else ``RandomConvDetector``.

    With a backbone and no ``blocks``, the deepest block of the backbone's ``feature_info`` whose name
    starts with ``"mid"`` is used (else its last block).
    """
    if backbone is None:
        logger.warning("no backbone given: using RandomConvDetector; its FD is only a relative measure")
        return RandomConvDetector(spatial_dims, seed=seed)
    if blocks is None:
        names = backbone.block_names()
        mids = [n for n in names if n.startswith("mid")]
        blocks = [mids[-1] if mids else names[-1]]
    return DiffusionFeatureDetector(backbone, blocks, t=t)
