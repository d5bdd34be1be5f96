"""Counted (meta-device) memory of the 3D presets at 32^3, 64^3, 96^3 and full size: extraction of every block
with the maps kept until the pass ends (medfx before) and pooled as produced (now), and one training step
with and without activation checkpointing. Nothing is allocated; runs in seconds on a CPU.

    python bench/plan_memory.py > bench/results/plan_memory.md
"""

from __future__ import annotations

from medfx.config import load_config
from medfx.features.memory import estimate_backbone
from medfx.models import resolve_backbone_spec

GiB = 2**30
CASES = [("cpu-3d-28", s) for s in ((32,) * 3, (64,) * 3, (96,) * 3)] + \
        [("paper-3d", s) for s in ((32,) * 3, (64,) * 3, (96,) * 3, (160, 224, 160))]


def main() -> None:
    print("| preset | input | extract kept B/voxel | extract pooled-as-produced B/voxel | train B/voxel | "
          "train + checkpointing B/voxel | extract GiB (batch 1) | train GiB (batch 1, + checkpointing) |")
    print("|---|---|---|---|---|---|---|---|")
    for preset, size in CASES:
        cfg = load_config(None, [f"preset={preset}"])
        shape = (1, *size)
        spec = resolve_backbone_spec(cfg.model, shape, None)
        ck = {**spec, "config": {**spec["config"], "use_checkpoint": True}}
        vox = 1
        for s in size:
            vox *= s
        kept = estimate_backbone(spec, shape, 1, "extract", pool=None)
        pooled = estimate_backbone(spec, shape, 1, "extract", pool="gap")
        tr = estimate_backbone(spec, shape, 1, "train")
        trc = estimate_backbone(ck, shape, 1, "train")
        print(f"| {preset} | {'x'.join(map(str, size))} | {kept.activation_bytes / vox:.0f} | "
              f"{pooled.activation_bytes / vox:.0f} | {tr.activation_bytes / vox:.0f} | {trc.activation_bytes / vox:.0f} | "
              f"{pooled.peak_bytes / GiB:.2f} | {tr.peak_bytes / GiB:.2f} / {trc.peak_bytes / GiB:.2f} |")


if __name__ == "__main__":
    main()
