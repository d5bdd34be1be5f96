"""Random mirror and shift augmentation of image batches ``[B, C, *spatial]`` (2D and 3D), drawn from a given
generator so that a seeded generator gives the same batch on any device and after a resume.

Hand-written rather than MONAI's ``RandFlip`` / ``RandAffine``: those draw from their own global-style state per
dictionary item; the DDPM loop needs per-step draws from its step generator (``medfx.train.loop``), and the shift
is an integer crop of a replicate-padded batch, a few lines of ``torch``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def check_augment(flip_axes: Sequence[int], max_shift: int, spatial_dims: int | None = None) -> None:
    """Raise ``ValueError`` for axes that are not distinct spatial axes (``0 .. spatial_dims - 1``) or a negative
    shift."""
    axes = list(flip_axes)
    if max_shift < 0:
        raise ValueError(f"augment_shift must be >= 0, got {max_shift}")
    if len(set(axes)) != len(axes) or any(a < 0 for a in axes):
        raise ValueError(f"augment_flip must list distinct spatial axes (0, 1, ...), got {axes}")
    if spatial_dims is not None and any(a >= spatial_dims for a in axes):
        raise ValueError(f"augment_flip {axes}: the images have {spatial_dims} spatial axes (0-{spatial_dims - 1})")


def shift_images(x: torch.Tensor, max_shift: int, offs: torch.Tensor) -> torch.Tensor:
    """Shift each image of ``x`` by ``offs[i] - max_shift`` pixels per spatial axis (``offs``: ``[B, d]`` in
    ``[0, 2 * max_shift]``), filling the edge by repeating it (replicate padding, then a crop)."""
    d = x.ndim - 2
    padded = F.pad(x, (max_shift,) * (2 * d), mode="replicate")
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = padded[(i, slice(None), *(slice(int(o), int(o) + s) for o, s in zip(offs[i], x.shape[2:])))]
    return out


def random_flip_shift(x: torch.Tensor, flip_axes: Sequence[int], max_shift: int,
                      generator: torch.Generator) -> torch.Tensor:
    """Per image: mirror along each spatial axis in ``flip_axes`` with probability 1/2, then shift by a random
    integer in ``[-max_shift, max_shift]`` per spatial axis (``shift_images``). Draws, in this order: the flips
    (``[B, len(flip_axes)]`` uniforms), then the offsets (``[B, d]``); nothing is drawn for an augmentation that is
    off, so ``random_flip_shift(x, (), 0, g)`` returns ``x`` and leaves ``g`` untouched."""
    check_augment(flip_axes, max_shift, x.ndim - 2)
    out = x
    if flip_axes:
        flips = (torch.rand(x.shape[0], len(flip_axes), generator=generator) < 0.5).to(x.device)
        for j, a in enumerate(flip_axes):
            out = torch.where(flips[:, j].reshape(-1, *(1,) * (x.ndim - 1)), out.flip(2 + a), out)
    if max_shift:
        offs = torch.randint(0, 2 * max_shift + 1, (x.shape[0], x.ndim - 2), generator=generator)
        out = shift_images(out, max_shift, offs)
    return out
