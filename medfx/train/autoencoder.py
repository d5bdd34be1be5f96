"""Latent diffusion, training side: the ``AutoencoderKL`` trainer, its checkpoint, the latent scale factor, the
encoded (latent) dataset, and loaders for MONAI model-zoo latent diffusion bundles on local disk.

Loss: an L1 (or L2, ``latent.recon_loss``) reconstruction term plus ``latent.kl_weight`` x the KL divergence
of the posterior to N(0, I). The perceptual (LPIPS / MedicalNet) and adversarial (patch discriminator) terms of
MONAI's latent diffusion tutorials are not used: the perceptual networks are pretrained weights medfx would have
to download, and the adversarial term roughly doubles the cost of a step on a CPU.

Scale factor (``latent.scale_factor=auto``): ``1 / std`` of the posterior means of the training latents, so the
diffusion model sees latents of unit variance, as in Rombach et al. (2022).

Autoencoder checkpoint (``autoencoder.pt``, loadable with ``weights_only=True``)::

    {"format": "medfx-autoencoder-v1", "autoencoder": {"arch": "autoencoder_kl", "config": {...}},
     "state_dict": ..., "scale_factor": float, "step": int, "image_shape": [C, *spatial], "metrics": {...},
     "config": {"latent": {...}, "data": {...}}}
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.networks.nets import AutoencoderKL

from ..models.autoencoder import (
    AutoencoderConfig,
    autoencoder_config,
    autoencoder_spec,
    build_autoencoder,
    kl_divergence,
)
from ..utils.errors import CheckpointError
from ..utils.io import file_digest
from ..utils.runtime import autocast
from ..utils.torch_io import safe_torch_load

logger = logging.getLogger("medfx")

AE_FORMAT = "medfx-autoencoder-v1"


@dataclass
class LatentConfig:
    enabled: bool = False  # latent diffusion: train the diffusion model on autoencoder latents of the images
    autoencoder: str | None = None  # existing autoencoder file (medfx or MONAI AutoencoderKL); None: train one
    # (a MONAI state dict such as a model-zoo bundle's models/autoencoder.pt needs latent.sha256)
    sha256: str | None = None  # expected sha256 of `autoencoder` (required for a foreign state dict)
    latent_channels: int = 3  # channels of the latent
    channels: tuple[int, ...] = (32, 64, 64)  # autoencoder channels per level (reduction 2**(levels-1) per axis)
    attention_levels: tuple[bool, ...] = (False, False, False)  # autoencoder self-attention per level
    num_res_blocks: int = 1  # autoencoder residual blocks per level
    norm_num_groups: int = 16  # autoencoder GroupNorm groups
    nonlocal_attn: bool = False  # attention in the autoencoder's bottleneck (the brain LDM bundle has none)
    checkpointing: bool = False  # activation checkpointing in the autoencoder (same result, less memory)
    # (the paper-3d-latent autoencoder needs ~60 GiB per 160x224x160 volume in a training step without it)
    steps: int = 1000  # autoencoder optimizer steps
    batch_size: int = 16  # autoencoder batch
    lr: float = 1e-4  # autoencoder AdamW learning rate
    recon_loss: str = "l1"  # l1 | l2 reconstruction loss
    kl_weight: float = 1e-6  # weight of the KL term
    scale_factor: float | str = "auto"  # latent scale: auto (1 / std of the training latents) or a number
    precision: str = "auto"  # autoencoder training precision: auto (bf16 where native), fp32, bf16
    log_every: int = 20  # autoencoder steps between log lines

    def __post_init__(self):
        if self.recon_loss not in ("l1", "l2"):
            raise ValueError(f"recon_loss must be l1 or l2, got {self.recon_loss!r}")
        if isinstance(self.scale_factor, str) and self.scale_factor != "auto":
            try:
                self.scale_factor = float(self.scale_factor)
            except ValueError:
                raise ValueError(f"scale_factor must be 'auto' or a positive number, got {self.scale_factor!r}") \
                    from None
        if not isinstance(self.scale_factor, str) and not self.scale_factor > 0:
            raise ValueError(f"scale_factor must be 'auto' or a positive number, got {self.scale_factor}")
        if self.steps < 1 or self.batch_size < 1 or self.log_every < 1:
            raise ValueError("steps, batch_size and log_every must be >= 1")
        if not self.lr > 0 or self.kl_weight < 0:
            raise ValueError("lr must be > 0 and kl_weight >= 0")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.sha256 is not None and (len(self.sha256) != 64 or any(c not in "0123456789abcdef"
                                                                      for c in self.sha256.lower())):
            raise ValueError(f"sha256 must be 64 hex digits, got {self.sha256!r}")

        if self.sha256 is not None and self.autoencoder is None:
            raise ValueError("sha256 is the expected hash of latent.autoencoder, which is not set")
        if self.autoencoder is not None and not self.enabled:
            raise ValueError("autoencoder is set but latent.enabled=false; set latent.enabled=true to use it")

    def autoencoder_config(self, spatial_dims: int, in_channels: int = 1) -> AutoencoderConfig:
        return AutoencoderConfig(spatial_dims=spatial_dims, in_channels=in_channels,
                                 latent_channels=self.latent_channels, channels=tuple(self.channels),
                                 attention_levels=tuple(self.attention_levels), num_res_blocks=self.num_res_blocks,
                                 norm_num_groups=self.norm_num_groups, nonlocal_attn=self.nonlocal_attn,
                                 use_checkpoint=self.checkpointing)


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


# -- training -----------------------------------------------------------------------------------------
def _recon(kind: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = a.float() - b.float()
    return d.abs().mean() if kind == "l1" else d.pow(2).mean()


def train_autoencoder(lc: LatentConfig, train_ds, out_path: str | Path, seed: int = 0, device="cpu",
                      val_ds=None, amp_dtype: torch.dtype | None = None, config: dict | None = None) -> LatentModel:
    """Train an ``AutoencoderKL`` on ``train_ds`` (items ``(image, label, id)``) for ``lc.steps`` steps, compute
    the scale factor and write the checkpoint to ``out_path`` (atomically); returns the frozen ``LatentModel``.

    Data order and initialisation are seeded by ``seed``. ``amp_dtype`` (e.g. bf16) runs the forward pass under
    autocast. ``val_ds``: reconstruction error reported on it at the end (never used for a choice)."""
    from ..models.checkpoint import atomic_save

    device = torch.device(device)
    shape = tuple(train_ds[0][0].shape)
    ae_cfg = lc.autoencoder_config(len(shape) - 1, shape[0])
    ae_cfg.latent_shape(shape[1:])  # an indivisible size is an error before training
    torch.manual_seed(seed)
    model = build_autoencoder(ae_cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lc.lr)
    rng = np.random.default_rng([seed, 7])
    n, b = len(train_ds), min(lc.batch_size, len(train_ds))
    order, pos = rng.permutation(n), 0
    t0, history = time.perf_counter(), []
    model.train()
    for step in range(lc.steps):
        if pos + b > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + b]
        pos += b
        x = torch.stack([train_ds[int(i)][0] for i in idx]).to(device)
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + step)
        with autocast(device, amp_dtype):
            z_mu, z_sigma = model.encode(x)
            z = z_mu + z_sigma * torch.randn(z_mu.shape, generator=gen).to(device, z_mu.dtype)
            recon = model.decode(z)
        rec = _recon(lc.recon_loss, recon, x)
        kl = kl_divergence(z_mu, z_sigma)
        loss = rec + lc.kl_weight * kl
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"autoencoder loss became {loss.item()} at step {step}; lower latent.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % lc.log_every == 0 or step + 1 == lc.steps:
            history.append({"step": step + 1, "recon": rec.item(), "kl": kl.item(),
                            "time": time.perf_counter() - t0})
            logger.info("autoencoder step %d/%d: %s %.4f, KL %.1f", step + 1, lc.steps, lc.recon_loss, rec.item(),
                        kl.item())
    model.eval()
    spec = autoencoder_spec(ae_cfg)
    scale = lc.scale_factor
    if scale == "auto":
        scale = latent_scale_factor(LatentModel(model, spec, 1.0, "", ""), train_ds)
    metrics = {"train_seconds": time.perf_counter() - t0, "history": history,
               "params": sum(p.numel() for p in model.parameters())}
    if val_ds is not None and len(val_ds):
        metrics["val_" + lc.recon_loss] = reconstruction_error(LatentModel(model, spec, 1.0, "", ""), val_ds,
                                                               lc.recon_loss)
    ckpt = {"format": AE_FORMAT, "autoencoder": spec, "state_dict": model.state_dict(), "scale_factor": float(scale),
            "step": lc.steps, "image_shape": list(shape), "metrics": metrics, "config": config or {}}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(ckpt, out_path)
    return LatentModel(model, spec, float(scale), file_digest(out_path), str(out_path))


@torch.no_grad()
def latent_scale_factor(latent: LatentModel, ds, batch_size: int = 8, max_items: int = 512) -> float:
    """``1 / std`` of the unscaled posterior means of (at most ``max_items`` of) ``ds``."""
    n = min(len(ds), max_items)
    total = total_sq = count = 0.0
    for i in range(0, n, batch_size):
        x = torch.stack([ds[j][0] for j in range(i, min(n, i + batch_size))])
        z = latent.encode(x).double() / latent.scale_factor
        total += z.sum().item()
        total_sq += z.pow(2).sum().item()
        count += z.numel()
    var = total_sq / count - (total / count) ** 2
    if not var > 0:
        raise RuntimeError("the training latents have zero variance; the autoencoder collapsed (check latent.lr)")
    return float(1.0 / math.sqrt(var))


@torch.no_grad()
def reconstruction_error(latent: LatentModel, ds, kind: str = "l1", batch_size: int = 8) -> float:
    total, count = 0.0, 0
    for i in range(0, len(ds), batch_size):
        x = torch.stack([ds[j][0] for j in range(i, min(len(ds), i + batch_size))])
        r = latent.decode(latent.encode(x)).cpu()
        total += _recon(kind, r, x).item() * x.shape[0]
        count += x.shape[0]
    return total / max(count, 1)


# -- the encoded dataset --------------------------------------------------------------------------------
@torch.no_grad()
def encode_dataset(latent: LatentModel, ds, batch_size: int = 8):
    """An in-memory dataset of the scaled latents of ``ds`` (same labels, ids, classes), items
    ``(z [latent_channels, *latent_spatial], label, id)``: the diffusion trainer and the feature extractor read it
    like an image dataset, so noise is added to (and blocks x timesteps are read from) the latent."""
    from ..data.datasets import ArrayDataset

    zs = []
    for i in range(0, len(ds), batch_size):
        x = torch.stack([ds[j][0] for j in range(i, min(len(ds), i + batch_size))])
        zs.append(latent.encode(x).cpu())
    z = torch.cat(zs)
    out = ArrayDataset(z, source=f"{ds.source} (latents of {Path(latent.path).name})", spatial_dims=ds.spatial_dims,
                       class_names=ds.class_names, labels=ds.labels, ids=ds.ids,
                       subjects=getattr(ds, "subjects", None))
    out.channels = z.shape[1]
    return out


# -- loading --------------------------------------------------------------------------------------------
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


def load_autoencoder(path: str | Path, sha256: str | None = None, lc: LatentConfig | None = None,
                     spatial_dims: int | None = None, scale_factor: float | None = None,
                     device="cpu") -> LatentModel:
    """Load an autoencoder from a local file (never downloaded), checking its sha256 when ``sha256`` is given.

    A medfx ``autoencoder.pt`` carries its architecture and scale factor. A plain MONAI ``AutoencoderKL`` state
    dict (e.g. the model-zoo brain LDM bundle's ``models/autoencoder.pt``) needs ``sha256`` (a foreign file is
    only used when its hash is pinned), the architecture from ``lc`` (``latent.*`` keys) and ``spatial_dims``;
    its scale factor is ``scale_factor`` (None: computed by the caller from the training latents)."""
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
        if lc is None or spatial_dims is None:
            raise CheckpointError(f"{path}: a plain AutoencoderKL state dict needs the latent.* architecture keys")
        spec = autoencoder_spec(lc.autoencoder_config(spatial_dims))
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
    from ..models import build_backbone

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: diffusion file not found (medfx never downloads weights; give a local path)")
    _check_sha256(path, sha256, "the diffusion model's expected hash")
    obj = safe_torch_load(path, "diffusion model")
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    model = build_backbone(backbone_spec)
    _load_state(model.net, sd, path, "DiffusionModelUNet")
    return model.to(device).eval()
