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

from .data.augment import check_augment
from .data.config import DataConfig
from .diffusion.losses import ContrastiveConfig
from .diffusion.schedule import DiffusionConfig
from .features.extractor import FeaturesConfig
from .models.provenance import ProvenanceConfig
from .models.unet import UNetConfig
from .models.uvit import UViTConfig
from .presets import preset_dict
from .train.autoencoder import LatentConfig
from .utils.dataclass_io import (
    ConfigError,
    _hint,
    deep_merge,
    from_dict,
    parse_override,
    save_yaml,
    set_path,
    to_dict,
)
from .workflows.generate import FidConfig
from .workflows.pipeline_config import HeadsConfig, PipelineConfig

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class RunConfig:
    name: str = "run"  # run directory name under out_dir (re-running the same name resumes)
    out_dir: str = "runs"  # parent folder of run directories
    seed: int = 0  # global seed (model init, data order, noise)
    device: str = "auto"  # auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...
    threads: int | str = "auto"  # torch CPU threads: auto (OMP_NUM_THREADS if set, else usable cores / local
    # processes), a number, or 0 (leave torch's default); applied by the CLI / workflow layer
    checkpoint: str | None = None  # diffusion checkpoint a command reads (flag --ckpt; finetune: --from)
    out: str | None = None  # output folder of extract/probe/gaussianity/sample/synthesize/fid (flag --out)

    def __post_init__(self):
        if isinstance(self.threads, str) and self.threads != "auto":
            if not self.threads.isdigit():
                raise ValueError(f"threads must be 'auto' or an integer >= 0, got {self.threads!r}")
            self.threads = int(self.threads)
        if isinstance(self.threads, int) and self.threads < 0:
            raise ValueError(f"threads must be 'auto' or an integer >= 0, got {self.threads}")
        n = self.name
        if not n or n in (".", "..") or "/" in n or "\\" in n or "\0" in n or n.startswith("~"):
            raise ValueError(f"name must be a plain folder name inside run.out_dir (no '/', '..' or '~'), got {n!r}")


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
    augment_flip: tuple[int, ...] = ()  # spatial axes (0, 1[, 2]) each image is mirrored along with p = 1/2
    augment_shift: int = 0  # random integer shift of each image by up to this many pixels per axis (edge repeated)

    def __post_init__(self):
        check_augment(self.augment_flip, self.augment_shift)
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
        if not (self.lr > 0 and self.lr < float("inf")):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")


@dataclass
class ProbeConfig:
    mode: str = "holdout"  # holdout (fit train, choose C on val, report test) or cv (k-fold over train+val)
    folds: int = 5  # outer folds for mode=cv
    C: str = "auto"  # inverse L2 strength, or "auto" (chosen on validation / inner CV)
    select_metric: str = "auc"  # metric that picks the best (block, t) on validation
    seed: int = 0  # seed of the probe folds and of the KS dimension subset

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
class SampleConfig:
    sampler: str = "ddim"  # ddim or ddpm (medfx sample / synthesize)
    steps: int = 50  # sampling steps (<= diffusion.num_train_timesteps)
    guidance: float = 1.0  # classifier-free guidance scale (1 = off; conditional models only)
    batch_size: int = 32  # images per sampling batch (the output does not depend on it)
    ema: bool = True  # sample with the EMA weights (false: the raw weights)
    n: int | None = None  # sample: number of images (conditional models: round-robin over classes)
    per_class: int | str | None = None  # sample: images per class, N or "CLASS:N,CLASS:N" (conditional models)
    balance: float | None = None  # synthesize: bring every class to this fraction of the largest one, in (0, 1]
    precision: str = "fp32"  # network precision while sampling: fp32, bf16, fp16 (CUDA) or auto (measured)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.sampler not in ("ddim", "ddpm"):
            raise ValueError(f"sampler must be ddim or ddpm, got {self.sampler!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.balance is not None and not 0 < self.balance <= 1:
            raise ValueError("balance must be in (0, 1]")


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
    sample: SampleConfig = field(default_factory=SampleConfig)
    fid: FidConfig = field(default_factory=FidConfig)  # medfx fid (REAL, FAKE and every option)
    provenance: ProvenanceConfig = field(default_factory=ProvenanceConfig)  # checkpoint settings as defaults
    latent: LatentConfig = field(default_factory=LatentConfig)  # latent diffusion: autoencoder + DDPM on latents

    def __post_init__(self):
        # one name for the checkpoint: run.checkpoint; pipeline.checkpoint is kept as its alias for `medfx run`
        if self.pipeline.checkpoint is None:
            self.pipeline.checkpoint = self.run.checkpoint
        elif self.run.checkpoint is None:
            self.run.checkpoint = self.pipeline.checkpoint
        elif self.run.checkpoint != self.pipeline.checkpoint:
            raise ConfigError(f"run.checkpoint={self.run.checkpoint!r} and pipeline.checkpoint="
                              f"{self.pipeline.checkpoint!r} differ; set one of them")
        if self.latent.enabled and (self.train.augment_flip or self.train.augment_shift):
            raise ConfigError("train.augment_flip / train.augment_shift act on images, but latent.enabled=true trains "
                              "the DDPM on latents; turn one of them off")


def model_block_names(model: ModelConfig) -> list[str]:
    """Block names of the backbone ``model`` describes (feature, contrastive and head keys address these)."""
    return (model.unet if model.arch == "unet" else model.uvit).block_names()


CHECKS = ("features", "contrastive")  # what check_cross_fields can check; commands pick the ones they use


def check_cross_fields(cfg: ExperimentConfig, model: ModelConfig | None = None,
                       diffusion: DiffusionConfig | None = None, source: str | None = None,
                       uses: tuple[str, ...] = CHECKS) -> None:
    """Raise ``ConfigError`` (one line, naming the keys) when sections contradict each other.

    Every command runs it on the sections it ``uses`` before any work starts (``features``: feature
    timesteps against T, feature blocks against the backbone, ``gaussianity.t``; ``contrastive``: its block).
    ``model`` / ``diffusion`` replace the config's own sections when the backbone comes from a checkpoint
    (``source`` names it in the message)."""
    model = model or cfg.model
    diffusion = diffusion or cfg.diffusion
    where = f" of {source}" if source else ""
    names = model_block_names(model)
    if "contrastive" in uses and cfg.contrastive.weight > 0 and cfg.contrastive.block not in names:
        raise ConfigError(f"contrastive.block: {cfg.contrastive.block!r} is not a block of the {model.arch} "
                          f"backbone{where}; its blocks are {', '.join(names)}")
    if "features" not in uses:
        return
    T = diffusion.num_train_timesteps
    bad = [t for t in cfg.features.timesteps if not 0 <= t < T]
    if bad:
        raise ConfigError(f"features.timesteps {list(bad)} are outside [0, {T}): diffusion.num_train_timesteps{where} "
                          f"is {T}; give features.timesteps below {T}")
    bad = [b for b in cfg.features.blocks if b not in names and b != "all"]
    if bad:
        raise ConfigError(f"features.blocks: {bad[0]!r} is not a block of the {model.arch} backbone{where}; "
                          f"its blocks are {', '.join(names)}")
    if cfg.gaussianity.t is not None and cfg.gaussianity.t not in cfg.features.timesteps:
        raise ConfigError(f"gaussianity.t={cfg.gaussianity.t} is not one of features.timesteps "
                          f"{list(cfg.features.timesteps)}")


def _field_docs(cls) -> dict[str, str]:
    """The trailing ``# comment`` of every field line in the class source (the one-line docs of the keys)."""
    import inspect
    import io
    import tokenize

    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    docs, line_field = {}, {}
    for node in __import__("ast").parse(src).body[0].body:
        target = getattr(node, "target", None)
        if target is not None and hasattr(target, "id"):
            line_field[node.lineno] = target.id
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT and tok.start[0] in line_field:
            docs[line_field[tok.start[0]]] = tok.string.lstrip("#").strip()
    return docs


def _type_name(tp) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def config_keys(section: str | None = None) -> list[tuple[str, str, object, str]]:
    """``(key, type, default, doc)`` of every config key (of one section), in declaration order."""
    import typing

    def walk(cls, prefix: str, default_obj):
        hints = typing.get_type_hints(cls)
        docs = _field_docs(cls)
        for f in dataclasses.fields(cls):
            value = getattr(default_obj, f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                yield from walk(hints[f.name], f"{prefix}{f.name}.", value)
            else:
                yield (f"{prefix}{f.name}", _type_name(hints[f.name]),
                       list(value) if isinstance(value, tuple) else value, docs.get(f.name, ""))

    rows = list(walk(ExperimentConfig, "", ExperimentConfig()))
    if section is None:
        return rows
    sections = sorted({k.split(".")[0] for k, *_ in rows if "." in k})
    if section not in sections:
        raise ConfigError(f"unknown config section {section!r}{_hint(section, sections)}")
    return [r for r in rows if r[0].startswith(section + ".")]


def config_from_dict(data: dict) -> ExperimentConfig:
    return from_dict(ExperimentConfig, data)


def _raw_layers(path: str | Path | None, overrides, preset: str | None = None):
    """``(preset dict, YAML dict, parsed overrides)``: the raw layers a config is resolved from."""
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
    if name is not None and not isinstance(name, str):
        where = f"{path}: " if path is not None and preset is None else ""
        raise ConfigError(f"{where}preset: expected a preset name (see `medfx presets`), got {name!r}")
    preset_base = preset_dict(name) if name else {}
    if name:
        preset_base["preset"] = name
    return preset_base, data, parsed


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                preset: str | None = None, base: dict | None = None) -> ExperimentConfig:
    """Resolve preset <- ``base`` <- YAML file <- ``key=value`` overrides into an ``ExperimentConfig``."""
    preset_base, data, parsed = _raw_layers(path, overrides, preset)
    name = preset_base.get("preset")
    merged = deep_merge(deep_merge(preset_base, base or {}), data)
    for keys, value in parsed:
        set_path(merged, keys, value)
    if name:
        merged["preset"] = name
    return config_from_dict(merged)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    save_yaml(to_dict(cfg), path)


def config_to_dict(cfg) -> dict:
    return to_dict(cfg)


__all__ = [
    "ConfigError", "DataConfig", "FeaturesConfig", "GaussianityConfig", "ProbeConfig", "DiffusionConfig", "ContrastiveConfig", "ExperimentConfig", "ModelConfig",
    "RunConfig", "TrainConfig", "UNetConfig", "UViTConfig", "config_from_dict", "load_config", "save_config",
]
