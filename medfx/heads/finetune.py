"""The diffusion backbone itself, fine-tuned end to end as a classifier (``heads.methods=[backbone_ft]``).

The linear probes and heads read FROZEN features. The usual next step in self-supervised learning is to fine-tune
the pretrained network with the labels; ``BackboneClassifier`` does that for a medfx backbone:

    x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps      (one fixed t: the probe grid's best (block, t) on validation)
    logits = Linear(LayerNorm(GAP(backbone.forward_blocks(x_t, t)[block])))

Every backbone weight that the pass up to ``block`` uses is trained (learning rate ``lr * backbone_lr_scale``; the
new layer norm and linear layer get ``lr``); the rest of the network (blocks after ``block``, the output
convolution) gets no gradient and is frozen, so the trainable-parameter count is what the classifier really uses.

Noise: in training every step draws fresh noise (an augmentation the DDPM was trained with); in evaluation every
image gets the same fixed noise draw ``eps_0`` (a buffer seeded by ``noise_seed``, as ddpm-segmentation's
``share_noise``), so predictions do not depend on batch size, order or the global random state.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..diffusion.schedule import DiffusionConfig, NoiseProcess


class BackboneClassifier(nn.Module):
    """``BackboneClassifier(backbone, block, t, num_classes, diffusion, input_shape)(images) -> logits``.

    ``backbone``: a medfx ``Backbone`` (copied; the argument is not modified). ``input_shape``: ``[C, *spatial]``
    of the images (for the fixed evaluation noise). Reads images (``input_kinds = ("image",)``)."""

    input_kinds = ("image",)

    def __init__(self, backbone: nn.Module, block: str, t: int, num_classes: int, diffusion: DiffusionConfig,
                 input_shape, backbone_lr_scale: float = 1.0, noise_seed: int = 0):
        super().__init__()
        T = diffusion.num_train_timesteps
        if not 0 <= int(t) < T:
            raise ValueError(f"t={t} is outside [0, {T})")
        if backbone_lr_scale < 0:
            raise ValueError(f"backbone_lr_scale must be >= 0, got {backbone_lr_scale}")
        self.backbone = copy.deepcopy(backbone).train()
        self.block = self.backbone.resolve_blocks([block])[0]
        self.t, self.num_classes = int(t), int(num_classes)
        self.backbone_lr_scale, self.noise_seed = float(backbone_lr_scale), int(noise_seed)
        self.input_shape = tuple(int(s) for s in input_shape)
        abar = NoiseProcess(diffusion).alpha_bar(self.t, dtype=torch.float32)
        self.register_buffer("signal", abar.sqrt().reshape(()), persistent=True)
        self.register_buffer("sigma", (1 - abar).sqrt().reshape(()), persistent=True)
        g = torch.Generator().manual_seed(self.noise_seed)
        self.register_buffer("eval_noise", torch.randn(self.input_shape, generator=g), persistent=True)
        channels = self.backbone.block(self.block).channels
        self.norm = nn.LayerNorm(channels)
        self.fc = nn.Linear(channels, self.num_classes)
        self._freeze_unused()

    def _freeze_unused(self) -> None:
        """Freeze every backbone parameter that the pass up to ``block`` does not use (one dry pass)."""
        for p in self.backbone.parameters():
            p.requires_grad_(True)
            p.grad = None
        device = next(self.backbone.parameters()).device
        self.pool(torch.zeros((1, *self.input_shape), device=device)).sum().backward()
        for p in self.backbone.parameters():
            if p.grad is None or self.backbone_lr_scale == 0:
                p.requires_grad_(False)
            p.grad = None

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled features of ``block`` for the (already noised) input ``x``: ``[B, C]``."""
        t = torch.full((x.shape[0],), self.t, dtype=torch.long, device=x.device)
        m = self.backbone.forward_blocks(x, t, [self.block])[self.block]
        return m.float().mean(dim=tuple(range(2, m.ndim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eps = torch.randn_like(x) if self.training else self.eval_noise.to(x.dtype).expand_as(x)
        xt = self.signal.to(x.dtype) * x + self.sigma.to(x.dtype) * eps
        return self.fc(self.norm(self.pool(xt)))

    def param_groups(self, lr: float) -> list[dict]:
        """AdamW groups: the backbone at ``lr * backbone_lr_scale``, the new layers at ``lr``."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        head = [*self.norm.parameters(), *self.fc.parameters()]
        groups = [{"params": head, "lr": lr}]
        if backbone:
            groups.insert(0, {"params": backbone, "lr": lr * self.backbone_lr_scale})
        return groups

    def get_config(self) -> dict:
        return {"class": "BackboneClassifier", "block": self.block, "t": self.t, "num_classes": self.num_classes,
                "backbone_lr_scale": self.backbone_lr_scale, "noise_seed": self.noise_seed,
                "input_shape": list(self.input_shape)}
