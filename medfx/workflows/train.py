"""``medfx pretrain`` / ``medfx finetune`` (and the DDPM stages of ``medfx run``): the run-directory side of
:func:`medfx.train.train_diffusion` -- torch threads from ``run.threads`` and ``<run>/train.log``."""

from __future__ import annotations

from pathlib import Path

from .logs import log_to_file


def _train_log(run_dir: Path, is_main: bool):
    if is_main:  # environment capture next to the checkpoints (medfx, torch, MONAI, ... versions; CPU; host)
        from ..utils.io import write_json
        from ..utils.provenance import git_revision, versions

        write_json(run_dir / "versions.json", {**versions(), "git_revision": git_revision()})
    return log_to_file(run_dir / "train.log", main=is_main)


def pretrain(cfg, init_from: str | Path | None = None, stop_after: int | None = None):
    """Train (or, with ``init_from``, fine-tune) a DDPM into ``<run.out_dir>/<run.name>``; returns TrainResult."""
    import torch

    from ..train import train_diffusion

    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    return train_diffusion(cfg, init_from=init_from, stop_after=stop_after, run_context=_train_log)
