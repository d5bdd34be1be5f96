"""Latent diffusion (``latent.enabled=true``): autoencoder, then the DDPM trainer on its latents, in one run folder.

``medfx pretrain latent.enabled=true ...`` (and the DDPM stage of ``medfx run``) writes::

    <run>/autoencoder/autoencoder.pt   the AutoencoderKL (trained here, or a copy-free reference to
                                       latent.autoencoder), with its spec and latent scale factor
    <run>/last.pt, ckpt-*.pt, ...      the diffusion U-Net trained on the scaled latents by the usual trainer;
                                       extra["latent"] records the autoencoder's path, sha256, spec and scale

Feature commands see a latent checkpoint and encode every image before the extractor (``build_banks``), so the
timestep noise is added in latent space and the blocks x timesteps grid comes from the latent U-Net.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from ..data import DataError, load_splits, validate
from ..models.autoencoder import AE_FORMAT, latent_of_checkpoint, load_autoencoder
from ..models.checkpoint import is_medfx_checkpoint, load_checkpoint
from ..models.provenance import ProvenanceError
from ..train import train_diffusion
from ..train.autoencoder import encode_dataset, latent_scale_factor, train_autoencoder
from ..utils.dataclass_io import ConfigError, to_dict
from ..utils.errors import RunError
from ..utils.fs import check_writable_target, claim_dir, looks_like_run_dir
from ..utils.hardware import cpu_bf16_native
from ..utils.runtime import barrier, init_distributed
from ..utils.torch_io import safe_torch_load

logger = logging.getLogger("medfx")


def _amp_dtype(precision: str, device: torch.device):

    if precision == "bf16" or (precision == "auto" and (
            (device.type == "cpu" and cpu_bf16_native()[0]) or
            (device.type == "cuda" and torch.cuda.is_bf16_supported()))):
        return torch.bfloat16
    return None


def autoencoder_settings(cfg) -> dict:
    """The settings an autoencoder in a run folder must have been trained with to be reused."""

    lc = to_dict(cfg.latent)
    keep = ("latent_channels", "channels", "attention_levels", "num_res_blocks", "norm_num_groups", "nonlocal_attn",
            "steps", "batch_size", "lr", "recon_loss", "kl_weight", "scale_factor", "precision", "adversarial_weight",
            "adversarial_start", "disc_channels")
    data = to_dict(cfg.data)
    return {"latent": {k: lc[k] for k in keep}, "data": data, "seed": cfg.run.seed}


def prepare_latent(cfg, train_ds, run_dir: Path, device, val_ds=None):
    """The run's ``LatentModel``: ``latent.autoencoder`` loaded (hash-checked), the run folder's own autoencoder
    reused when its settings equal ``cfg``'s, or a new one trained into ``<run>/autoencoder/autoencoder.pt``."""

    lc = cfg.latent
    spatial_dims = len(train_ds[0][0].shape) - 1
    scale = None if lc.scale_factor == "auto" else float(lc.scale_factor)
    if lc.autoencoder:
        latent = load_autoencoder(lc.autoencoder, lc.sha256, lc.autoencoder_config(spatial_dims), scale,
                                  device=device)
        if scale is None and latent.path and not _is_medfx_ae(lc.autoencoder):
            latent.scale_factor = latent_scale_factor(latent, train_ds)
        logger.info("autoencoder %s (sha256 %s...), latent scale %.4f", latent.path, latent.sha256[:12],
                    latent.scale_factor)
        return latent
    path = run_dir / "autoencoder" / "autoencoder.pt"
    settings = autoencoder_settings(cfg)
    if path.is_file():
        stored = (safe_torch_load(path, "autoencoder").get("config") or {})
        if stored != settings:
            raise RunError(f"{path}: was trained with other latent/data settings; choose another run.name or "
                           "delete the folder")
        logger.info("reusing the autoencoder of this run: %s", path)
        return load_autoencoder(path, device=device)
    logger.info("training the autoencoder: %d steps x %d images", lc.steps, lc.batch_size)
    latent = train_autoencoder(lc, train_ds, path, seed=cfg.run.seed, device=device, val_ds=val_ds,
                               amp_dtype=_amp_dtype(lc.precision, torch.device(device)), config=settings)
    logger.info("autoencoder written: %s (latent scale %.4f)", path, latent.scale_factor)
    return latent


def _is_medfx_ae(path) -> bool:

    obj = safe_torch_load(path, "autoencoder")
    return isinstance(obj, dict) and obj.get("format") == AE_FORMAT


def check_latent_fits(cfg, ae_cfg, image_shape) -> tuple[int, ...]:
    """The latent shape of ``image_shape`` (``[C, *spatial]``); an error before any training when the image is not
    divisible by the autoencoder's reduction or the latent not by the U-Net's levels."""

    try:
        shape = ae_cfg.latent_shape(image_shape[1:])
    except ValueError as e:
        raise ConfigError(f"data.size: {e}") from None
    if cfg.model.arch == "unet":
        r = 2 ** (len(cfg.model.unet.channels) - 1)
        if any(s % r for s in shape[1:]):
            raise ConfigError(f"the latent {tuple(shape[1:])} (image {tuple(image_shape[1:])} / {ae_cfg.reduction}) is "
                              f"not divisible by {r}, the reduction of the {len(cfg.model.unet.channels)}-level U-Net "
                              "(model.unet.channels); change data.size, latent.channels or model.unet.channels")
    return shape


def pretrain_latent(cfg, init_from=None, stop_after=None, train_data=None, run_context=None, hooks=None):
    """Autoencoder (trained or loaded), then the DDPM trainer on the scaled latents of the training split."""

    dist, device = init_distributed(cfg.run.device)
    splits = load_splits(cfg.data)
    train_ds = train_data if train_data is not None else splits.get("train")

    if train_ds is None or len(train_ds) == 0:
        raise DataError(f"{cfg.data.path}: the training split is empty")
    validate(train_ds)
    image_shape = tuple(train_ds[0][0].shape)
    if cfg.data.size is None:  # the checkpoint records the image size, not the latent size the U-Net sees
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, size=tuple(image_shape[1:])))
    if not cfg.latent.autoencoder:  # a wrong size is an error before anything is written or trained
        check_latent_fits(cfg, cfg.latent.autoencoder_config(len(image_shape) - 1, image_shape[0]), image_shape)
    run_dir = Path(cfg.run.out_dir) / cfg.run.name
    check_writable_target(run_dir, "run directory (run.out_dir / run.name)", legacy=looks_like_run_dir)
    if dist.is_main:
        claim_dir(run_dir, "run directory (run.out_dir / run.name)", legacy=looks_like_run_dir)
    if dist.enabled and not dist.is_main:

        barrier(dist)  # rank 0 trains (or finds) the autoencoder first
    inherited = _init_autoencoder(init_from, device) if init_from is not None and not cfg.latent.autoencoder \
        else None
    latent = inherited or prepare_latent(cfg, train_ds, run_dir, device, val_ds=splits.get("val"))
    check_latent_fits(cfg, latent.config, image_shape)
    if dist.enabled and dist.is_main:

        barrier(dist)
    if init_from is not None:
        _check_init_autoencoder(init_from, latent)
    latents = encode_dataset(latent, train_ds)
    logger.info("latent diffusion: %d training images %s -> latents %s", len(latents), image_shape,
                tuple(latents[0][0].shape))
    info = {**latent.info(), "image_shape": list(image_shape), "latent_shape": list(latents[0][0].shape)}
    return train_diffusion(cfg, init_from=init_from, stop_after=stop_after, train_data=latents,
                           run_context=run_context, checkpoint_extra={"latent": info}, decode=latent.decode,
                           hooks=hooks)


def _init_autoencoder(init_from, device):
    """Fine-tuning a latent checkpoint without ``latent.autoencoder``: its own autoencoder (hash-checked)."""

    ck = load_checkpoint(init_from)
    if not is_medfx_checkpoint(ck):
        return None
    latent = latent_of_checkpoint(ck, init_from, device=device)
    if latent is not None:
        logger.info("fine-tuning on the latents of the checkpoint's own autoencoder %s", latent.path)
    return latent


def _check_init_autoencoder(init_from, latent) -> None:
    """Fine-tuning a latent DDPM needs the autoencoder it was trained with (same sha256)."""

    ck = load_checkpoint(init_from)
    if not is_medfx_checkpoint(ck):
        return  # a plain MONAI state dict: nothing recorded to compare
    info = (ck.get("extra") or {}).get("latent")
    if info is None:
        raise ProvenanceError(f"latent.enabled=true contradicts checkpoint {init_from}: a pixel-space diffusion model")
    if info["sha256"] != latent.sha256:
        raise ProvenanceError(f"checkpoint {init_from} was trained on the latents of another autoencoder (sha256 "
                              f"{info['sha256'][:16]}..., not {latent.sha256[:16]}... of {latent.path}); set "
                              f"latent.autoencoder={info['autoencoder']}")


def encode_splits(latent, splits: dict, batch_size: int = 8) -> dict:
    """Every split encoded to scaled latents (items keep their labels and ids)."""

    return {name: encode_dataset(latent, ds, batch_size) for name, ds in splits.items()}
