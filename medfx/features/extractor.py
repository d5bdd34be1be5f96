"""``FeatureExtractor``: block x timestep features of a frozen diffusion backbone, keyed by ``(block, t)``.

For each requested timestep, one forward pass captures every requested block and stops after the deepest one.
The noise of a sample is drawn from a generator seeded by ``(seed, sample_id, draw)``, so features do not depend
on batch size or order; the same noise is used at every timestep (only its scale changes with t).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..diffusion.noise import sample_seeds, seeded_noise
from ..diffusion.schedule import DiffusionConfig, make_scheduler
from ..utils.hardware import PRECISIONS, PrecisionDecision, backbone_probe, decide_precision
from ..utils.runtime import autocast
from .pooling import POOLS, pool_features

FeatureKey = tuple[str, int]  # (block name, integer timestep): the key of every feature map and bank column


@dataclass
class FeaturesConfig:
    blocks: tuple[str, ...] = ()  # block names; empty = every block of the backbone
    timesteps: tuple[int, ...] = (0, 10, 50, 100, 200, 400)  # integer timesteps in [0, T)
    pool: str = "gap"  # gap | avgmax | grid (adaptive average pooling to grid^d) | none (full maps; memory!)
    grid: int = 2  # cells per axis for pool=grid
    seed: int = 0  # noise seed (combined with each sample id)
    noise_draws: int = 1  # average features over this many noise draws
    clean: bool = False  # feed the clean image; t only conditions the network
    batch_size: int = 64  # images per forward pass
    precision: str = "fp32"  # fp32, bf16, fp16 (CUDA) or auto (bf16 where native and measured faster)

    def __post_init__(self):
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
        if not self.timesteps:
            raise ValueError("timesteps must not be empty")
        if self.noise_draws < 1 or self.grid < 1 or self.batch_size < 1:
            raise ValueError("noise_draws, grid and batch_size must be >= 1")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


class FeatureExtractor:
    """``FeatureExtractor(model, diffusion, blocks, timesteps, pool, seed, ...)(x, sample_ids)``
    -> ``{(block, t): Tensor}`` (``[B, D]`` for gap/avgmax, ``[B, C, *grid]`` for grid, full maps for none).

    ``precision``: fp32, bf16, fp16 (CUDA) or ``auto``, resolved once (``resolve_precision``, at the latest on the
    first call) by ``medfx.utils.hardware.decide_precision`` with a forward-only probe of this model; the outcome
    is ``precision_decision``."""

    def __init__(self, model, diffusion: DiffusionConfig, blocks=None, timesteps=(0,), pool: str = "gap",
                 seed: int = 0, grid: int = 2, noise_draws: int = 1, clean: bool = False,
                 precision: str = "fp32", y=None):
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        T = diffusion.num_train_timesteps
        bad = [t for t in timesteps if not (isinstance(t, int) and 0 <= t < T)]
        if bad:
            raise ValueError(f"timesteps {bad} are outside [0, {T}) (integer training timesteps of this model)")
        if noise_draws < 1:
            raise ValueError("noise_draws must be >= 1")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model = model
        self.diffusion = diffusion
        self.blocks = model.resolve_blocks(list(blocks) if blocks else None)
        self.timesteps = sorted(dict.fromkeys(int(t) for t in timesteps))
        self.pool, self.grid, self.seed = pool, grid, seed
        self.noise_draws, self.clean, self.precision, self.y = noise_draws, clean, precision, y
        self.scheduler = make_scheduler(diffusion)
        self.precision_decision: PrecisionDecision | None = None

    def resolve_precision(self, input_shape) -> PrecisionDecision:
        """Resolve ``precision`` for ``[C, *spatial]`` inputs on the model's device (measures once for ``auto``)."""
        if self.precision_decision is None:
            device = next(self.model.parameters()).device
            probe = None
            if self.precision == "auto":
                batch = 32 if len(input_shape) == 3 else 4
                probe = backbone_probe(self.model, input_shape, batch, train=False)
            self.precision_decision = decide_precision(self.precision, device, probe)
        return self.precision_decision

    @property
    def keys(self) -> list[tuple[str, int]]:
        return [(b, t) for b in self.blocks for t in self.timesteps]

    def noise(self, x: torch.Tensor, sample_ids, draw: int) -> torch.Tensor:
        seeds = sample_seeds(self.seed, [str(i) for i in sample_ids], salt=f"draw{draw}")
        return seeded_noise(seeds, x.shape[1:], device=x.device, dtype=x.dtype)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sample_ids) -> dict[tuple[str, int], torch.Tensor]:
        if len(sample_ids) != x.shape[0]:
            raise ValueError(f"got {len(sample_ids)} sample ids for a batch of {x.shape[0]}")
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        x = x.to(device)
        dtype = self.resolve_precision(tuple(x.shape[1:])).dtype
        out: dict[tuple[str, int], torch.Tensor] = {}
        try:
            draws = 1 if self.clean else self.noise_draws
            for k in range(draws):
                eps = None if self.clean else self.noise(x, sample_ids, k)
                for t in self.timesteps:
                    tt = torch.full((x.shape[0],), t, dtype=torch.long, device=device)
                    xt = x if self.clean else self.scheduler.add_noise(x, eps, tt)
                    with autocast(device, dtype):  # each block is pooled as soon as it is produced
                        feats = self.model.forward_blocks(
                            xt, tt, self.blocks, y=self.y,
                            reduce=lambda _name, m: pool_features(m.float(), self.pool, self.grid))
                    for b in self.blocks:
                        f = feats[b]
                        key = (b, t)
                        out[key] = f / draws if k == 0 else out[key] + f / draws
        finally:
            self.model.train(was_training)
        return {key: out[key] for key in self.keys}
