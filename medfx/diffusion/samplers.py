"""Ancestral DDPM and deterministic DDIM sampling as pure functions of (model, schedule, seeds).

Every sample owns a random stream seeded by its seed, so outputs do not depend on batch size or order.
Timesteps are integers in [0, T); ``steps < T`` uses evenly spaced timesteps.
"""

from __future__ import annotations

import torch

from ..utils.oom import OOMFallback
from ..utils.progress import progress_bar
from ..utils.runtime import autocast
from .schedule import DiffusionConfig, NoiseProcess


def sampling_timesteps(num_train_timesteps: int, steps: int) -> list[int]:
    if not 1 <= steps <= num_train_timesteps:
        raise ValueError(f"steps must be in [1, {num_train_timesteps}], got {steps}")
    ts = torch.linspace(num_train_timesteps - 1, 0, steps).round().long().tolist()
    return sorted(set(ts), reverse=True)


def _predict_eps(model, x, t, labels, guidance: float):
    tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    if labels is None or guidance == 1.0:
        return model(x, tt, labels)
    eps_c = model(x, tt, labels)
    eps_u = model(x, tt, None)
    return eps_u + guidance * (eps_c - eps_u)


@torch.no_grad()
def sample_images(
    model,
    diffusion: DiffusionConfig,
    shape: tuple[int, ...],
    seeds: list[int],
    labels: torch.Tensor | None = None,
    sampler: str = "ddim",
    steps: int = 50,
    guidance: float = 1.0,
    device=None,
    progress: bool = False,
    clip_range: tuple[float, float] = (-1.0, 1.0),
    amp_dtype: torch.dtype | None = None,
    oom: OOMFallback | None = None,
) -> torch.Tensor:
    """Generate ``len(seeds)`` images of ``shape`` ([C, *spatial]) in ``clip_range``.

    ``clip_range`` is the model's data range (``data.intensity_range`` of its checkpoint): the predicted x0
    is clamped to it at every step, and so is the output.

    ``labels`` (long ``[N]``) conditions a class-conditional model; ``guidance`` is the classifier-free
    guidance scale (1 = plain conditional, 0 = unconditional). ``amp_dtype`` runs the network under autocast
    (e.g. ``torch.bfloat16``; None = fp32); the sampler's update itself is always computed in float64.

    On a device out-of-memory error the seeds are sampled in halves (logged; ``oom`` keeps the reduced size
    across calls, see ``medfx.utils.oom``); each image has its own generator, so the images do not change."""
    fallback = oom if oom is not None else OOMFallback("sampling batch")
    parts = fallback(lambda a, b: _sample_images(model, diffusion, shape, seeds[a:b],
                                                 None if labels is None else labels[a:b], sampler, steps, guidance,
                                                 device, progress, clip_range, amp_dtype), len(seeds))
    return torch.cat(parts)


def _sample_images(model, diffusion, shape, seeds, labels, sampler, steps, guidance, device, progress, clip_range,
                   amp_dtype) -> torch.Tensor:
    if sampler not in ("ddpm", "ddim"):
        raise ValueError(f"sampler must be 'ddpm' or 'ddim', got {sampler!r}")
    lo, hi = (float(v) for v in clip_range)
    if not lo < hi:
        raise ValueError(f"clip_range must be (low, high) with low < high, got {clip_range!r}")
    device = device or next(model.parameters()).device
    process = NoiseProcess(diffusion)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def draw():
        return torch.stack([torch.randn(tuple(shape), generator=g) for g in gens]).to(device)

    x = draw()
    if labels is not None:
        labels = labels.to(device)
    ts = sampling_timesteps(diffusion.num_train_timesteps, steps)
    it = ts
    if progress:
        it = progress_bar(ts, desc=f"{sampler}-{len(ts)}", leave=False)
    for i, t in enumerate(it):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        a_t, a_prev = process.alpha_bar(t, device), process.alpha_bar(t_prev, device)
        with autocast(torch.device(device), amp_dtype):
            eps = _predict_eps(model, x, t, labels, guidance)
        eps = eps.double()
        xd = x.double()
        x0 = process.predict_x0(xd, eps, a_t).clamp(lo, hi)
        if sampler == "ddim":
            eps = process.predict_eps(xd, x0, a_t)
            x = (a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps).float()
        else:
            alpha = a_t / a_prev
            beta = 1 - alpha
            mean = (a_prev.sqrt() * beta / (1 - a_t)) * x0 + (alpha.sqrt() * (1 - a_prev) / (1 - a_t)) * xd
            if t_prev >= 0:
                var = beta * (1 - a_prev) / (1 - a_t)
                x = (mean + var.sqrt() * draw().double()).float()
            else:
                x = mean.float()
    return x.clamp(lo, hi)
