"""Latent diffusion, training side: the ``latent.*`` config section, the ``AutoencoderKL`` trainer, its checkpoint,
the latent scale factor and the encoded (latent) dataset. The frozen autoencoder (``LatentModel``) and the loaders
of local files (medfx checkpoints, MONAI model-zoo bundles, sha256-checked) are in ``medfx.models.autoencoder``.

Loss: an L1 (or L2, ``latent.recon_loss``) reconstruction term plus ``latent.kl_weight`` x the KL divergence
of the posterior to N(0, I), plus, when ``latent.adversarial_weight > 0`` (off by default: it roughly doubles the
cost of a step on a CPU), MONAI's least-squares patch-discriminator term from step ``latent.adversarial_start``.
The perceptual term (LPIPS / MedicalNet) of MONAI's latent diffusion tutorials is not available: its networks are
pretrained weights medfx would have to download.

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

from ..models.autoencoder import (  # noqa: F401  (loaders re-exported)
    AE_FORMAT,
    AutoencoderConfig,
    LatentModel,
    autoencoder_spec,
    build_autoencoder,
    kl_divergence,
    latent_of_checkpoint,
    load_autoencoder,
    load_bundle_diffusion,
)
from ..utils.io import file_digest
from ..utils.runtime import autocast

logger = logging.getLogger("medfx")



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
    adversarial_weight: float = 0.0  # weight of a patch-discriminator (GAN) term; 0 = off (it ~doubles a CPU step)
    adversarial_start: int = 0  # autoencoder step from which the adversarial term is used
    disc_channels: int = 32  # channels of the patch discriminator's first layer
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
        if not self.lr > 0 or self.kl_weight < 0 or self.adversarial_weight < 0:
            raise ValueError("lr must be > 0, kl_weight and adversarial_weight >= 0")
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
    disc = opt_d = adv_loss = None
    if lc.adversarial_weight > 0:  # MONAI's patch discriminator and least-squares adversarial loss
        from monai.losses import PatchAdversarialLoss
        from monai.networks.nets import PatchDiscriminator

        layers = max(1, min(3, int(math.log2(min(shape[1:]))) - 3))  # 3 from 64 px, fewer for small images
        disc = PatchDiscriminator(spatial_dims=len(shape) - 1, channels=lc.disc_channels, in_channels=shape[0],
                                  num_layers_d=layers, norm="INSTANCE").to(device)
        opt_d = torch.optim.AdamW(disc.parameters(), lr=lc.lr)
        adv_loss = PatchAdversarialLoss(criterion="least_squares")
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
        adversarial = disc is not None and step >= lc.adversarial_start
        if adversarial:  # the generator side: the patch discriminator should call the reconstruction real
            with autocast(device, amp_dtype):
                g_adv = adv_loss(disc(recon.contiguous())[-1].float(), target_is_real=True, for_discriminator=False)
            loss = loss + lc.adversarial_weight * g_adv
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"autoencoder loss became {loss.item()} at step {step}; lower latent.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        row = {"step": step + 1, "recon": rec.item(), "kl": kl.item()}
        if adversarial:  # the discriminator side: real images real, (detached) reconstructions fake
            with autocast(device, amp_dtype):
                fake = adv_loss(disc(recon.detach().contiguous())[-1].float(), target_is_real=False,
                                for_discriminator=True)
                real = adv_loss(disc(x.contiguous())[-1].float(), target_is_real=True, for_discriminator=True)
            d_loss = 0.5 * (fake + real)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            row.update(adversarial=g_adv.item(), discriminator=d_loss.item())
        if (step + 1) % lc.log_every == 0 or step + 1 == lc.steps:
            history.append({**row, "time": time.perf_counter() - t0})
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


