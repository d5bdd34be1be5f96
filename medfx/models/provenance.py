"""Checkpoint provenance, library part: which settings travel with a checkpoint and the check against them.

See :mod:`medfx.provenance` for the command-line merge (``resolve_config``) and ``checkpoint_data_config``
(it needs ``data``, a sibling of ``models``). Summary:

A diffusion checkpoint stores its resolved config. Its *provenance settings*

* ``data``: ``size``, ``resize_mode``, ``intensity``, ``percentiles``, ``intensity_range``, ``orientation``,
  ``spacing`` (how images are turned into tensors), and
* ``diffusion``: ``num_train_timesteps``, ``schedule``, ``beta_start``, ``beta_end``, ``prediction``

are the defaults of every command that uses the checkpoint (``finetune``, ``train-head``, ``run
run.checkpoint=``, ``extract``, ``probe``, ``gaussianity``, ``sample``, ``fid``, ``synthesize``). A setting
given explicitly (preset, YAML or ``key=value``) that contradicts the checkpoint is a one-line
:class:`ProvenanceError` naming both values; ``provenance.allow_mismatch=true`` accepts it deliberately, and
then the explicit value wins (a warning is logged).

:func:`medfx.provenance.resolve_config` is the one place where a command's config is merged with a checkpoint;
:func:`check_provenance` is the library-level check behind it (``build_bank``, ``train_diffusion(init_from=)``,
and the pipeline call it on resolved configs; ``medfx fid`` uses
:func:`medfx.provenance.checkpoint_data_config`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..utils.dataclass_io import ConfigError
from .checkpoint import load_checkpoint

logger = logging.getLogger("medfx")

DATA_KEYS = ("size", "resize_mode", "intensity", "percentiles", "intensity_range", "orientation", "spacing")
DIFFUSION_KEYS = ("num_train_timesteps", "schedule", "beta_start", "beta_end", "prediction")
PROVENANCE_KEYS = {"data": DATA_KEYS, "diffusion": DIFFUSION_KEYS}
OVERRIDE_KEY = "provenance.allow_mismatch=true"


@dataclass
class ProvenanceConfig:
    allow_mismatch: bool = False  # accept explicit data/diffusion settings that contradict the checkpoint


class ProvenanceError(ConfigError):
    """An explicit setting contradicts the checkpoint's own; the message names both values."""


def _norm(v):
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v)
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return v


def _show(v) -> str:
    if isinstance(v, tuple):
        return "[" + ",".join(_show(x) for x in v) + "]"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def checkpoint_settings(ckpt) -> dict:
    """``{"data": {...}, "diffusion": {...}}``: the provenance settings stored in a checkpoint (path or loaded
    dict). Empty for checkpoints without a medfx config (plain MONAI state dicts). A ``data.size`` of None
    (native size) is replaced by the recorded training image shape when the checkpoint has one."""
    if not isinstance(ckpt, dict):
        ckpt = load_checkpoint(ckpt)
    cfg = ckpt.get("config") or {}
    out: dict = {}
    for section, keys in PROVENANCE_KEYS.items():
        sec = cfg.get(section)
        if isinstance(sec, dict):
            out[section] = {k: sec[k] for k in keys if k in sec}
    data = out.get("data")
    if data is not None and data.get("size") is None:
        shape = (ckpt.get("extra") or {}).get("image_shape")
        spec = ((ckpt.get("backbone") or {}).get("config") or {})
        if shape:
            data["size"] = list(shape[1:])
        elif spec.get("img_size"):
            data["size"] = list(spec["img_size"])
        else:
            data.pop("size")  # native size of unknown value: not checked
    return out


def mismatches(sections: dict, settings: dict) -> list[tuple[str, object, object]]:
    """``[(key, given, checkpoint)]`` for every provenance key of ``sections`` (plain dicts or dataclasses
    per section) that differs from the checkpoint ``settings``."""
    out = []
    for section, keys in PROVENANCE_KEYS.items():
        given, stored = sections.get(section), settings.get(section) or {}
        if given is None:
            continue
        for k in keys:
            if k not in stored:
                continue
            if isinstance(given, dict):
                if k not in given:
                    continue
                v = given[k]
            else:
                v = getattr(given, k)
            if section == "data" and k == "size" and v is None:
                continue  # native size: whatever the data gives is checked against the model later
            if section == "diffusion" and given_is_cosine(given, stored) and k in ("beta_start", "beta_end"):
                continue
            if _norm(v) != _norm(stored[k]):
                out.append((f"{section}.{k}", v, stored[k]))
    return out


def given_is_cosine(given, stored) -> bool:
    sched = given.get("schedule") if isinstance(given, dict) else getattr(given, "schedule", None)
    return sched == "cosine" and stored.get("schedule") == "cosine"


def _message(diffs, source, override: str) -> str:
    key, v, c = diffs[0]
    more = f" (and {len(diffs) - 1} more: {', '.join(d[0] for d in diffs[1:])})" if len(diffs) > 1 else ""
    return (f"{key}={_show(_norm(v))} contradicts checkpoint {source} ({key}={_show(_norm(c))}){more}; "
            f"drop the setting to use the checkpoint's, or set {override} to override deliberately")


def check_provenance(cfg, ckpt, source: str | Path | None = None, allow_mismatch: bool | None = None,
                     override: str = OVERRIDE_KEY) -> list[tuple[str, object, object]]:
    """Raise :class:`ProvenanceError` when the resolved ``cfg`` (an ``ExperimentConfig``) contradicts the
    checkpoint's data/diffusion settings; with ``allow_mismatch`` (default ``cfg.provenance.allow_mismatch``)
    log a warning instead. Returns the differences."""
    settings = checkpoint_settings(ckpt)
    if not settings:
        return []
    diffs = mismatches({"data": cfg.data, "diffusion": cfg.diffusion}, settings)
    if allow_mismatch is None:
        allow_mismatch = bool(getattr(getattr(cfg, "provenance", None), "allow_mismatch", False))
    src = source if source is not None else (ckpt if not isinstance(ckpt, dict) else "<checkpoint>")
    if diffs and not allow_mismatch:
        raise ProvenanceError(_message(diffs, src, override))
    for key, v, c in diffs:
        logger.warning("provenance override: %s=%s but checkpoint %s has %s", key, _show(_norm(v)), src,
                       _show(_norm(c)))
    return diffs
