"""One training harness for every classifier: fusion heads on cached features and CNN baselines on images.

A model declares what it reads through ``input_kinds`` (``("feats",)`` for ``CATSHead``, ``("feats", "image")``
for ``DCubeHead``; plain networks without the attribute, e.g. the baselines, read ``("image",)``). Data are
``ClassifierData`` (features dict keyed by ``(block, t)``, images, labels) whose arrays are tensors in memory or
row sources read on demand (``medfx.data.rows``: a feature bank's memory-mapped files, image datasets); training
and evaluation iterate a ``DataLoader`` over index batches, so lazy data hold one batch in memory at a time and
give the same numbers as the same data in memory.

``fit_classifier`` trains with AdamW, keeps an EMA copy of the weights and evaluates the EMA copy on the
VALIDATION data after every epoch; the best epoch by ``select_metric`` (ties broken by the lower validation loss)
is kept, and training stops after ``patience`` epochs without improvement. The returned model is the EMA copy at
the best epoch: those are the weights that are evaluated, selected and saved. Only with ``ema_decay=0`` (EMA off)
are the raw weights used instead. There is no test argument: test data can never influence training or selection.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.augment import shift_images
from ..metrics.classification import classification_metrics
from ..utils.ema import EMA
from ..utils.hardware import PRECISIONS, Probe, decide_precision
from ..utils.io import atomic_path
from ..utils.progress import progress_bar
from ..utils.runtime import autocast, resolve_device
from ..utils.torch_io import safe_torch_load
from .cats import FeatureKey
from .dcube import DCubeHead, DCubeLoss

logger = logging.getLogger(__name__)

SELECT_METRICS = ("auc", "acc", "bacc", "f1", "loss")
CLASSIFIER_FORMAT = "medfx-classifier-v1"


# ------------------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------------------


@dataclass
class ClassifierData:
    """Classification data: ``labels [N]`` plus features ``{(block, t): [N, C, *grid]}`` and/or
    ``images [N, C, *spatial]``. Feature and image arrays are tensors or lazy row sources (anything with
    ``shape`` whose ``[index tensor]`` returns a tensor, e.g. ``medfx.data.rows.NpyRows`` / ``DatasetRows``);
    ``subset`` reads the rows it is asked for, so batches are always in-memory tensors."""

    labels: torch.Tensor
    feats: dict[FeatureKey, torch.Tensor] | None = None
    images: torch.Tensor | None = None
    flip_feats: dict[FeatureKey, torch.Tensor] | None = None  # features of the mirrored images (same keys), when
    # extracted: flip augmentation and D-Cube's consistency term then pass the flip through the backbone

    def __post_init__(self):
        self.labels = torch.as_tensor(self.labels).long().reshape(-1)
        n = self.labels.shape[0]
        if self.feats is None and self.images is None:
            raise ValueError("ClassifierData needs feats, images or both")
        for key, v in (self.feats or {}).items():
            if v.shape[0] != n:
                raise ValueError(f"feats[{key}] has {v.shape[0]} rows but labels has {n}")
        if self.images is not None and self.images.shape[0] != n:
            raise ValueError(f"images has {self.images.shape[0]} rows but labels has {n}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, idx) -> ClassifierData:
        """The rows ``idx`` as in-memory tensors (lazy sources read just these rows)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        feats = None if self.feats is None else {k: v[idx] for k, v in self.feats.items()}
        flip = None if self.flip_feats is None else {k: v[idx] for k, v in self.flip_feats.items()}
        return ClassifierData(self.labels[idx], feats, None if self.images is None else self.images[idx], flip)

    @property
    def lazy(self) -> bool:
        """Whether any array is read on demand rather than held as a tensor."""
        arrays = [*(self.feats or {}).values(), *(self.flip_feats or {}).values(), self.images]
        return any(a is not None and not isinstance(a, torch.Tensor) for a in arrays)

    def in_memory(self) -> ClassifierData:
        """Every array read into a tensor (the data themselves when they are in memory already)."""
        return self if not self.lazy else self.subset(torch.arange(len(self)))

    def to(self, device) -> ClassifierData:
        data = self.in_memory()
        feats = None if data.feats is None else {k: v.to(device, non_blocking=True) for k, v in data.feats.items()}
        flip = None if data.flip_feats is None else {k: v.to(device, non_blocking=True)
                                                     for k, v in data.flip_feats.items()}
        images = None if data.images is None else data.images.to(device, non_blocking=True)
        return ClassifierData(data.labels.to(device), feats, images, flip)


class _Batches(torch.utils.data.Dataset):
    """``data.subset(idx)`` for each index batch ``idx``: what the DataLoaders of this module iterate."""

    def __init__(self, data: ClassifierData):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx) -> ClassifierData:
        return self.data.subset(idx)


def _same(batch):
    return batch


def batch_loader(data: ClassifierData, batches, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` yielding ``data.subset(idx)`` for each index tensor of ``batches``, in order
    (``num_workers`` > 0 reads batches in background processes)."""
    # its own generator: a DataLoader draws a worker base seed per iteration, from the global RNG without one
    # (that would shift dropout masks and so change the numbers)
    return torch.utils.data.DataLoader(_Batches(data), sampler=list(batches), batch_size=None, collate_fn=_same,
                                       num_workers=num_workers, generator=torch.Generator().manual_seed(0))


def input_kinds(model: nn.Module) -> tuple[str, ...]:
    """What ``model`` reads: its ``input_kinds`` attribute, else ``("image",)``."""
    return tuple(getattr(model, "input_kinds", ("image",)))


def model_inputs(model: nn.Module, data: ClassifierData) -> list:
    """The positional inputs ``model`` declares, taken from ``data``; a clear error when the data lack them."""
    sources = {"feats": data.feats, "image": data.images}
    args = []
    for kind in input_kinds(model):
        if kind not in sources:
            raise ValueError(f"{type(model).__name__}.input_kinds has {kind!r}; valid kinds: feats, image")
        if sources[kind] is None:
            raise ValueError(f"{type(model).__name__} needs {kind!r} inputs but the data have none")
        args.append(sources[kind])
    return args


def model_logits(model: nn.Module, batch: ClassifierData) -> torch.Tensor:
    """Call ``model`` with the inputs it declares."""
    return model(*model_inputs(model, batch))


def ce_loss(model: nn.Module, batch: ClassifierData, generator: torch.Generator | None = None) -> dict:
    """The default loss: cross-entropy, ``{"total", "ce"}``."""
    ce = F.cross_entropy(model_logits(model, batch).float(), batch.labels)
    return {"total": ce, "ce": ce}


def _flip_augment(batch: ClassifierData, generator: torch.Generator | None, axis: int = -1,
                  flip: torch.Tensor | None = None) -> ClassifierData:
    """Mirror a random half of the samples along spatial ``axis`` (-1 = last). Images are flipped; features are
    replaced by the features of the flipped image when the data carry them (``flip_feats``), else the feature
    maps are mirrored along the same axis (an approximation: diffusion features are not flip-equivariant).
    ``flip``: the per-sample draws (bool ``[B]``), else drawn from ``generator``."""
    if flip is None:
        flip = torch.rand(len(batch), generator=generator) < 0.5
    if not flip.any():
        return batch
    flip = flip.to(batch.labels.device)

    def pick(a, b):
        return torch.where(flip.reshape(-1, *(1,) * (a.ndim - 1)), b, a)

    def mirror(x):
        return x.flip(2 + axis if axis >= 0 else x.ndim + axis)

    images = None if batch.images is None else pick(batch.images, mirror(batch.images))
    if batch.feats is None:
        return ClassifierData(batch.labels, None, images)
    if batch.flip_feats is not None:  # swap: a flipped sample's features are those of the flipped image
        feats = {k: pick(v, batch.flip_feats[k]) for k, v in batch.feats.items()}
        flip_feats = {k: pick(v, batch.feats[k]) for k, v in batch.flip_feats.items()}
        return ClassifierData(batch.labels, feats, images, flip_feats)
    return ClassifierData(batch.labels, {k: pick(v, mirror(v)) for k, v in batch.feats.items()}, images)


def _shift_augment(batch: ClassifierData, max_shift: int, generator: torch.Generator | None,
                   offs: torch.Tensor | None = None) -> ClassifierData:
    """Shift every image by a random integer offset in [-max_shift, max_shift] per spatial axis (edge fill:
    pad, then crop a random window). Feature maps are left alone (they are not shift-equivariant at their grid).
    ``offs``: the per-sample window offsets (``[B, d]`` in ``[0, 2 * max_shift]``), else drawn from ``generator``."""
    x = batch.images
    if offs is None:
        offs = torch.randint(0, 2 * max_shift + 1, (x.shape[0], x.ndim - 2), generator=generator)
    return ClassifierData(batch.labels, batch.feats, shift_images(x, max_shift, offs))


# ------------------------------------------------------------------------------------------------------------
# config and result
# ------------------------------------------------------------------------------------------------------------


@dataclass
class HeadTrainConfig:
    epochs: int = 50  # maximum number of epochs
    batch_size: int = 32  # samples per optimizer step (a trailing batch of one sample is dropped: BatchNorm)
    grad_accum: int = 1  # micro-batches per optimizer step (micro_batch_size: ceil(batch_size / grad_accum), >= 2)
    lr: float = 2e-4  # AdamW learning rate (D-Cube step 2: 2e-4)
    weight_decay: float = 0.03  # AdamW weight decay (D-Cube step 2: 0.03)
    ema_decay: float = 0.999  # EMA of the weights, the evaluated/selected/saved copy; 0 = off (raw weights)
    ema_warmup: bool = True  # decay min(ema_decay, (1+s)/(10+s)) at step s: ~0.96 after 250 steps (medfx.utils.ema)
    patience: int = 10  # early stopping after this many epochs without validation improvement; 0 = off
    select_metric: str = "auc"  # validation metric for best-epoch selection: auc, acc, bacc, f1 or loss
    seed: int = 0  # initialisation, shuffling, augmentation and loss randomness
    augment_flip: bool = False  # mirror half of each batch along flip_axis (images and features)
    flip_axis: int = -1  # spatial axis of flips (augmentation and D-Cube consistency); -1 = last
    augment_shift: int = 0  # random integer shift of each IMAGE by up to this many pixels per axis (edge fill)
    dcube_weights: tuple[float, ...] = (1.0, 10.0, 0.1)  # (ce, cycle, flip) when a DCubeHead uses the default loss
    eval_batch_size: int = 256  # batch size for validation and prediction
    device: str = "auto"  # auto, cpu, cuda, cuda:1, ...
    precision: str = "fp32"  # training-step autocast: fp32, bf16, fp16 (CUDA, with a scaler) or auto
    num_workers: int = 0  # DataLoader processes reading batches (lazy data: decoding, disk reads); 0 = in-process

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if self.grad_accum < 1:
            raise ValueError(f"grad_accum must be >= 1, got {self.grad_accum}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be >= 1, got {self.eval_batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        if self.augment_shift < 0:
            raise ValueError(f"augment_shift must be >= 0, got {self.augment_shift}")
        if self.select_metric not in SELECT_METRICS:
            raise ValueError(f"select_metric must be one of {SELECT_METRICS}, got {self.select_metric!r}")
        if len(self.dcube_weights) != 3 or any(w < 0 for w in self.dcube_weights):
            raise ValueError(f"dcube_weights must be three non-negative floats (ce, cycle, flip), "
                             f"got {self.dcube_weights}")


@dataclass
class FitResult:
    """Outcome of ``fit_classifier``. ``model`` holds the selected weights (EMA copy at ``best_epoch``)."""

    model: nn.Module
    best_epoch: int  # 1-based
    best_score: float  # select_metric on validation at best_epoch
    val_metrics: dict  # every validation metric at best_epoch (plus "loss")
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train loss terms, val metrics
    wall_time_s: float = 0.0
    num_params: int = 0  # parameters of the model (trainable ones: num_trainable)
    num_trainable: int = 0
    weights: str = "ema"  # "ema" or "raw" (ema_decay=0)
    stopped_early: bool = False
    precision: dict | None = None  # the resolved training precision and why (PrecisionDecision.to_dict())


# ------------------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------------------


def _device_of(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def predict_logits(model: nn.Module, data: ClassifierData, batch_size: int = 256, num_workers: int = 0) -> torch.Tensor:
    """Logits ``[N, K]`` (float32, CPU) in eval mode on the model's device, ``batch_size`` rows read at a time."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    out = []
    try:
        for batch in batch_loader(data, torch.arange(len(data)).split(batch_size), num_workers):
            out.append(model_logits(model, batch.to(device)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def _check_finite(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` unchanged, or a FloatingPointError when any row is NaN/inf (a diverged head: say so, instead of a
    metrics library's "Input contains NaN" later on)."""
    bad = int((~torch.isfinite(logits)).any(1).sum())
    if bad:
        raise FloatingPointError(
            f"the classifier's outputs are not finite (NaN/inf) for {bad} of {len(logits)} samples: training diverged; "
            "try heads.precision=fp32 or a lower heads.lr, and check the inputs for NaN/inf")
    return logits


def predict_proba(model: nn.Module, data: ClassifierData, batch_size: int = 256, num_workers: int = 0) -> np.ndarray:
    """Class probabilities ``[N, K]`` (softmax of the logits); FloatingPointError if any logit is NaN/inf."""
    return torch.softmax(_check_finite(predict_logits(model, data, batch_size, num_workers)), 1).numpy()


def evaluate(model: nn.Module, data: ClassifierData, batch_size: int = 256, num_workers: int = 0) -> dict:
    """``classification_metrics`` of the model on ``data`` plus the mean cross-entropy ``loss``."""
    logits = _check_finite(predict_logits(model, data, batch_size, num_workers))
    metrics = classification_metrics(data.labels.cpu(), torch.softmax(logits, 1), num_classes=logits.shape[1])
    metrics["loss"] = float(F.cross_entropy(logits, data.labels.cpu()))
    return metrics


def _selection_key(metrics: dict, name: str) -> tuple[float, float]:
    """Larger is better: (metric, -loss); NaN metrics rank lowest."""
    loss = metrics["loss"]
    score = -loss if name == "loss" else float(metrics[name])
    return (-math.inf if math.isnan(score) else score, -loss)


# ------------------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------------------


def fit_classifier(
    model: nn.Module,
    train_data: ClassifierData,
    val_data: ClassifierData,
    cfg: HeadTrainConfig,
    loss_fn: Callable[..., Mapping[str, torch.Tensor]] | None = None,
    progress: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train_data``; select the best epoch on ``val_data`` only (see module docstring).

    ``loss_fn(model, batch, generator) -> {"total": Tensor, ...}``; default: cross-entropy, or for a
    ``DCubeHead`` ``DCubeLoss(weights=cfg.dcube_weights)`` without a backbone (cycle term off). Pass
    ``DCubeLoss(backbone, diffusion_cfg, cfg.dcube_weights)`` to train with the cycle term. ``model`` is
    trained in place (its final raw weights stay in it); the selected weights are in ``FitResult.model``.
    ``on_epoch(record)`` is called after every epoch with that epoch's ``history`` row (the workflow layer
    logs it to TensorBoard as training goes).
    """
    if len(train_data) < 2 or len(val_data) < 1:
        raise ValueError(f"need >= 2 training and >= 1 validation samples, got {len(train_data)} and {len(val_data)}")
    model_inputs(model, train_data), model_inputs(model, val_data)  # fail early on missing inputs
    if loss_fn is None:
        loss_fn = DCubeLoss(weights=cfg.dcube_weights, flip_axis=cfg.flip_axis) if isinstance(model, DCubeHead) \
            else ce_loss
    device = resolve_device(cfg.device)
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    # foreach: one fused update over all parameters instead of a Python loop per tensor (the CPU default is the
    # loop); the same numbers (checked bitwise on the CATS head), ~4% of a D-Cube epoch less
    # a model may ask for its own learning rates per group (a fine-tuned backbone: a smaller one for its weights)
    groups = model.param_groups(cfg.lr) if hasattr(model, "param_groups") else params
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    ema = EMA(model, cfg.ema_decay, warmup=cfg.ema_warmup) if cfg.ema_decay > 0 else None

    precision = _decide_precision(cfg, model, train_data, loss_fn, device)
    scaler = torch.amp.GradScaler("cuda", enabled=precision.grad_scaler)

    def selected() -> nn.Module:
        return ema.module if ema is not None else model

    n, bs = len(train_data), cfg.batch_size
    micro_size = micro_batch_size(cfg)
    spatial = None if train_data.images is None else train_data.images.ndim - 2
    history: list[dict] = []
    best_key, best_state, best_epoch, best_metrics, bad, step = None, None, 0, {}, 0, 0
    stopped_early = False

    bar = progress_bar(total=cfg.epochs, desc=f"fit {type(model).__name__} (seed {cfg.seed})", unit="epoch",
                       enabled=progress)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        steps = [idx for idx in perm.split(bs) if len(idx) >= 2]  # a one-sample batch breaks BatchNorm
        micro = [(j, part) for j, idx in enumerate(steps) for part in _micro_batches(idx, micro_size)]
        sums: dict[str, float] = {}
        aug = None
        for (j, part), batch in zip(micro, batch_loader(train_data, [m for _, m in micro], cfg.num_workers)):
            if aug is None or aug["step"] != j:  # a new optimizer step: its augmentation draws, for all its samples
                aug = _draw_augment(cfg, len(steps[j]), spatial, gen) | {"step": j, "at": 0}
                opt.zero_grad(set_to_none=True)
            a, b = aug["at"], aug["at"] + len(part)
            aug["at"] = b
            batch = batch.to(device)  # data stay on the CPU; one (micro-)batch at a time on the device
            if cfg.augment_flip:
                batch = _flip_augment(batch, None, cfg.flip_axis, aug["flip"][a:b])
            if cfg.augment_shift and batch.images is not None:
                batch = _shift_augment(batch, cfg.augment_shift, None, aug["shift"][a:b])
            with autocast(device, precision.dtype):
                terms = loss_fn(model, batch, gen)
            w = len(part) / len(steps[j])  # mean over the step = weighted mean of the micro-batch means
            scaler.scale(terms["total"] * w if w != 1 else terms["total"]).backward()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * w
            if b < len(steps[j]):
                continue
            scaler.step(opt)
            scaler.update()
            step += 1
            if ema is not None:
                ema.update(model, step)
        batches = len(steps)
        try:
            val = evaluate(selected(), val_data, cfg.eval_batch_size, cfg.num_workers)
        except FloatingPointError as e:
            raise FloatingPointError(f"{type(model).__name__}, epoch {epoch}: {e}") from None
        record = {"epoch": epoch, **{f"train_{k}": v / max(batches, 1) for k, v in sums.items()},
                  **{f"val_{k}": v for k, v in val.items() if k != "confusion"}}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        key = _selection_key(val, cfg.select_metric)
        if best_key is None or key > best_key:
            best_key, best_epoch, best_metrics, bad = key, epoch, val, 0
            best_state = {k: v.detach().clone() for k, v in selected().state_dict().items()}
        else:
            bad += 1
        logger.debug("epoch %d: loss %.4f val %s %.4f", epoch, record.get("train_total", math.nan),
                     cfg.select_metric, val[cfg.select_metric])
        bar.update(1)
        bar.set_postfix_str(f"val {cfg.select_metric} {val[cfg.select_metric]:.3f}, best epoch {best_epoch}",
                            refresh=False)
        if cfg.patience and bad >= cfg.patience:
            stopped_early = True
            bar.set_description_str(f"fit {type(model).__name__} (seed {cfg.seed}) stopped early at epoch {epoch}",
                                    refresh=False)
            break
    bar.close()

    final = copy.deepcopy(selected()) if ema is None else ema.module
    final.load_state_dict(best_state)
    final.eval()
    return FitResult(
        model=final, best_epoch=best_epoch, best_score=float(best_key[0]), val_metrics=best_metrics,
        history=history, wall_time_s=time.perf_counter() - t0,
        num_params=sum(p.numel() for p in model.parameters()), num_trainable=sum(p.numel() for p in params),
        weights="ema" if ema is not None else "raw", stopped_early=stopped_early, precision=precision.to_dict(),
    )


def micro_batch_size(cfg: HeadTrainConfig) -> int:
    """Samples per forward/backward pass: ``ceil(batch_size / grad_accum)``, at least 2 (BatchNorm)."""
    return max(2, -(-cfg.batch_size // cfg.grad_accum))


def _micro_batches(idx: torch.Tensor, size: int) -> list[torch.Tensor]:
    """``idx`` in consecutive micro-batches of ``size`` (a trailing one-sample part joins the one before: BatchNorm)."""
    parts = list(idx.split(size))
    if len(parts) > 1 and len(parts[-1]) < 2:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def _draw_augment(cfg: HeadTrainConfig, n: int, spatial: int | None, gen: torch.Generator) -> dict:
    """The random augmentation of one optimizer step of ``n`` samples, drawn in the order the augmentations
    apply (flips, then shifts), so micro-batches of a step get the draws of the whole batch."""
    out = {}
    if cfg.augment_flip:
        out["flip"] = torch.rand(n, generator=gen) < 0.5
    if cfg.augment_shift and spatial is not None:
        out["shift"] = torch.randint(0, 2 * cfg.augment_shift + 1, (n, spatial), generator=gen)
    return out


def train_settings(cfg: HeadTrainConfig) -> dict:
    """The settings of ``cfg`` that can change a trained model (for fingerprints of finished runs): without the
    seed, device, evaluation batch and workers, and without settings still at the value they had before they
    existed (fp32 precision, no accumulation), so runs trained earlier keep their fingerprints."""
    out = {k: v for k, v in asdict(cfg).items()
           if k not in ("seed", "device", "eval_batch_size", "num_workers")}
    for key, old in (("precision", "fp32"), ("grad_accum", 1)):
        if out.get(key) == old:
            del out[key]
    return out


def _decide_precision(cfg: HeadTrainConfig, model: nn.Module, data: ClassifierData, loss_fn, device):
    """``cfg.precision`` resolved on ``device``; ``auto`` times training steps of a copy of ``model`` on one
    (micro-)batch."""
    probe = None
    if cfg.precision == "auto":
        batch = data.subset(torch.arange(min(micro_batch_size(cfg), len(data)))).to(device)
        net = copy.deepcopy(model)
        gen = torch.Generator().manual_seed(0)

        def step(dtype):
            net.zero_grad(set_to_none=True)
            with autocast(device, dtype):
                terms = loss_fn(net, batch, gen)
            terms["total"].float().backward()
            return len(batch)

        shapes = {str(k): list(v.shape[1:]) for k, v in (batch.feats or {}).items()}
        if batch.images is not None:
            shapes["image"] = list(batch.images.shape[1:])
        config = model.get_config() if hasattr(model, "get_config") else repr(model)
        probe = Probe({"model": type(model).__name__, "config": config, "inputs": shapes, "batch": len(batch),
                       "mode": "train"}, step)
    return decide_precision(cfg.precision, device, probe)


# ------------------------------------------------------------------------------------------------------------
# saving
# ------------------------------------------------------------------------------------------------------------


def _check_plain(obj, where: str = "config") -> None:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool, tuple)):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; use plain keys")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, torch.Tensor):
        return
    raise TypeError(f"{where} holds a {type(obj).__name__}; only plain values (dict, list, str, numbers) are saved")


def save_classifier(path: str | Path, model: nn.Module, config_dict: dict, extra: dict | None = None) -> Path:
    """Write ``{"format", "config", "state_dict", "extra"}`` atomically; loadable with ``torch.load(weights_only=True)``.

    ``config_dict`` and ``extra`` must be plain (dicts, lists, strings, numbers; e.g. ``head.get_config()``
    and ``dataclasses.asdict(cfg)``); the state dict is stored on the CPU. Save ``FitResult.model`` to keep the
    selected EMA weights.
    """
    _check_plain(config_dict, "config_dict")
    _check_plain(extra or {}, "extra")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {"format": CLASSIFIER_FORMAT, "config": config_dict,
           "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "extra": extra or {}}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def load_classifier(path: str | Path) -> dict:
    """Read a file written by ``save_classifier`` (weights only, no code is unpickled)."""
    obj = safe_torch_load(path, "classifier file")
    if not isinstance(obj, dict) or obj.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{path}: not a medfx classifier file (format {CLASSIFIER_FORMAT!r} expected)")
    return obj
