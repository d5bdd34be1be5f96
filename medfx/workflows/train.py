"""``medfx pretrain`` / ``medfx finetune`` (and the DDPM stages of ``medfx run``): the run-directory side of
:func:`medfx.train.train_diffusion` -- torch threads from ``run.threads`` and ``<run>/train.log``."""

from __future__ import annotations

from pathlib import Path

from ..data.check import default_cache_dir, write_split_manifest
from ..train import train_diffusion
from ..utils.io import write_json
from ..utils.provenance import git_revision, versions
from .distributed import collective
from .latent import pretrain_latent
from .logs import log_to_file
from .threads import apply_run_threads
from .tracking import DDPMTensorBoard


def _train_log(run_dir: Path, is_main: bool):
    if is_main:  # environment capture next to the checkpoints (medfx, torch, MONAI, ... versions; CPU; host)
        write_json(run_dir / "versions.json", {**versions(), "git_revision": git_revision()})
    return log_to_file(run_dir / "train.log", main=is_main)


@collective
def pretrain(cfg, init_from: str | Path | None = None, stop_after: int | None = None, train_data=None,
             tensorboard: bool = True):
    """Train (or, with ``init_from``, fine-tune) a DDPM into ``<run.out_dir>/<run.name>``; returns TrainResult.
    ``tensorboard``: scalars and sample grids in ``<run>/tb`` as it trains."""
    apply_run_threads(cfg.run.threads)
    context = lambda run_dir, is_main: _run_context(cfg, run_dir, is_main)  # noqa: E731
    if getattr(getattr(cfg, "latent", None), "enabled", False):  # autoencoder, then the DDPM on its latents
        return pretrain_latent(cfg, init_from=init_from, stop_after=stop_after, train_data=train_data,
                               run_context=context, hooks=DDPMTensorBoard() if tensorboard else None)
    return train_diffusion(cfg, init_from=init_from, stop_after=stop_after, train_data=train_data,
                           run_context=context, hooks=DDPMTensorBoard() if tensorboard else None)


def _run_context(cfg, run_dir: Path, is_main: bool):
    """``<run>/splits.csv`` (the exact split used, a data manifest), then ``train.log`` around training."""
    if is_main:
        write_split_manifest(cfg.data, run_dir / "splits.csv", cache_dir=default_cache_dir())
    return _train_log(run_dir, is_main)
