"""Per-sample seeded noise: results never depend on batch size or order (EDM2-style)."""

from __future__ import annotations

import hashlib

import torch


def sample_seeds(base_seed: int, ids, salt: str = "") -> list[int]:
    """Stable 63-bit seeds from a base seed and sample ids (str or int), independent of Python's hash salt."""
    out = []
    for i in ids:
        h = hashlib.blake2b(f"{base_seed}|{salt}|{i}".encode(), digest_size=8).digest()
        out.append(int.from_bytes(h, "little") & ((1 << 63) - 1))
    return out


def seeded_noise(seeds, shape, device=None, dtype=torch.float32) -> torch.Tensor:
    """Stack of N(0, 1) draws, one generator per seed: ``[len(seeds), *shape]``. Generated on CPU for
    bit-identical results on every device, then moved."""
    draws = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        draws.append(torch.randn(tuple(shape), generator=g))
    return torch.stack(draws).to(device=device, dtype=dtype)
