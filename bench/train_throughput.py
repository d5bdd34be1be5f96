"""Training throughput of ``medfx pretrain`` against a bare MONAI ``DiffusionInferer`` loop.

Same model (MONAI DiffusionModelUNet), batch, optimizer (AdamW) and precision; both measured in this process,
alternating (bare, medfx, bare, medfx) so that machine load affects both alike. Steady-state images/s is
taken between step ``warmup`` and the last step (medfx: from its metrics.jsonl timestamps, which exclude the
final checkpoint and sample grid).

    python bench/train_throughput.py --out bench/results/train_throughput.json
    python bench/train_throughput.py --cases 2d-28 --steps 40
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F
from monai.inferers import DiffusionInferer

from medfx.config import load_config
from medfx.data import load_splits
from medfx.diffusion.schedule import make_scheduler
from medfx.models import build_backbone, count_parameters, resolve_backbone_spec
from medfx.train import train_diffusion
from medfx.utils.runtime import autocast

CASES = {
    "2d-28": ["preset=cpu-28", "train.batch_size=64"],
    "2d-64": ["preset=cpu-64", "data.path=builtin:pneumoniamnist", "train.batch_size=16"],
    "3d-28": ["preset=cpu-3d-28", "train.batch_size=4"],
}


def bare_loop(cfg, x_all, steps, warmup, amp):
    spec = resolve_backbone_spec(cfg.model, tuple(x_all.shape[1:]), None)
    torch.manual_seed(0)
    net = build_backbone(spec).net  # the plain MONAI DiffusionModelUNet
    sched = make_scheduler(cfg.diffusion)
    inferer = DiffusionInferer(sched)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.train.lr)
    b = cfg.train.batch_size
    g = torch.Generator().manual_seed(0)
    net.train()
    for step in range(steps):
        if step == warmup:
            t0 = time.perf_counter()
        idx = torch.randint(0, x_all.shape[0], (b,), generator=g)
        x = x_all[idx]
        noise = torch.randn(x.shape, generator=g)
        t = torch.randint(0, cfg.diffusion.num_train_timesteps, (b,), generator=g)
        opt.zero_grad(set_to_none=True)
        with autocast(torch.device("cpu"), amp):
            pred = inferer(inputs=x, diffusion_model=net, noise=noise, timesteps=t)
        loss = F.mse_loss(pred.float(), noise)
        loss.backward()
        opt.step()
    return (steps - warmup) * b / (time.perf_counter() - t0)


def medfx_loop(overrides, steps, warmup, tmp):
    name = f"bench-{time.time_ns()}"
    cfg = load_config(None, overrides + [f"run.out_dir={tmp}", f"run.name={name}", f"train.steps={steps}",
                                         f"train.ckpt_every={steps}", "train.log_every=1", "train.sample_every=0",
                                         "train.num_samples=1", "train.sample_steps=2"])
    train_diffusion(cfg)
    rows = [json.loads(x) for x in (Path(tmp) / name / "metrics.jsonl").read_text().splitlines()]
    a, z = rows[warmup - 1], rows[-1]
    return (z["step"] - a["step"]) * cfg.train.batch_size / (z["time"] - a["time"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    results = []
    for case in args.cases:
        for prec in args.precisions:
            overrides = CASES[case] + [f"train.precision={prec}"]
            cfg = load_config(None, overrides)
            steps = args.steps if case != "3d-28" else max(args.warmup + 5, args.steps // 3)
            train = load_splits(cfg.data)["train"]
            n = min(len(train), 512)
            x_all = torch.stack([train[i][0] for i in range(n)])
            amp = None if prec == "fp32" else torch.bfloat16
            bare, ours = [], []
            with tempfile.TemporaryDirectory() as tmp:
                for _ in range(args.repeats):
                    bare.append(bare_loop(cfg, x_all, steps, args.warmup, amp))
                    ours.append(medfx_loop(overrides, steps, args.warmup, tmp))
            row = {"case": case, "precision": prec, "batch": cfg.train.batch_size, "steps": steps,
                   "params_M": round(count_parameters(build_backbone(resolve_backbone_spec(
                       cfg.model, tuple(x_all.shape[1:]), None))) / 1e6, 3),
                   "bare_img_s": max(bare), "medfx_img_s": max(ours), "ratio": max(ours) / max(bare),
                   "bare_all": bare, "medfx_all": ours}
            print(json.dumps(row))
            results.append(row)
    meta = {"date": date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} torch threads", "torch": torch.__version__}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
