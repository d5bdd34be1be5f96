"""Checkpoints: plain config dicts + state dicts, written atomically, loadable with ``weights_only=True``.

Layout of a ``.pt`` checkpoint::

    {"format": "medfx-checkpoint-v1", "config": dict, "backbone": {"arch": str, "config": dict},
     "model": state_dict, "ema": state_dict, "optimizer": state_dict, "step": int, "extra": dict}

``model.safetensors`` files hold one set of weights (EMA by default) with the backbone spec and config as
JSON metadata. Nothing here ever unpickles code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..utils.errors import CheckpointError
from ..utils.io import atomic_path, file_digest, readable
from ..utils.torch_io import safe_torch_load
from . import build_backbone  # medfx/models/__init__.py never imports this module, so no cycle

FORMAT = "medfx-checkpoint-v1"


def atomic_save(obj, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never a half-written file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | Path) -> dict:
    """Load a medfx ``.pt`` checkpoint (weights only) or a ``.safetensors`` weights file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    ckpt = safe_torch_load(path, "checkpoint")
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not a medfx checkpoint (top level is {type(ckpt).__name__})")
    return ckpt


def stored_config(ckpt: dict, path: str | Path) -> dict:
    """The experiment config stored in a medfx checkpoint; refused when missing or unusable (never defaulted)."""
    cfg = ckpt.get("config")
    if not isinstance(cfg, dict):
        got = "none" if cfg is None else f"a {type(cfg).__name__}"
        raise CheckpointError(f"{path}: the checkpoint has no usable stored config (got {got}); medfx cannot tell "
                              "its noise schedule and data settings, so it refuses to guess")
    missing = [k for k in ("data", "diffusion") if not isinstance(cfg.get(k), dict)]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint's stored config has no usable {missing[0]!r} section; "
                              "medfx refuses to fall back to defaults")
    return cfg


def is_medfx_checkpoint(ckpt: dict) -> bool:
    return ckpt.get("format") == FORMAT


def _load_safetensors(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            sd = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if "backbone" not in meta:
        raise CheckpointError(f"{path}: safetensors file has no medfx 'backbone' metadata")

    def field(name, parse, default):
        if name not in meta:
            return default
        try:
            return parse(meta[name])
        except ValueError as e:
            raise CheckpointError(f"{path}: metadata field {name!r} is not valid ({e})") from None

    backbone = field("backbone", json.loads, None)
    if not isinstance(backbone, dict):
        raise CheckpointError(f"{path}: metadata field 'backbone' is not a mapping")
    return {"format": FORMAT, "backbone": backbone, "config": field("config", json.loads, None),
            "model": sd, "ema": sd, "step": field("step", int, 0)}


def save_safetensors(path: str | Path, state_dict: dict, backbone: dict, config: dict, step: int) -> None:
    from safetensors.torch import save_file

    sd = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(sd, str(tmp), metadata={"backbone": json.dumps(backbone), "config": json.dumps(config),
                                          "step": str(step)})
        readable(tmp)  # safetensors creates the file with mode 0600; every other medfx file is 0644 (umask applied)


def file_hash(path: str | Path, length: int = 16) -> str:
    return file_digest(path, "sha256")[:length]


def spec_difference(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Human-readable differences between two nested spec dicts."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += spec_difference(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va} vs {vb}")
    return out


def load_state_checked(model: torch.nn.Module, state_dict: dict, source: str) -> None:
    """``load_state_dict`` with a one-line error naming the file when the architecture differs."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shape = [k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or shape:
        detail = (f"{len(missing)} missing keys (e.g. {missing[:1]}), {len(unexpected)} unexpected "
                  f"(e.g. {unexpected[:1]}), {len(shape)} with other shapes (e.g. {shape[:1]})")
        raise CheckpointError(f"{source}: checkpoint is for a different architecture: {detail}")
    model.load_state_dict(state_dict)


def load_backbone(path: str | Path, ema: bool = True, device="cpu"):
    """Rebuild a backbone from a checkpoint (its stored spec) and load EMA (default) or raw weights.

    Returns ``(model, checkpoint_dict)``; the model is in eval mode."""
    ckpt = load_checkpoint(path)
    if not is_medfx_checkpoint(ckpt):
        raise CheckpointError(f"{path}: not a medfx checkpoint (plain state dicts load with `finetune --from` "
                              "and a config describing the architecture)")
    missing = [k for k in ("backbone", "model") if k not in ckpt]
    if missing or not isinstance(ckpt["backbone"], dict):
        raise CheckpointError(f"{path}: damaged medfx checkpoint (no usable {(missing or ['backbone'])[0]!r} entry)")
    try:
        model = build_backbone(ckpt["backbone"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the checkpoint's backbone spec is not usable ({e})") from None
    sd = ckpt.get("ema") if ema and ckpt.get("ema") is not None else ckpt["model"]
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: damaged medfx checkpoint (weights are a {type(sd).__name__})")
    load_state_checked(model, sd, str(path))
    return model.to(device).eval(), ckpt
