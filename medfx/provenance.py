"""Checkpoint provenance: a checkpoint's data and diffusion settings are the defaults of every command using it.

The keys, the check and the error live in :mod:`medfx.models.provenance` (library layer: ``build_bank`` and
``train_diffusion(init_from=)`` call :func:`check_provenance`); this module adds :func:`resolve_config`, the one
place where a command's config (preset, YAML, ``key=value``) is merged with a checkpoint's settings. A setting given
explicitly that contradicts the checkpoint is a one-line :class:`ProvenanceError` naming both values;
``provenance.allow_mismatch=true`` accepts it deliberately (the explicit value wins, a warning is logged).
"""

from __future__ import annotations

from pathlib import Path

from .config import _raw_layers, load_config
from .data.config import DataConfig
from .diffusion.schedule import DiffusionConfig
from .models.checkpoint import is_medfx_checkpoint, load_checkpoint
from .models.provenance import (  # noqa: F401 - re-exported
    DATA_KEYS,
    DIFFUSION_KEYS,
    OVERRIDE_KEY,
    PROVENANCE_KEYS,
    ProvenanceConfig,
    ProvenanceError,
    _message,
    _norm,
    check_provenance,
    checkpoint_settings,
    mismatches,
)
from .utils.dataclass_io import deep_merge, from_dict, set_path


def _explicit(path, overrides) -> dict:
    """The settings a user gave: the named preset, the YAML file and the ``key=value`` overrides merged."""
    preset_base, data, parsed = _raw_layers(path, overrides)
    merged = deep_merge(preset_base, data)
    for keys, value in parsed:
        set_path(merged, keys, value)
    return merged


def resolve_config(path=None, overrides=(), ckpt=None, ckpt_key: str | None = None, whole_data: bool = False,
                   base: dict | None = None):
    """Load a command's config with a checkpoint's settings as defaults (the one merge used by the CLI).

    ``ckpt`` is the checkpoint path; with ``ckpt_key`` (e.g. ``"pipeline.checkpoint"``) it is read from the
    config instead when not given. Layering: preset < checkpoint < YAML < ``key=value``; provenance keys
    given explicitly anywhere (preset included) must equal the checkpoint's unless
    ``provenance.allow_mismatch=true``, in which case the explicit value wins. ``whole_data`` also takes the
    checkpoint's data path and split settings as defaults (feature commands read the training data by
    default)."""
    explicit = _explicit(path, overrides)
    if ckpt is None and ckpt_key:
        node = explicit
        for p in ckpt_key.split("."):
            node = node.get(p) if isinstance(node, dict) else None
        ckpt = node
    if not ckpt or not Path(ckpt).exists():  # a missing file is reported by the command that reads it
        return load_config(path, overrides, base=base)
    loaded = load_checkpoint(ckpt)
    if not is_medfx_checkpoint(loaded):
        return load_config(path, overrides, base=base)
    settings = checkpoint_settings(loaded)
    allow = bool((explicit.get("provenance") or {}).get("allow_mismatch", False))
    # typed view of the explicit provenance keys (YAML lists, ints for floats, ... compare as values)
    typed = {}
    for section, cls in (("data", DataConfig), ("diffusion", DiffusionConfig)):
        given = {k: v for k, v in (explicit.get(section) or {}).items() if k in PROVENANCE_KEYS[section]}
        if given:
            stored_sec = settings.get(section) or {}
            obj = from_dict(cls, {**{k: v for k, v in stored_sec.items() if k in ("size", "spacing")}, **given}
                            if section == "data" else given)
            typed[section] = {k: getattr(obj, k) for k in given}
    diffs = mismatches(typed, settings)
    if diffs and not allow:
        raise ProvenanceError(_message(diffs, ckpt, OVERRIDE_KEY))

    stored = loaded.get("config") or {}
    own: dict = {}
    if whole_data and isinstance(stored.get("data"), dict):
        own["data"] = dict(stored["data"])
    else:
        own["data"] = {k: v for k, v in (stored.get("data") or {}).items() if k in DATA_KEYS}
    own["diffusion"] = {k: v for k, v in (stored.get("diffusion") or {}).items() if k in DIFFUSION_KEYS}
    # explicit provenance settings (preset ones included) win over the checkpoint only when allowed
    extra = [f"{key}={_yaml(v)}" for key, v, _ in diffs]
    cfg = load_config(path, list(overrides) + extra, base=deep_merge(base or {}, own))
    check_provenance(cfg, loaded, ckpt)
    return cfg


def _yaml(v) -> str:
    if isinstance(v, tuple):
        return "[" + ",".join(_yaml(x) for x in v) + "]"
    return "null" if v is None else str(v)


def checkpoint_data_config(ckpt, overrides: dict | None = None, allow_mismatch: bool = False,
                           source=None, override: str = OVERRIDE_KEY) -> DataConfig:
    """The checkpoint's own ``DataConfig`` with ``overrides`` (a dict of DataConfig keys) applied after the
    provenance check. Used where a command needs to read data exactly as the model saw it (``fid``,
    ``synthesize``)."""
    if not isinstance(ckpt, dict):
        source = source or ckpt
        ckpt = load_checkpoint(ckpt)
    stored = dict(((ckpt.get("config") or {}).get("data")) or {})
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    diffs = mismatches({"data": overrides}, {"data": checkpoint_settings(ckpt).get("data") or {}})
    if diffs and not allow_mismatch:
        raise ProvenanceError(_message(diffs, source or "<checkpoint>", override))
    stored.update({k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()})
    return from_dict(DataConfig, stored)
