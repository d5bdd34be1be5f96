"""Strict conversion between plain dicts (YAML, checkpoints) and typed config dataclasses.

Unknown keys are errors with a did-you-mean hint; values are type-checked against the field's annotation.
Only a small set of annotations is supported (int, float, str, bool, X | None, tuple[X, ...], nested dataclasses),
which keeps configs plain data that round-trips through YAML and ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import types
import typing
from typing import Any

import yaml

from .errors import ConfigError  # noqa: E402  (re-exported: medfx.utils.dataclass_io.ConfigError)


def _hint(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid keys: {', '.join(valid)})"


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            value = [value]  # a scalar for a tuple field means a 1-tuple
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if origin is list:
            return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{key}: unsupported field type {tp!r}")


def from_dict(cls, data: dict, prefix: str = ""):
    """Build dataclass ``cls`` from a (possibly partial) dict, strictly."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        raise ConfigError(f"unknown config key '{prefix}{k}'{_hint(k, sorted(fields))}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {e}") from None


def to_dict(obj) -> dict:
    """Dataclass -> plain dict of builtins (tuples become lists, YAML/JSON friendly)."""

    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v

    return conv(obj)


def save_yaml(data: dict, path) -> None:
    """Write a plain dict (e.g. ``to_dict(config)``) as YAML, keys in insertion order."""
    from pathlib import Path

    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=2e-4"`` -> (["train", "lr"], 2e-4). Values parse as Python/YAML literals, else strings."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        value: Any = lowered == "true"
    elif lowered in ("none", "null", "~"):
        value = None
    else:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
            if raw[:1] in "[{":  # YAML flow style: [a, b] / {k: v} without Python quotes
                try:
                    value = yaml.safe_load(raw)
                except yaml.YAMLError:
                    raise ConfigError(f"override {text!r}: cannot parse {raw!r} as a list or mapping") from None
    return key.split("."), value


def set_path(data: dict, path: list[str], value: Any) -> None:
    node = data
    for p in path[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {'.'.join(path)}: {p!r} is not a section")
        node = nxt
    node[path[-1]] = value


def deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out
