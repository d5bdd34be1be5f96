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
    from ..features.memory import estimate_autoencoder, estimate_backbone, max_batch
    from ..models import resolve_backbone_spec

    shape = _input_shape(cfg)
    image_shape, ae_spec = shape, None
    if getattr(cfg, "latent", None) is not None and cfg.latent.enabled:  # the DDPM sees the autoencoder's latents
        from ..models.autoencoder import autoencoder_spec

        ae_cfg = cfg.latent.autoencoder_config(len(shape) - 1, shape[0])
        ae_spec, shape = autoencoder_spec(ae_cfg), ae_cfg.latent_shape(shape[1:])
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
    if ae_spec is not None:
        stages += _autoencoder_stages(cfg, ae_spec, image_shape, budget)
    params = estimate_backbone(spec, shape, 1, "infer").params
    train = stages[0]
    train_flops = train.gflops_per_sample * 1e9 * cfg.train.batch_size * cfg.train.steps
    n_t = max(1, len(cfg.features.timesteps)) * max(1, cfg.features.noise_draws)
    extract_flops = None if num_images is None else stages[1].gflops_per_sample * 1e9 * num_images * n_t
    if extract_flops is not None and ae_spec is not None:  # every image is encoded once before extraction
        extract_flops += next(s for s in stages if s.stage == "ae-encode").gflops_per_sample * 1e9 * num_images
    out = {
        "input_shape": list(image_shape), "params": params, "precision_note": "fp32 counts; bf16/fp16 autocast stores "
        "most activations at half size", "stages": [s.__dict__ for s in stages],
        "train_pflops": train_flops / 1e15, "assumed_tflops_per_device": tflops,
        "predicted_train_gpu_hours": train_flops / (tflops * 1e12) / 3600,
    }
    if extract_flops is not None:
        out["extract_pflops"] = extract_flops / 1e15
        out["predicted_extract_gpu_hours"] = extract_flops / (tflops * 1e12) / 3600
    if ae_spec is not None:
        ae = next(s for s in stages if s.stage == "ae-train")
        out["latent_shape"] = list(shape)
        out["autoencoder_params"] = estimate_autoencoder(ae_spec, image_shape, 1, "encode").params
        ae_flops = ae.gflops_per_sample * 1e9 * cfg.latent.batch_size * cfg.latent.steps
        out["autoencoder_train_pflops"] = ae_flops / 1e15
        out["predicted_autoencoder_gpu_hours"] = ae_flops / (tflops * 1e12) / 3600
    if target_hours:
        hours = out["predicted_train_gpu_hours"] + out.get("predicted_autoencoder_gpu_hours", 0.0)
        out["gpus_for_target"] = math.ceil(hours / target_hours)  # latent: autoencoder, then DDPM
    return out


def _autoencoder_stages(cfg, ae_spec, image_shape, budget) -> list[StagePlan]:
    """Latent diffusion: the autoencoder's training step and its encoding pass at the image size."""
    # not at the top: see plan() (medfx --help imports this module)
    from ..features.memory import estimate_autoencoder

    out = []
    for stage, mode, batch in (("ae-train", "train", cfg.latent.batch_size),
                               ("ae-encode", "encode", cfg.features.batch_size)):
        est = estimate_autoencoder(ae_spec, image_shape, batch, mode)
        mb = None
        if budget is not None:
            one, two = (estimate_autoencoder(ae_spec, image_shape, b, mode) for b in (1, 2))
            per = max(two.activation_bytes - one.activation_bytes, 1)
            mb = 0 if one.peak_bytes > budget else int(min(4096, (budget - one.peak_bytes + per) // per))
        out.append(StagePlan(stage, batch, est.peak_bytes / GiB, est.activation_bytes / GiB, est.state_bytes / GiB,
                             est.flops / batch / 1e9, mb))
    return out


def format_plan(p: dict) -> str:
    head = f"input {tuple(p['input_shape'])}, {p['params'] / 1e6:.1f}M parameters ({p['precision_note']})"
    if "latent_shape" in p:
        head = (f"input {tuple(p['input_shape'])} -> latent {tuple(p['latent_shape'])}: autoencoder "
                f"{p['autoencoder_params'] / 1e6:.1f}M, diffusion U-Net {p['params'] / 1e6:.1f}M parameters "
                f"({p['precision_note']}); train/extract/sample run on the latent, ae-* on the image")
    lines = [head,
             f"{'stage':<8} {'batch':>5} {'peak GiB':>9} {'activ.':>8} {'state':>7} {'GFLOP/sample':>13} {'max batch':>9}"]
    for s in p["stages"]:
        mb = "-" if s["max_batch"] is None else str(s["max_batch"])
        lines.append(f"{s['stage']:<8} {s['batch']:>5} {s['peak_gib']:>9.2f} {s['activation_gib']:>8.2f} "
                     f"{s['state_gib']:>7.2f} {s['gflops_per_sample']:>13.1f} {mb:>9}")
    if "predicted_autoencoder_gpu_hours" in p:
        lines.append(f"autoencoder training: {p['autoencoder_train_pflops']:.1f} PFLOP -> PREDICTED "
                     f"{p['predicted_autoencoder_gpu_hours']:.1f} GPU-hours")
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
