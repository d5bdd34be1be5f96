"""Memory and compute of a backbone at any input size, counted without allocating it.

The network is built on PyTorch's ``meta`` device (tensors with shapes and dtypes but no data), and one
training step or one extraction pass is run under a dispatch mode that counts the bytes of every tensor
the pass creates and frees (a tensor's storage is counted once, views are free, a tensor is freed when
the last reference to it dies, exactly as in eager execution). The peak of that count is the activation
memory of the pass; parameters, gradients, AdamW moments and the EMA copy are added from the parameter
count. FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on the same pass.

What the count leaves out: the allocator's caching and fragmentation (CUDA typically needs 5-15% more),
the CUDA context (~0.5 GB), cuDNN/cuBLAS workspaces and DataLoader buffers. Autocast is not applied on the
meta device, so the counts are fp32; bf16/fp16 autocast stores most activations at half the size.

>>> from medfx.features.memory import estimate_backbone
>>> est = estimate_backbone(backbone_spec, (1, 160, 224, 160), batch=1, mode="train")
>>> est.peak_bytes / 2**30
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..models import build_backbone
from ..models.autoencoder import build_autoencoder, kl_divergence
from .pooling import pool_features

MODES = ("train", "extract", "infer")


class LiveBytes(TorchDispatchMode):
    """Counts the bytes of live tensor storages created inside the mode; ``peak`` is the maximum."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _free(self, nbytes: int, key: int) -> None:
        self.live -= nbytes
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key = storage._cdata
            if key in self._seen:  # a view of (or the same) storage: no new memory
                continue
            n = storage.nbytes()
            self._seen.add(key)
            self.live += n
            self.peak = max(self.peak, self.live)
            weakref.finalize(t, self._free, n, key)
        return out


@dataclass
class MemoryEstimate:
    mode: str  # train (one optimizer step), extract (features of the requested blocks), infer (noise prediction)
    input_shape: tuple[int, ...]  # [C, *spatial]
    batch: int
    params: int  # parameters of the backbone
    activation_bytes: int  # peak bytes of tensors created during the pass (fp32)
    state_bytes: int  # parameters (+ gradients, AdamW moments and EMA copy when training)
    flops: int  # floating-point operations of the pass (a multiply-add counts 2)

    @property
    def peak_bytes(self) -> int:
        return self.activation_bytes + self.state_bytes

    @property
    def voxels(self) -> int:
        n = 1
        for s in self.input_shape[1:]:
            n *= int(s)
        return n

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(peak_bytes=self.peak_bytes, activation_bytes_per_voxel=self.activation_bytes / (self.voxels * self.batch))
        return d


def _on_meta(build, spec: dict, input_shape: tuple, batch: int):
    """``build(spec)`` on the meta device, its parameter count and bytes, and a meta input batch."""
    with torch.device("meta"):
        model = build(spec)
    params = sum(p.numel() for p in model.parameters())
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return model, params, param_bytes, torch.empty((batch, *input_shape), device="meta")


def estimate_backbone(spec: dict, input_shape, batch: int = 1, mode: str = "train", blocks=None,
                      timestep: int = 0, pool: str | None = "gap", grid: int = 2) -> MemoryEstimate:
    """Peak memory and FLOPs of one pass of the backbone built from ``spec`` (see ``resolve_backbone_spec``).

    ``train``: forward + backward of the noise-prediction loss, with gradients, AdamW moments and an EMA copy
    as state. ``extract``: ``forward_blocks(blocks)`` under ``no_grad`` (the pass stops after the deepest
    requested block), each block pooled (``pool``, as ``FeatureExtractor`` does) the moment it is produced;
    ``pool=None`` keeps the full maps until the pass ends. ``infer``: the full forward pass under ``no_grad`` (sampling, one step).
    """
    from torch.utils.flop_counter import FlopCounterMode

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    input_shape = tuple(int(s) for s in input_shape)
    model, params, param_bytes, x = _on_meta(build_backbone, spec, input_shape, batch)
    t = torch.full((batch,), int(timestep), dtype=torch.long, device="meta")
    counter, flops = LiveBytes(), FlopCounterMode(display=False)
    if mode == "train":
        model.train()
        with counter, flops:
            out = model(x, t)
            loss = (out.float() - x).pow(2).mean()
            loss.backward()
            del out, loss
        state = param_bytes * 5  # weights, gradients, AdamW exp_avg and exp_avg_sq, EMA weights
        # gradients were allocated inside the pass and are still alive at its end: they are in ``state``
        activation = counter.peak - param_bytes
    else:
        model.eval()
        with torch.no_grad(), counter, flops:
            if mode == "extract":
                reduce = None if pool is None else (lambda _n, m: pool_features(m.float(), pool, grid))
                feats = model.forward_blocks(x, t, blocks=blocks, reduce=reduce)
                del feats
            else:
                out = model(x, t)
                del out
        state = param_bytes
        activation = counter.peak
    return MemoryEstimate(mode, input_shape, batch, params, int(max(activation, 0)), int(state),
                          int(flops.get_total_flops()))


def max_batch(spec: dict, input_shape, budget_bytes: int, mode: str = "train", blocks=None, limit: int = 4096) -> int:
    """The largest batch whose estimated peak fits ``budget_bytes`` (0 when even one sample does not).

    Activation memory is linear in the batch, so two estimates (batch 1 and 2) give the slope exactly.
    """
    one = estimate_backbone(spec, input_shape, 1, mode, blocks)
    if one.peak_bytes > budget_bytes:
        return 0
    two = estimate_backbone(spec, input_shape, 2, mode, blocks)
    per_sample = max(two.activation_bytes - one.activation_bytes, 1)
    fixed = one.peak_bytes - per_sample
    return int(min(limit, (budget_bytes - fixed) // per_sample))


def estimate_autoencoder(spec: dict, input_shape, batch: int = 1, mode: str = "train") -> MemoryEstimate:
    """Peak memory and FLOPs of one pass of the ``AutoencoderKL`` built from ``spec`` (latent diffusion).

    ``train``: encode, reparameterised sample, decode, L1 + KL backward, with gradients and AdamW moments as state
    (no EMA). ``encode``: the encoder's posterior mean under ``no_grad`` (what training the latent DDPM and
    every feature extraction run on each image first)."""
    from torch.utils.flop_counter import FlopCounterMode

    if mode not in ("train", "encode"):
        raise ValueError(f"mode must be train or encode, got {mode!r}")
    input_shape = tuple(int(s) for s in input_shape)
    model, params, param_bytes, x = _on_meta(build_autoencoder, spec, input_shape, batch)
    counter, flops = LiveBytes(), FlopCounterMode(display=False)
    if mode == "train":
        model.train()
        with counter, flops:
            recon, mu, sigma = model(x)
            loss = (recon - x).abs().mean() + 1e-6 * kl_divergence(mu, sigma)
            loss.backward()
            del recon, mu, sigma, loss
        state, activation = param_bytes * 4, counter.peak - param_bytes
    else:
        model.eval()
        with torch.no_grad(), counter, flops:
            mu, _ = model.encode(x)
            del mu
        state, activation = param_bytes, counter.peak
    return MemoryEstimate(mode, input_shape, batch, params, int(max(activation, 0)), int(state),
                          int(flops.get_total_flops()))
