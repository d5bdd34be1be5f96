"""MONAI ``AutoencoderKL`` for latent diffusion (2D and 3D through ``spatial_dims``).

The autoencoder maps an image ``[C, *spatial]`` to a latent ``[latent_channels, *spatial / 2**(levels-1)]``;
the diffusion U-Net is then trained on (and features are read from) the scaled latent ``z * scale_factor``.
medfx uses the posterior mean ``z_mu`` as the latent (deterministic: the same image always gives the same
latent, so a feature bank does not depend on a sampling draw).

The spec ``{"arch": "autoencoder_kl", "config": {...}}`` is what checkpoints store to rebuild the network.
``LatentModel`` is a frozen autoencoder with its scale factor; ``load_autoencoder`` / ``latent_of_checkpoint`` /
``load_bundle_diffusion`` read local files only (never a download), check sha256 and match every key strictly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from monai.networks.nets import AutoencoderKL

from ..utils.dataclass_io import from_dict, to_dict
from ..utils.errors import CheckpointError
from ..utils.io import file_digest
from ..utils.torch_io import safe_torch_load

ARCH = "autoencoder_kl"
AE_FORMAT = "medfx-autoencoder-v1"  # the autoencoder checkpoint written by medfx.train.autoencoder


@dataclass
class AutoencoderConfig:
    spatial_dims: int = 2  # 2 for images, 3 for volumes
    in_channels: int = 1  # image channels (medfx data are single-channel)
    latent_channels: int = 3  # channels of the latent the diffusion model sees
    channels: tuple[int, ...] = (32, 64, 64)  # channels per level; every level but the last halves the size
    attention_levels: tuple[bool, ...] = (False, False, False)  # self-attention at each level
    num_res_blocks: int = 1  # residual blocks per level
    norm_num_groups: int = 16  # GroupNorm groups (must divide every entry of channels)
    norm_eps: float = 1e-6  # GroupNorm epsilon
    nonlocal_attn: bool = False  # attention in the encoder's and decoder's bottleneck (MONAI's default is on)
    use_checkpoint: bool = False  # activation checkpointing of the residual blocks while training (less memory)

    def __post_init__(self):
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if len(self.attention_levels) != len(self.channels):
            raise ValueError(f"attention_levels has {len(self.attention_levels)} entries but channels has "
                             f"{len(self.channels)}")
        bad = [c for c in self.channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"norm_num_groups={self.norm_num_groups} does not divide channels {bad}")
        if self.latent_channels < 1 or self.num_res_blocks < 1:
            raise ValueError("latent_channels and num_res_blocks must be >= 1")

    @property
    def reduction(self) -> int:
        """Downsampling factor per axis between image and latent."""
        return 2 ** (len(self.channels) - 1)

    def latent_shape(self, image_shape) -> tuple[int, ...]:
        """``[latent_channels, *spatial]`` of the latent of an image of spatial shape ``image_shape``."""
        r = self.reduction
        bad = [s for s in image_shape if s % r]
        if bad:
            raise ValueError(f"image size {tuple(image_shape)} is not divisible by the autoencoder's reduction {r} "
                             f"({len(self.channels)} levels); change data.size or latent.channels")
        return (self.latent_channels, *(s // r for s in image_shape))


def autoencoder_spec(cfg: AutoencoderConfig) -> dict:
    return {"arch": ARCH, "config": to_dict(cfg)}


def build_autoencoder(spec_or_cfg) -> AutoencoderKL:
    """A MONAI ``AutoencoderKL`` from an ``AutoencoderConfig`` or its spec dict."""
    cfg = spec_or_cfg
    if isinstance(cfg, dict):
        if cfg.get("arch") != ARCH:
            raise ValueError(f"not an autoencoder spec (arch {cfg.get('arch')!r}, expected {ARCH!r})")
        cfg = from_dict(AutoencoderConfig, cfg["config"])
    return AutoencoderKL(
        spatial_dims=cfg.spatial_dims, in_channels=cfg.in_channels, out_channels=cfg.in_channels,
        num_res_blocks=cfg.num_res_blocks, channels=tuple(cfg.channels), attention_levels=tuple(cfg.attention_levels),
        latent_channels=cfg.latent_channels, norm_num_groups=cfg.norm_num_groups, norm_eps=cfg.norm_eps,
        with_encoder_nonlocal_attn=cfg.nonlocal_attn, with_decoder_nonlocal_attn=cfg.nonlocal_attn,
        use_checkpoint=cfg.use_checkpoint)


def autoencoder_config(spec: dict) -> AutoencoderConfig:
    return from_dict(AutoencoderConfig, spec["config"])


def kl_divergence(z_mu: torch.Tensor, z_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) summed over the latent's elements, averaged over the batch."""
    kl = 0.5 * (z_mu.float().pow(2) + z_sigma.float().pow(2) - torch.log(z_sigma.float().pow(2) + 1e-12) - 1)
    return kl.flatten(1).sum(1).mean()


def with_spatial_dims(cfg: AutoencoderConfig, spatial_dims: int, in_channels: int = 1) -> AutoencoderConfig:
    return dataclasses.replace(cfg, spatial_dims=spatial_dims, in_channels=in_channels)


# -- the frozen autoencoder and its loaders (local files only, sha256-checked) ------------------------------
@dataclass
class LatentModel:
    """A frozen autoencoder with its scale factor: ``encode(x) -> z_mu * scale``, ``decode(z)``."""

    autoencoder: torch.nn.Module
    spec: dict
    scale_factor: float
    sha256: str  # of the file it was loaded from
    path: str

    @property
    def config(self) -> AutoencoderConfig:
        return autoencoder_config(self.spec)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.autoencoder.eval()
        device = next(self.autoencoder.parameters()).device
        z_mu, _ = self.autoencoder.encode(x.to(device))
        return z_mu.float() * self.scale_factor

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        self.autoencoder.eval()
        device = next(self.autoencoder.parameters()).device
        return self.autoencoder.decode(z.to(device) / self.scale_factor).float()

    def info(self) -> dict:
        """What a latent diffusion checkpoint records about its autoencoder (``extra["latent"]``)."""
        return {"autoencoder": self.path, "sha256": self.sha256, "spec": self.spec,
                "scale_factor": self.scale_factor}


def _check_sha256(path: Path, expected: str | None, what: str) -> str:
    digest = file_digest(path)
    if expected is not None and digest != expected.lower():
        raise CheckpointError(f"{path}: sha256 {digest} differs from the expected {expected.lower()} ({what}); "
                              "the file is not the one you meant or is damaged")
    return digest


def _generative_name(key: str) -> str:
    """The MONAI Generative (model-zoo bundle) name of a MONAI core ``AutoencoderKL`` state-dict key."""
    return key.replace("postconv", "conv").replace(".attn.to_", ".to_").replace(".attn.out_proj.", ".proj_attn.")


def _load_state(model: torch.nn.Module, sd: dict, path: Path, what: str) -> None:
    """Load a MONAI (core or Generative) state dict strictly; one line naming the first bad key or shape.

    MONAI's own converter (``load_old_state_dict``) leaves keys the file lacks at their random initialisation and
    ignores extra ones, so every key is matched here first: nothing is loaded partially."""
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors ({what})")
    own = model.state_dict()
    if set(sd) == set(own):
        names = {k: k for k in own}
    elif isinstance(model, AutoencoderKL):
        names = {k: (k if k in sd else _generative_name(k)) for k in own}
    else:  # DiffusionModelUNet of MONAI Generative: MONAI's converter, guarded by the tensor count
        names = None
        if len(sd) != len(own):
            raise CheckpointError(f"{path}: {len(sd)} tensors in the file, {len(own)} in the configured {what}; "
                                  "check the architecture settings")
    if names is not None:
        missing = [k for k, o in names.items() if o not in sd and ".attn.out_proj." not in k]
        unexpected = sorted(set(sd) - set(names.values()))
        shapes = [k for k, o in names.items() if o in sd and tuple(sd[o].shape) != tuple(own[k].shape)]
        detail = None
        if shapes:
            k = shapes[0]
            detail = f"{k} has shape {tuple(sd[names[k]].shape)} in the file, {tuple(own[k].shape)} in the model"
        elif missing:
            detail = f"missing key {missing[0]!r} ({len(missing)} missing)"
        elif unexpected:
            detail = f"unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected)"
        if detail:
            raise CheckpointError(f"{path}: does not fit the configured {what} ({detail}); check the architecture "
                                  "settings")
    try:
        if set(sd) == set(own):
            model.load_state_dict(sd)
        else:
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its progress
                model.load_old_state_dict(dict(sd))
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: does not fit the configured {what} ({' '.join(str(e).split())[:200]}); "
                              "check the architecture settings") from None


def load_autoencoder(path: str | Path, sha256: str | None = None, arch: AutoencoderConfig | None = None,
                     scale_factor: float | None = None,
                     device="cpu") -> LatentModel:
    """Load an autoencoder from a local file (never downloaded), checking its sha256 when ``sha256`` is given.

    A medfx ``autoencoder.pt`` carries its architecture and scale factor. A plain MONAI ``AutoencoderKL`` state
    dict (e.g. the model-zoo brain LDM bundle's ``models/autoencoder.pt``) needs ``sha256`` (a foreign file is
    only used when its hash is pinned) and the architecture ``arch`` (from the ``latent.*`` keys);
    its scale factor is ``scale_factor`` (None: 1.0; the workflow computes it from the training latents)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: autoencoder file not found (medfx never downloads weights; give a local path)")
    obj = safe_torch_load(path, "autoencoder")
    medfx = isinstance(obj, dict) and obj.get("format") == AE_FORMAT
    if not medfx and sha256 is None:
        raise CheckpointError(f"{path}: a foreign autoencoder state dict needs its sha256 (latent.sha256=...); "
                              "medfx uses foreign weights only with a pinned hash")
    digest = _check_sha256(path, sha256, "latent.sha256")
    if medfx:
        spec, sd, scale = obj["autoencoder"], obj["state_dict"], float(obj["scale_factor"])
        if scale_factor is not None:
            scale = float(scale_factor)
    else:
        if arch is None:
            raise CheckpointError(f"{path}: a plain AutoencoderKL state dict needs the latent.* architecture keys")
        spec = autoencoder_spec(arch)
        sd = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
        scale = 1.0 if scale_factor is None else float(scale_factor)
    model = build_autoencoder(spec)
    _load_state(model, sd, path, f"{autoencoder_config(spec).spatial_dims}D AutoencoderKL")
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LatentModel(model, spec, scale, digest, str(path))


def latent_of_checkpoint(ckpt: dict, ckpt_path: str | Path, device="cpu") -> LatentModel | None:
    """The autoencoder a latent diffusion checkpoint was trained with (None for a pixel-space checkpoint).

    The file is found at its recorded path, or at ``autoencoder/autoencoder.pt`` next to the checkpoint's run
    folder, and must have the recorded sha256."""
    info = (ckpt.get("extra") or {}).get("latent")
    if not info:
        return None
    recorded = Path(info["autoencoder"])
    candidates = [recorded, Path(ckpt_path).parent / "autoencoder" / recorded.name]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise CheckpointError(f"{ckpt_path}: latent diffusion checkpoint, but its autoencoder {recorded} is missing")
    digest = _check_sha256(path, info["sha256"], f"the autoencoder recorded in {ckpt_path}")
    obj = safe_torch_load(path, "autoencoder")
    sd = obj["state_dict"] if isinstance(obj, dict) and obj.get("format") == AE_FORMAT else obj.get("state_dict", obj)
    model = build_autoencoder(info["spec"])
    _load_state(model, sd, path, "AutoencoderKL")
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LatentModel(model, info["spec"], float(info["scale_factor"]), digest, str(path))


def load_bundle_diffusion(path: str | Path, sha256: str, backbone_spec: dict, device="cpu"):
    """A medfx backbone with the weights of a MONAI model-zoo bundle's diffusion U-Net (``models/model.pt``),
    from a local file with a pinned sha256. ``backbone_spec`` (``{"arch": "unet", "config": {...}}``) must
    describe the same architecture; a wrong key or shape is a one-line error."""
    from . import build_backbone

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: diffusion file not found (medfx never downloads weights; give a local path)")
    _check_sha256(path, sha256, "the diffusion model's expected hash")
    obj = safe_torch_load(path, "diffusion model")
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    model = build_backbone(backbone_spec)
    _load_state(model.net, sd, path, "DiffusionModelUNet")
    return model.to(device).eval()
