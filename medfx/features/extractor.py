"""``FeatureExtractor``: block x timestep features of a frozen diffusion backbone, keyed by ``(block, t)``.

For each requested timestep, one forward pass captures every requested block and stops after the deepest one.
The noise of a sample is drawn from a generator seeded by ``(seed, sample_id, draw)``, so features do not depend
on batch size or order; the same noise is used at every timestep (only its scale changes with t).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..diffusion.noise import sample_seeds, seeded_noise
from ..diffusion.schedule import DiffusionConfig, NoiseProcess
from ..utils.hardware import PRECISIONS, PrecisionDecision, backbone_probe, decide_precision
from ..utils.oom import OOMFallback
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
    random_t: bool = False  # each sample gets its own t, drawn uniformly from [0, T) by a generator seeded with
    # (seed, sample id, label); the values of `timesteps` are then draw labels (a bank of K random-t draws), not t
    flip_axis: int | None = None  # mirror every image along this spatial axis before the backbone (the features of
    # the flipped image, for D-Cube's consistency term and flip augmentation)
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
                 precision: str = "fp32", y=None, random_t: bool = False, flip_axis: int | None = None):
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        T = diffusion.num_train_timesteps
        bad = [t for t in timesteps if not (isinstance(t, int) and (random_t and t >= 0 or 0 <= t < T))]
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
        self.process = NoiseProcess(diffusion)
        self.random_t, self.flip_axis = random_t, flip_axis
        self.precision_decision: PrecisionDecision | None = None
        self.oom_fallback = OOMFallback("extraction batch")  # halves the batch on out-of-memory errors

    def timesteps_for(self, label: int, sample_ids, device) -> torch.Tensor:
        """The per-sample timesteps of one key: ``label`` itself, or with ``random_t`` a seeded uniform draw."""
        n = len(sample_ids)
        if not self.random_t:
            return torch.full((n,), label, dtype=torch.long, device=device)
        seeds = sample_seeds(self.seed, [str(i) for i in sample_ids], salt=f"t{label}")
        T = self.diffusion.num_train_timesteps
        return torch.tensor([int(torch.randint(0, T, (1,), generator=torch.Generator().manual_seed(int(s))))
                             for s in seeds], dtype=torch.long, device=device)

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

    def __call__(self, x: torch.Tensor, sample_ids) -> dict[tuple[str, int], torch.Tensor]:
        return self.extract_pools(x, sample_ids, [(self.pool, self.grid)])[(self.pool, self.grid)]

    @torch.no_grad()
    def extract_pools(self, x: torch.Tensor, sample_ids, pools) -> dict:
        """Several poolings of the same forward passes: ``pools`` is a list of ``(pool, grid)``; returns
        ``{(pool, grid): {(block, t): Tensor}}``. One forward pass per (timestep, noise draw), whatever the
        number of pools, so e.g. the probe grid's vectors and the heads' grid maps cost one extraction.

        On a device out-of-memory error the batch is split in halves (logged) and the smaller size is kept for
        later batches (``medfx.utils.oom``); noise is seeded per sample, so the features do not change."""
        if len(sample_ids) != x.shape[0]:
            raise ValueError(f"got {len(sample_ids)} sample ids for a batch of {x.shape[0]}")
        pools = [(p, int(g)) for p, g in dict.fromkeys((p, g) for p, g in pools)]
        for p, _ in pools:
            if p not in POOLS:
                raise ValueError(f"pool must be one of {POOLS}, got {p!r}")
        ids = list(sample_ids)
        parts = self.oom_fallback(lambda a, b: self._extract_pools(x[a:b], ids[a:b], pools), x.shape[0])
        if len(parts) == 1:
            return parts[0]
        return {pg: {key: torch.cat([p[pg][key] for p in parts]) for key in parts[0][pg]} for pg in parts[0]}

    def _extract_pools(self, x: torch.Tensor, sample_ids, pools) -> dict:
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        x = x.to(device)
        if self.flip_axis is not None:
            x = x.flip(2 + self.flip_axis if self.flip_axis >= 0 else x.ndim + self.flip_axis)
        dtype = self.resolve_precision(tuple(x.shape[1:])).dtype
        out: dict = {pg: {} for pg in pools}

        def reduce(_name, m):  # every pooling of a block as soon as it is produced; the full map is freed
            m = m.float()
            return {pg: pool_features(m, pg[0], pg[1]) for pg in pools}

        try:
            draws = 1 if self.clean else self.noise_draws
            for k in range(draws):
                eps = None if self.clean else self.noise(x, sample_ids, k)
                for t in self.timesteps:
                    tt = self.timesteps_for(t, sample_ids, device)
                    xt = x if self.clean else self.process.add_noise(x, eps, tt)
                    with autocast(device, dtype):
                        feats = self.model.forward_blocks(xt, tt, self.blocks, y=self.y, reduce=reduce)
                    for b in self.blocks:
                        key = (b, t)
                        for pg in pools:
                            f, o = feats[b][pg], out[pg]
                            o[key] = f / draws if k == 0 else o[key] + f / draws
        finally:
            self.model.train(was_training)
        return {pg: {key: o[key] for key in self.keys} for pg, o in out.items()}
