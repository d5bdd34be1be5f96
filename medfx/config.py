"""Typed experiment configuration: dataclasses loaded from YAML with ``key=value`` overrides.

One ``ExperimentConfig`` holds every section; each command reads the sections it needs. A YAML file may name
a ``preset`` (see ``medfx.presets``) whose values it then overrides. Unknown keys are errors with a
did-you-mean hint. The resolved config is written into every run directory and stored, as a plain dict,
in every checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .data.config import DataConfig
from .diffusion.losses import ContrastiveConfig
from .diffusion.schedule import DiffusionConfig
from .features.extractor import FeaturesConfig
from .models.unet import UNetConfig
from .models.uvit import UViTConfig
from .workflows.pipeline_config import HeadsConfig, PipelineConfig
from .utils.dataclass_io import ConfigError, deep_merge, from_dict, parse_override, set_path, to_dict

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class RunConfig:
    name: str = "run"  # run directory name under out_dir (re-running the same name resumes)
    out_dir: str = "runs"  # parent folder of run directories
    seed: int = 0  # global seed (model init, data order, noise)
    device: str = "auto"  # auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...
    threads: int = 0  # torch CPU threads (0 = torch default)


@dataclass
class ModelConfig:
    arch: str = "unet"  # unet (MONAI DiffusionModelUNet) or uvit
    conditional: bool = False  # class-conditional (number of classes taken from the data)
    unet: UNetConfig = field(default_factory=UNetConfig)  # used when arch == "unet"
    uvit: UViTConfig = field(default_factory=UViTConfig)  # used when arch == "uvit"

    def __post_init__(self):
        if self.arch not in ("unet", "uvit"):
            raise ValueError(f"arch must be 'unet' or 'uvit', got {self.arch!r}")


@dataclass
class TrainConfig:
    steps: int = 1000  # optimizer steps
    batch_size: int = 64  # global batch per optimizer step (split over ranks and accumulation micro-batches)
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 2e-4  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 0  # linear learning-rate warm-up
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    ema_decay: float = 0.999  # EMA of the weights (used for sampling and features)
    precision: str = "auto"  # auto (bf16 where supported), fp32, bf16, fp16 (CUDA only)
    log_every: int = 10  # steps between log lines / TensorBoard scalars
    sample_every: int = 0  # steps between sample grids (0 = only at the end)
    ckpt_every: int = 200  # steps between checkpoints
    keep_ckpts: int = 2  # step checkpoints kept (last.pt is always kept)
    num_samples: int = 16  # images in each sample grid
    sample_steps: int = 50  # DDIM steps for sample grids
    num_workers: int = 0  # DataLoader workers

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("steps, batch_size and grad_accum must be >= 1")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by grad_accum {self.grad_accum}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")
        if self.ckpt_every < 1 or self.log_every < 1:
            raise ValueError("ckpt_every and log_every must be >= 1")


@dataclass
class ProbeConfig:
    mode: str = "holdout"  # holdout (fit train, choose C on val, report test) or cv (k-fold over train+val)
    folds: int = 5  # outer folds for mode=cv
    C: str = "auto"  # inverse L2 strength, or "auto" (chosen on validation / inner CV)
    select_metric: str = "auc"  # metric that picks the best (block, t) on validation
    seed: int = 0

    def __post_init__(self):
        if self.mode not in ("holdout", "cv"):
            raise ValueError(f"mode must be holdout or cv, got {self.mode!r}")
        if self.C != "auto":
            try:
                float(self.C)
            except ValueError:
                raise ValueError(f"C must be 'auto' or a number, got {self.C!r}") from None


@dataclass
class GaussianityConfig:
    alpha: float = 0.05  # KS significance level: p < alpha = non-Gaussian = selected
    top_k: int | None = 3  # at most this many selected (block, t); also the fallback size
    t: int | None = None  # only consider this timestep for selection (None = all)
    max_dims: int | None = 256  # test at most this many feature dimensions per (block, t) (seeded subset)
    aggregate: str = "median"  # median | min_bonferroni | fisher (how per-dimension p-values combine)


@dataclass
class ExperimentConfig:
    preset: str | None = None  # preset this config starts from (informational once resolved)
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    gaussianity: GaussianityConfig = field(default_factory=GaussianityConfig)
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)


def config_from_dict(data: dict) -> ExperimentConfig:
    return from_dict(ExperimentConfig, data)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                preset: str | None = None, base: dict | None = None) -> ExperimentConfig:
    """Resolve preset <- ``base`` <- YAML file <- ``key=value`` overrides into an ``ExperimentConfig``."""
    from .presets import preset_dict

    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections")
    parsed = [parse_override(o) for o in overrides]
    for keys, value in parsed:
        if keys == ["preset"]:
            preset = value
    name = preset or data.get("preset")
    preset_base = preset_dict(name) if name else {}
    merged = deep_merge(deep_merge(preset_base, base or {}), data)
    for keys, value in parsed:
        set_path(merged, keys, value)
    if name:
        merged["preset"] = name
    return config_from_dict(merged)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def config_to_dict(cfg) -> dict:
    return to_dict(cfg)


def replace(cfg, **changes):
    return dataclasses.replace(cfg, **changes)


__all__ = [
    "ConfigError", "DataConfig", "FeaturesConfig", "GaussianityConfig", "ProbeConfig", "DiffusionConfig", "ContrastiveConfig", "ExperimentConfig", "ModelConfig",
    "RunConfig", "TrainConfig", "UNetConfig", "UViTConfig", "config_from_dict", "load_config", "save_config",
]
