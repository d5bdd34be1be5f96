"""DDPM pretraining / fine-tuning loop: AdamW, accumulation, EMA, autocast, clipping, DDP, atomic resume.

Determinism: the data order of step ``s`` comes from a per-epoch permutation seeded by ``(seed, epoch)``, and
the timesteps, noise and label dropout of step ``s`` from a generator seeded by ``(seed, s, rank, micro)``.
Together with the model/optimizer/EMA state in the checkpoint, a resumed run follows exactly the loss
trajectory of an uninterrupted one, and the global batch is the same for any number of ranks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data import DataError, load_splits, validate
from ..data.augment import check_augment, random_flip_shift
from ..diffusion.losses import contrastive_loss, diffusion_loss, pair_mse
from ..diffusion.noise import sample_seeds
from ..diffusion.samplers import sample_images
from ..diffusion.schedule import NoiseProcess
from ..models import build_backbone, count_parameters, resolve_backbone_spec
from ..models.checkpoint import (
    FORMAT,
    CheckpointError,
    atomic_save,
    is_medfx_checkpoint,
    load_checkpoint,
    load_state_checked,
    save_safetensors,
    spec_difference,
)
from ..models.provenance import check_provenance
from ..utils.dataclass_io import save_yaml, to_dict
from ..utils.ema import EMA
from ..utils.errors import ConfigError, RunError  # RunError re-exported
from ..utils.fs import (
    check_writable_target,
    claim_dir,
    clean_stale_temp,
    locked,
    looks_like_run_dir,
    remove_owned,
)
from ..utils.hardware import backbone_probe, decide_precision_distributed
from ..utils.images import save_grid
from ..utils.io import dumps as strict_dumps
from ..utils.io import write_json
from ..utils.progress import progress_bar
from ..utils.provenance import versions
from ..utils.runtime import (
    DistInfo,
    autocast,
    barrier,
    init_distributed,
    seed_everything,
)

logger = logging.getLogger("medfx")

# config keys that may change between an interrupted run and its resumption
_RESUMABLE_CHANGES = ("train.steps", "train.log_every", "train.sample_every", "train.ckpt_every", "train.keep_ckpts",
                      "train.num_workers", "run.device", "run.threads", "run.out_dir", "run.out",
                      "run.checkpoint")


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    final_loss: float
    checkpoint: Path
    img_per_s: float
    resumed_from: int


# -- data order ------------------------------------------------------------------------------------
class StepBatches:
    """Index lists of the micro-batches this rank processes at each optimizer step, from ``start`` on."""

    def __init__(self, n: int, batch: int, accum: int, seed: int, start: int, steps: int, dist: DistInfo):
        if batch % (accum * dist.world_size):
            raise RunError(f"train.batch_size={batch} must be divisible by grad_accum x world size "
                           f"({accum} x {dist.world_size})")
        self.n, self.batch, self.accum, self.seed = n, batch, accum, seed
        self.start, self.steps, self.dist = start, steps, dist
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._perms[epoch]

    def step_indices(self, step: int) -> list[list[int]]:
        pos = step * self.batch + np.arange(self.batch)
        idx = np.array([self._perm(int(p // self.n))[p % self.n] for p in pos])
        per_rank = self.batch // self.dist.world_size
        mine = idx[self.dist.rank * per_rank:(self.dist.rank + 1) * per_rank]
        return [m.tolist() for m in np.array_split(mine, self.accum)]

    def __iter__(self):
        for s in range(self.start, self.steps):
            yield from self.step_indices(s)

    def __len__(self):
        return (self.steps - self.start) * self.accum


def _step_generator(seed: int, step: int, rank: int, micro: int) -> torch.Generator:
    return torch.Generator().manual_seed(sample_seeds(seed, [f"{step}/{rank}/{micro}"], salt="train")[0])


def _pair_indices(labels: np.ndarray, anchors: list[int], same_ratio: float, gen: torch.Generator):
    """For each anchor a partner of the same class with probability ``same_ratio``, else of another class."""
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    partners, different = [], []
    for a in anchors:
        same = torch.rand((), generator=gen).item() < same_ratio
        if same:
            pool = by_class[labels[a]]
            if len(pool) > 1:
                pool = pool[pool != a]  # never pair an image with itself (a zero-distance, zero-loss pair)
        else:
            pool = np.flatnonzero(labels != labels[a])
            if len(pool) == 0:
                pool, same = by_class[labels[a]], True
        partners.append(int(pool[torch.randint(len(pool), (), generator=gen).item()]))
        different.append(not same)
    return partners, torch.tensor(different)


# -- the loss as a module, so DDP sees every forward ------------------------------------------------
class DiffusionObjective(torch.nn.Module):
    """Noise-prediction MSE, plus the contrastive term on ``block`` features of image pairs when enabled."""

    def __init__(self, model, process: NoiseProcess, contrastive):
        super().__init__()
        self.model, self.process, self.contrastive = model, process, contrastive

    def forward(self, x0, t, noise, y=None, x0_pair=None, y_pair=None, different=None):
        if x0_pair is None:
            mse = diffusion_loss(self.model, self.process, x0, t, noise, y)
            return mse, mse.detach(), torch.zeros(())
        b = x0.shape[0]  # both images of a pair share t and noise (D-Cube)
        xt = self.process.add_noise(torch.cat([x0, x0_pair]), torch.cat([noise, noise]), torch.cat([t, t]))
        yy = None if y is None else torch.cat([y, y_pair])
        pred, feats = self.model.forward_intermediates(xt, torch.cat([t, t]), blocks=[self.contrastive.block], y=yy)
        target = torch.cat([noise, noise])
        mse = F.mse_loss(pred.float(), target.float())
        fit = pair_mse(pred, target, self.contrastive.mse_reduction)  # "sum": D-Cube's reduction
        f = feats[self.contrastive.block]
        con = contrastive_loss(f[:b], f[b:], different, self.contrastive.margin, self.contrastive.distance)
        return fit + self.contrastive.weight * con, mse.detach(), con.detach()


# -- run directory -----------------------------------------------------------------------------------
def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


_TRAINING_SECTIONS = ("run", "data", "model", "diffusion", "contrastive", "train", "latent", "init_from")


def _check_resume(stored: dict, current: dict, run_dir: Path, default: dict | None = None) -> None:
    """Refuse to continue a run whose training-relevant config changed (feature/probe/head settings may)."""
    a = _flat({k: v for k, v in stored.items() if k in _TRAINING_SECTIONS})
    b = _flat({k: v for k, v in current.items() if k in _TRAINING_SECTIONS})
    # a key the stored config lacks was added to medfx after the run started: it ran with that key's default
    defaults = _flat({k: v for k, v in (default or {}).items() if k in _TRAINING_SECTIONS})
    for k in set(b) - set(a):
        if k in defaults:
            a[k] = defaults[k]
    diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in _RESUMABLE_CHANGES]
    if diff:
        k = diff[0]
        raise RunError(f"{run_dir}: exists and was started with a different config ({k}: {a.get(k)!r} there, "
                       f"{b.get(k)!r} now); choose another run.name or delete the folder")


def _metric_rows(metrics_file: Path) -> list[dict]:
    """The rows of ``metrics.jsonl`` (none if it is missing), skipping empty lines and one cut short by a kill."""
    rows = []
    if metrics_file.is_file():
        for line in metrics_file.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def _write_done(run_dir: Path, model, spec: dict, steps: int, final_loss: float, ips: float | None,
                elapsed: float | None, **extra) -> None:
    """``done.json``: marks a finished DDPM run (steps, final loss, speed of the last session, versions)."""
    env = versions()
    write_json(run_dir / "done.json", {
        "steps": steps, "final_loss": final_loss, "img_per_s_last_session": ips, "wall_time_s_last_session": elapsed,
        "parameters": count_parameters(model), "backbone": spec, "versions": env, "host": env["host"], **extra})


def _prune(run_dir: Path, keep: int) -> None:
    ckpts = sorted(run_dir.glob("ckpt-*.pt"))
    for p in ckpts[:-keep] if keep > 0 else ckpts:
        p.unlink(missing_ok=True)


def plot_loss_curve(metrics_file: Path, path: Path) -> Path | None:
    from matplotlib.figure import Figure  # object API: no pyplot state, no backend switch (Agg on savefig)

    if not metrics_file.is_file():  # a checkpoint before the first log line (train.ckpt_every < train.log_every)
        return None
    rows = [r for r in _metric_rows(metrics_file) if "loss" in r]
    if not rows:
        return None
    steps = np.array([r["step"] for r in rows])
    loss = np.array([r["loss"] for r in rows])
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.plot(steps, loss, lw=0.8, alpha=0.5, label="loss")
    if len(loss) >= 5:
        k = max(2, len(loss) // 20)
        ax.plot(steps[k - 1:], np.convolve(loss, np.ones(k) / k, mode="valid"), lw=1.6, label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("noise-prediction MSE")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


# -- training ----------------------------------------------------------------------------------------
def load_training_data(cfg):
    """Load and check the training split before anything is written (bad input never leaves a run dir)."""
    splits = load_splits(cfg.data)
    if "train" not in splits or len(splits["train"]) == 0:
        raise DataError(f"{cfg.data.path}: the training split is empty")
    train = splits["train"]
    validate(train)
    if cfg.model.conditional and (np.asarray(train.labels) < 0).any():
        raise DataError(f"{cfg.data.path}: model.conditional=true needs labels for every training image")
    return train


def _init_weights(model, init_from: str | Path, spec: dict, cfg=None) -> None:
    ckpt = load_checkpoint(init_from)
    if is_medfx_checkpoint(ckpt):
        if cfg is not None:
            check_provenance(cfg, ckpt, init_from)
        diff = spec_difference(ckpt["backbone"], spec)
        if diff:
            raise CheckpointError(f"{init_from}: checkpoint architecture differs from the config ({diff[0]})")
        load_state_checked(model, ckpt.get("ema") or ckpt["model"], str(init_from))
    else:  # a plain MONAI / MONAI Generative DiffusionModelUNet state dict
        sd = ckpt.get("state_dict", ckpt)
        if not hasattr(model, "load_monai_state_dict"):
            raise CheckpointError(f"{init_from}: plain state dicts are only supported for the MONAI U-Net")
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise CheckpointError(f"{init_from}: not a medfx checkpoint and not a plain state dict of tensors")
        try:
            model.load_monai_state_dict(sd)
        except KeyError as e:
            raise CheckpointError(f"{init_from}: not a state dict of this MONAI DiffusionModelUNet (missing "
                                  f"{e.args[0]!r}; {len(sd)} tensors in the file); check model.* in the config") \
                from None
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"{init_from}: could not load as a MONAI DiffusionModelUNet state dict: "
                                  f"{' '.join(str(e).split())[:300]}") from None


class TrainHooks:
    """Called by ``train_diffusion`` on the main process; the workflow layer subclasses it for tracking
    (TensorBoard), so this library module writes no tracking files itself. Every method is a no-op here."""

    def start(self, run_dir: Path, step: int) -> None:
        """Training (re)starts after ``step`` optimizer steps (0, or the resumed checkpoint's step)."""

    def log(self, step: int, row: dict) -> None:
        """A row of ``metrics.jsonl`` (loss, mse, lr, img/s, ...) was written at ``step``."""

    def samples(self, step: int, path: Path) -> None:
        """The sample grid of ``step`` was saved to ``path`` (a PNG)."""

    def close(self) -> None:
        """Training of this call ended (finished, interrupted or failed)."""


def train_diffusion(cfg, init_from: str | Path | None = None,
                    stop_after: int | None = None, run_context=None, train_data=None,
                    checkpoint_extra: dict | None = None, decode=None,
                    hooks: TrainHooks | None = None) -> TrainResult:
    """Pretrain (or, with ``init_from``, fine-tune) a diffusion backbone; resumes from ``last.pt`` if present.

    ``cfg`` is a :class:`medfx.config.ExperimentConfig` (read: ``run``, ``data``, ``model``, ``diffusion``,
    ``contrastive``, ``train``; this library module does not import the config layer).

    ``stop_after`` ends this call after that many optimizer steps (an interruption, for tests).
    ``run_context(run_dir, is_main)``, if given, returns a context manager that wraps the training once the
    run directory exists (the workflow layer uses it for ``train.log``; this function sets up no logging,
    threads or plotting backend). ``train_data`` (an ``ImageDataset``, e.g. ``medfx.data.pool.load_pool``)
    replaces the training split of ``cfg.data``. Latent diffusion (``medfx.workflows.latent``) passes the encoded
    latents as ``train_data``, what the checkpoints record about the autoencoder as ``checkpoint_extra`` (merged
    into their ``extra``) and ``decode(latents) -> images`` for the sample grids. ``hooks`` (a
    :class:`TrainHooks`) sees the logged rows and sample grids as training goes (the workflow layer's
    TensorBoard writer)."""
    dist, device = init_distributed(cfg.run.device)
    if train_data is None:
        train_ds = load_training_data(cfg)
    else:
        if len(train_data) == 0:
            raise DataError("the training data are empty")
        validate(train_data)
        train_ds = train_data
    image_shape = tuple(train_ds[0][0].shape)
    num_classes = len(train_ds.class_names) if train_ds.class_names else None
    if cfg.model.conditional and not num_classes:
        raise RunError(f"{cfg.data.path}: model.conditional=true but the data has no classes")
    augment = bool(cfg.train.augment_flip or cfg.train.augment_shift)
    if augment and (decode is not None or getattr(getattr(cfg, "latent", None), "enabled", False)):
        raise ConfigError("train.augment_flip / train.augment_shift act on images; latent diffusion trains on "
                          "latents (latent.enabled=true): turn the augmentation off")
    try:
        check_augment(cfg.train.augment_flip, cfg.train.augment_shift, len(image_shape) - 1)
    except ValueError as e:
        raise ConfigError(f"{cfg.data.path}: train.{e}") from None
    if cfg.train.batch_size > len(train_ds):
        logger.warning("train.batch_size=%d is larger than the %d training images: every batch repeats each image "
                       "about %.0f times; lower train.batch_size", cfg.train.batch_size, len(train_ds),
                       cfg.train.batch_size / len(train_ds))
    spec = resolve_backbone_spec(cfg.model, image_shape, num_classes)
    seed_everything(cfg.run.seed)
    model = build_backbone(spec)
    if init_from is not None:
        _init_weights(model, init_from, spec, cfg)
    model.to(device)

    run_dir = Path(cfg.run.out_dir) / cfg.run.name
    cfg_dict = to_dict(cfg)
    cfg_dict["init_from"] = None if init_from is None else str(init_from)
    if cfg.train.precision == "fp16" and device.type != "cuda":  # fail before anything is written
        raise RunError("train.precision=fp16 needs CUDA; use bf16 or fp32 on CPU")
    if dist.is_main:
        check_writable_target(run_dir, "run directory (run.out_dir / run.name)", legacy=looks_like_run_dir)
    lock = locked(run_dir, "run directory") if dist.is_main else contextlib.nullcontext()
    with lock:
        created = not run_dir.exists()
        resume, last = _find_resume(run_dir)
        if resume is not None:
            _check_resume(resume["config"], cfg_dict, run_dir, default=to_dict(type(cfg)()))
            load_state_checked(model, resume["model"], str(last))
        if dist.is_main:
            claim_dir(run_dir, "run directory (run.out_dir / run.name)", legacy=looks_like_run_dir)
            clean_stale_temp(run_dir)
            (run_dir / "samples").mkdir(parents=True, exist_ok=True)
            (run_dir / "FAILED").unlink(missing_ok=True)
            save_yaml(to_dict(cfg), run_dir / "config.yaml")
        barrier(dist)
        progress = {"steps": 0}
        hooks = hooks if dist.is_main and hooks is not None else TrainHooks()
        try:
            with run_context(run_dir, dist.is_main) if run_context is not None else contextlib.nullcontext():
                try:
                    return _train(cfg, cfg_dict, model, spec, train_ds, run_dir, resume, dist, device, stop_after,
                                  progress, hooks, checkpoint_extra or {}, decode)
                finally:
                    hooks.close()
        except BaseException as e:
            if dist.is_main and not isinstance(e, KeyboardInterrupt):
                if progress["steps"] > 0:  # FAILED only marks runs that did real work
                    with contextlib.suppress(OSError):
                        (run_dir / "FAILED").write_text(f"{type(e).__name__}: {e}\n")
                elif created and resume is None:  # nothing trained: leave no run directory behind
                    with contextlib.suppress(OSError):
                        remove_owned(run_dir)
            raise


def _truncate_metrics(metrics_file: Path, start: int, dist) -> None:
    """Drop log rows after the resumed step (written before an interruption), so no step is logged twice."""
    if not dist.is_main or not metrics_file.is_file():
        return
    lines = metrics_file.read_text().splitlines()
    keep = []
    for line in lines:
        try:
            if json.loads(line).get("step", 0) <= start:
                keep.append(line)
        except ValueError:
            continue
    if len(keep) != len(lines):
        tmp = metrics_file.with_name(f".{metrics_file.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(x + "\n" for x in keep))
        os.replace(tmp, metrics_file)


def _find_resume(run_dir: Path) -> tuple[dict | None, Path | None]:
    """The newest complete checkpoint of ``run_dir``: ``last.pt``, or a newer / intact ``ckpt-*.pt`` when
    ``last.pt`` is missing, older (a kill during its write) or damaged."""
    last = run_dir / "last.pt"
    best, best_path, best_step = None, None, -1
    if last.exists():
        try:
            best = load_checkpoint(last)
            best_path, best_step = last, int(best.get("step", -1))
        except CheckpointError as e:
            logger.warning("%s; looking for an older complete checkpoint", e)
            best = None
    for p in sorted(run_dir.glob("ckpt-*.pt"), reverse=True):
        try:
            step = int(p.stem.split("-", 1)[1])
        except ValueError:
            continue
        if step <= best_step:
            break
        try:
            ck = load_checkpoint(p)
        except CheckpointError as e:
            logger.warning("%s; skipping it", e)
            continue
        if isinstance(ck, dict) and "model" in ck and "config" in ck:
            logger.info("%s is missing, older or damaged: resuming from %s", last, p.name)
            return ck, p
    if best is not None and not ("model" in best and "config" in best and "step" in best):
        raise CheckpointError(f"{last}: damaged run checkpoint (no model/config/step entry); delete it to restart")
    return best, best_path


def _train(cfg, cfg_dict, model, spec, train_ds, run_dir, resume, dist, device, stop_after, progress, hooks,
           checkpoint_extra=None, decode=None):
    tc = cfg.train
    process = NoiseProcess(cfg.diffusion)
    if resume is not None and int(resume["step"]) >= tc.steps:
        step = int(resume["step"])
        logger.info("%s: already finished (%d steps)", run_dir, step)
        metrics_file = run_dir / "metrics.jsonl"
        _truncate_metrics(metrics_file, step, dist)  # rows logged after the checkpoint belong to lost steps
        logged = [r["loss"] for r in _metric_rows(metrics_file) if r.get("step") == step and r.get("loss") is not None]
        loss_val = float(logged[-1]) if logged else float("nan")
        if dist.is_main and not (run_dir / "done.json").is_file():
            # stopped after its last checkpoint but before done.json (or train.steps lowered to a saved step):
            # finish the run's records now, so that a finished run always looks finished
            _write_done(run_dir, model, spec, step, loss_val, None, None,
                        note=f"completed on resume: the checkpoint of step {step} was already saved")
            plot_loss_curve(metrics_file, run_dir / "loss.png")
        barrier(dist)
        return TrainResult(run_dir, step, loss_val, run_dir / "last.pt", 0.0, step)
    micro = max(1, tc.batch_size // (tc.grad_accum * dist.world_size))
    probe_batch = min(micro, 32 if model.spatial_dims == 2 else 4)
    precision = decide_precision_distributed(
        tc.precision, device, backbone_probe(model, train_ds[0][0].shape, probe_batch, train=True), dist)
    amp_dtype = precision.dtype
    if dist.is_main:
        write_json(run_dir / "precision.json", precision.to_dict())
        logger.info("precision: %s; torch threads %d (inter-op %d), DataLoader workers %d", precision,
                    torch.get_num_threads(), torch.get_num_interop_threads(), tc.num_workers)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    ema = EMA(model, tc.ema_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=precision.grad_scaler)
    start = 0
    if resume is not None:
        opt.load_state_dict(resume["optimizer"])
        ema.load_state_dict(resume["ema"])
        if "scaler" in resume.get("extra", {}) and scaler.is_enabled():
            scaler.load_state_dict(resume["extra"]["scaler"])
        start = int(resume["step"])
        logger.info("resuming %s from step %d", run_dir, start)
        _truncate_metrics(run_dir / "metrics.jsonl", start, dist)

    objective = DiffusionObjective(model, process, cfg.contrastive if cfg.contrastive.weight > 0 else None)
    if cfg.contrastive.weight > 0 and not cfg.model.conditional and (np.asarray(train_ds.labels) < 0).any():
        raise RunError("contrastive.weight > 0 needs labelled training data")
    wrapped = objective
    if dist.enabled:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None)
    labels_np = np.asarray(train_ds.labels)
    k = model.num_classes
    info = {"class_names": list(train_ds.class_names or []), "image_shape": list(train_ds[0][0].shape),
            "n_images": len(train_ds), **(checkpoint_extra or {})}
    batches = StepBatches(len(train_ds), tc.batch_size, tc.grad_accum, cfg.run.seed, start, tc.steps, dist)
    loader = torch.utils.data.DataLoader(train_ds, batch_sampler=batches, num_workers=tc.num_workers,
                                         pin_memory=device.type == "cuda")
    it = iter(loader)
    metrics_file = run_dir / "metrics.jsonl"
    if dist.is_main:
        logger.info("model: %s, %.2fM parameters; data: %d training images of shape %s; precision %s; device %s x%d",
                    spec["arch"], count_parameters(model) / 1e6, len(train_ds), tuple(train_ds[0][0].shape),
                    precision.name, device, dist.world_size)

    bar = progress_bar(total=tc.steps, initial=start, enabled=dist.is_main, desc=cfg.run.name)
    t0, seen, loss_val = time.perf_counter(), 0, float("nan")
    end = tc.steps if stop_after is None else min(tc.steps, start + stop_after)
    step = start
    model.train()
    hooks.start(run_dir, start)
    for step in range(start, end):
        progress["steps"] += 1
        lr = tc.lr * min(1.0, (step + 1) / tc.warmup_steps) if tc.warmup_steps else tc.lr
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        tot = mse_tot = con_tot = 0.0
        micro_idx = batches.step_indices(step)
        for m in range(tc.grad_accum):
            x0, y, _ids = next(it)
            x0 = x0.to(device, non_blocking=True)
            gen = _step_generator(cfg.run.seed, step, dist.rank, m)
            b = x0.shape[0]
            t = torch.randint(0, cfg.diffusion.num_train_timesteps, (b,), generator=gen).to(device)
            noise = torch.randn(x0.shape, generator=gen).to(device)
            yy = None
            if k is not None:
                yy = y.to(device).long()
                drop = (torch.rand(b, generator=gen) < cfg.diffusion.class_dropout).to(device)
                yy = torch.where(drop, torch.full_like(yy, k), yy)
            extra = {}
            if objective.contrastive is not None:
                partners, different = _pair_indices(labels_np, micro_idx[m], cfg.contrastive.same_class_ratio, gen)
                extra["x0_pair"] = torch.stack([train_ds[j][0] for j in partners]).to(device)
                extra["different"] = different.to(device)
                if k is not None:
                    yp = torch.as_tensor(labels_np[partners], device=device).long()
                    extra["y_pair"] = torch.where(yy == k, torch.full_like(yp, k), yp)
            if tc.augment_flip or tc.augment_shift:  # drawn after the step's other draws: runs without it unchanged
                x0 = random_flip_shift(x0, tc.augment_flip, tc.augment_shift, gen)
                if "x0_pair" in extra:
                    extra["x0_pair"] = random_flip_shift(extra["x0_pair"], tc.augment_flip, tc.augment_shift, gen)
            sync = dist.enabled and m < tc.grad_accum - 1
            ctx = wrapped.no_sync() if sync else torch.enable_grad()
            with ctx:
                with autocast(device, amp_dtype):
                    loss, mse, con = wrapped(x0, t, noise, yy, **extra)
                scaler.scale(loss / tc.grad_accum).backward()
            tot += loss.item() / tc.grad_accum
            mse_tot += mse.item() / tc.grad_accum
            con_tot += con.item() / tc.grad_accum
            seen += b * dist.world_size
        if not math.isfinite(tot):
            raise RunError(f"{run_dir}: loss became {tot} at step {step}; lower train.lr or use precision=fp32")
        scaler.unscale_(opt)
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        scaler.step(opt)
        scaler.update()
        ema.update(model, step)
        loss_val = tot
        done = step + 1
        ips = seen / max(time.perf_counter() - t0, 1e-9)
        bar.update(1)
        bar.set_postfix(loss=f"{tot:.4f}", img_s=f"{ips:.1f}")
        if dist.is_main and (done % tc.log_every == 0 or done == tc.steps):
            row = {"step": done, "loss": tot, "mse": mse_tot, "lr": lr, "img_per_s": ips,
                   "time": time.perf_counter() - t0}
            if objective.contrastive is not None:
                row["contrastive"] = con_tot
            with open(metrics_file, "a") as f:
                f.write(strict_dumps(row, indent=None) + "\n")
            hooks.log(done, row)
        if done % tc.ckpt_every == 0 or done == tc.steps:
            _checkpoint(run_dir, cfg_dict, spec, model, ema, opt, scaler, done, dist, tc.keep_ckpts, info)
            if dist.is_main:
                plot_loss_curve(metrics_file, run_dir / "loss.png")
        if dist.is_main and (done == tc.steps or (tc.sample_every and done % tc.sample_every == 0)):
            grid = run_dir / "samples" / f"step-{done:07d}.png"
            _sample_grid(cfg, ema.module, train_ds, grid, device, amp_dtype, decode)
            hooks.samples(done, grid)
    bar.close()
    elapsed = time.perf_counter() - t0
    ips = seen / max(elapsed, 1e-9)
    if dist.is_main:
        if step + 1 >= tc.steps:
            _write_done(run_dir, model, spec, tc.steps, loss_val, ips, elapsed)
            logger.info("finished %s: loss %.4f, %.1f img/s", run_dir, loss_val, ips)
    barrier(dist)
    return TrainResult(run_dir, min(end, tc.steps), loss_val, run_dir / "last.pt", ips, start)


def _checkpoint(run_dir, cfg_dict, spec, model, ema, opt, scaler, step, dist, keep, info):
    if dist.is_main:
        extra = dict(info)
        if scaler.is_enabled():
            extra["scaler"] = scaler.state_dict()
        ckpt = {"format": FORMAT, "config": cfg_dict, "backbone": spec, "model": model.state_dict(),
                "ema": ema.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "extra": extra}
        atomic_save(ckpt, run_dir / f"ckpt-{step:07d}.pt")
        atomic_save(ckpt, run_dir / "last.pt")
        save_safetensors(run_dir / "model.safetensors", ema.state_dict(), spec, cfg_dict, step)
        _prune(run_dir, keep)
    barrier(dist)


@torch.no_grad()
def _sample_grid(cfg, model, train_ds, path, device, amp_dtype=None, decode=None):
    tc = cfg.train
    n = tc.num_samples
    labels = None
    if model.num_classes is not None:
        labels = torch.arange(n) % model.num_classes
    shape = tuple(train_ds[0][0].shape)
    lo, hi = cfg.data.intensity_range
    clip = (lo, hi) if decode is None else (-1e4, 1e4)  # latents are not clipped
    imgs = sample_images(model, cfg.diffusion, shape, list(range(n)), labels=labels, sampler="ddim",
                         steps=min(tc.sample_steps, cfg.diffusion.num_train_timesteps), device=device,
                         amp_dtype=amp_dtype, clip_range=clip)
    if decode is not None:
        imgs = decode(imgs).cpu().clamp(lo, hi)
    save_grid(imgs, path, low=cfg.data.intensity_range[0], high=cfg.data.intensity_range[1])
