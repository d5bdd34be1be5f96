"""``medfx plan``: memory and compute of a config's stages at its input size, before anything runs.

Memory is counted exactly for the configured network on PyTorch's meta device (see
``medfx.features.memory``); wall times are PREDICTIONS from the counted FLOPs and an assumed sustained
throughput per device (``--tflops``, default 30% of an H100/H200's dense bf16 peak), never measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GiB = 2**30


@dataclass
class StagePlan:
    stage: str
    batch: int
    peak_gib: float
    activation_gib: float
    state_gib: float
    gflops_per_sample: float
    max_batch: int | None  # largest batch fitting the device budget (None when no budget was given)


def _input_shape(cfg) -> tuple[int, ...]:
    size = cfg.data.size
    if size is None:
        raise ValueError("medfx plan needs data.size (the input size to plan for), e.g. data.size=[160,224,160]")
    return (1, *[int(s) for s in size])


def plan(cfg, device_memory_gib: float | None = None, tflops: float = 237.0, target_hours: float | None = None,
         num_images: int | None = None) -> dict:
    """Per-stage memory (train step, extraction pass, sampling step) and a predicted compute budget."""
    # here, not at the top: this module is imported by `medfx --help` (it registers the parser), torch is not
    from ..features.memory import estimate_backbone, max_batch
    from ..models import resolve_backbone_spec

    shape = _input_shape(cfg)
    k = 2 if cfg.model.conditional else None
    spec = resolve_backbone_spec(cfg.model, shape, k)
    micro = max(1, cfg.train.batch_size // max(1, cfg.train.grad_accum))
    blocks = list(cfg.features.blocks) or None
    budget = None if device_memory_gib is None else int(device_memory_gib * GiB)
    stages = []
    for stage, mode, batch in (("train", "train", micro), ("extract", "extract", cfg.features.batch_size),
                               ("sample", "infer", 1)):
        est = estimate_backbone(spec, shape, batch=batch, mode=mode, blocks=blocks)
        stages.append(StagePlan(
            stage, batch, est.peak_bytes / GiB, est.activation_bytes / GiB, est.state_bytes / GiB,
            est.flops / batch / 1e9,
            None if budget is None else max_batch(spec, shape, budget, mode=mode, blocks=blocks)))
    params = estimate_backbone(spec, shape, 1, "infer").params
    train = stages[0]
    train_flops = train.gflops_per_sample * 1e9 * cfg.train.batch_size * cfg.train.steps
    n_t = max(1, len(cfg.features.timesteps)) * max(1, cfg.features.noise_draws)
    extract_flops = None if num_images is None else stages[1].gflops_per_sample * 1e9 * num_images * n_t
    out = {
        "input_shape": list(shape), "params": params, "precision_note": "fp32 counts; bf16/fp16 autocast stores "
        "most activations at half size", "stages": [s.__dict__ for s in stages],
        "train_pflops": train_flops / 1e15, "assumed_tflops_per_device": tflops,
        "predicted_train_gpu_hours": train_flops / (tflops * 1e12) / 3600,
    }
    if extract_flops is not None:
        out["extract_pflops"] = extract_flops / 1e15
        out["predicted_extract_gpu_hours"] = extract_flops / (tflops * 1e12) / 3600
    if target_hours:
        out["gpus_for_target"] = math.ceil(out["predicted_train_gpu_hours"] / target_hours)
    return out


def format_plan(p: dict) -> str:
    lines = [f"input {tuple(p['input_shape'])}, {p['params'] / 1e6:.1f}M parameters ({p['precision_note']})",
             f"{'stage':<8} {'batch':>5} {'peak GiB':>9} {'activ.':>8} {'state':>7} {'GFLOP/sample':>13} {'max batch':>9}"]
    for s in p["stages"]:
        mb = "-" if s["max_batch"] is None else str(s["max_batch"])
        lines.append(f"{s['stage']:<8} {s['batch']:>5} {s['peak_gib']:>9.2f} {s['activation_gib']:>8.2f} "
                     f"{s['state_gib']:>7.2f} {s['gflops_per_sample']:>13.1f} {mb:>9}")
    lines.append(f"training: {p['train_pflops']:.1f} PFLOP -> PREDICTED {p['predicted_train_gpu_hours']:.1f} GPU-hours "
                 f"at an assumed {p['assumed_tflops_per_device']:.0f} TFLOP/s sustained per device")
    if "predicted_extract_gpu_hours" in p:
        lines.append(f"extraction: {p['extract_pflops']:.2f} PFLOP -> PREDICTED "
                     f"{p['predicted_extract_gpu_hours']:.2f} GPU-hours")
    if "gpus_for_target" in p:
        lines.append(f"GPUs for the target wall time: {p['gpus_for_target']} (prediction)")
    lines.append("memory excludes allocator caching/fragmentation (+5-15% on CUDA) and the CUDA context (~0.5 GiB)")
    return "\n".join(lines)


def cmd_plan(args) -> int:
    import json

    cfg = args.grammar.load(args)
    if args.dry_run:
        return args.grammar.print_config(cfg)
    p = plan(cfg, device_memory_gib=args.device_memory, tflops=args.tflops, target_hours=args.target_hours,
             num_images=args.num_images)
    print(json.dumps(p, indent=2) if args.json else format_plan(p))
    return 0


def register(sub, grammar) -> None:
    """Add ``plan`` to the ``medfx`` sub-command parser (``grammar``: the command line's shared options)."""
    sp = sub.add_parser("plan", help="peak memory per stage and predicted compute of a config, before running it",
                        description="Counts the memory of a training step, an extraction pass and a sampling step "
                        "of the configured network at data.size on PyTorch's meta device (nothing is allocated), "
                        "and predicts GPU-hours from the counted FLOPs and an assumed throughput.")
    grammar.add_common(sp, ckpt=False, out=False, seed=False, device=False)
    sp.add_argument("--device-memory", type=float, metavar="GIB", help="device memory budget: report the max batch")
    sp.add_argument("--tflops", type=float, default=237.0,
                    help="assumed sustained TFLOP/s per device (default 237 = 30%% of H100/H200 dense bf16)")
    sp.add_argument("--target-hours", type=float, help="wall-time target: report the GPUs needed (prediction)")
    sp.add_argument("--num-images", type=int, help="dataset size, for the extraction compute")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_plan, grammar=grammar)
