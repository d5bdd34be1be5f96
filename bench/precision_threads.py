"""fp32 vs bf16 training-step throughput of the CPU presets, at 1 and 2 torch threads, and what ``auto`` picks.

One process; for each (case, threads) the fp32 and bf16 steps alternate (``medfx.utils.hardware.measure``) so
that load from other processes hits both alike. A step is forward + backward of the U-Net under autocast on a
fixed random batch (no optimizer step, identical in both precisions). ``auto`` is decided as in training (its
probe batch: min(batch, 32) in 2D, min(batch, 4) in 3D), with a fresh cache.

    OMP_NUM_THREADS=1 python bench/precision_threads.py --out bench/results/precision_threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from medfx.config import load_config
from medfx.models import build_backbone, count_parameters, resolve_backbone_spec
from medfx.utils import hardware as hw

CASES = {
    "demo-28": (["preset=demo"], (1, 28, 28)),
    "cpu-64": (["preset=cpu-64"], (1, 64, 64)),
    "cpu-3d-28": (["preset=cpu-3d-28", "train.batch_size=4"], (1, 28, 28, 28)),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--out")
    args = p.parse_args(argv)
    os.environ["MEDFX_CACHE_DIR"] = tempfile.mkdtemp()
    rows = []
    for case in args.cases:
        overrides, shape = CASES[case]
        cfg = load_config(None, overrides)
        torch.manual_seed(0)
        model = build_backbone(resolve_backbone_spec(cfg.model, shape, None))
        batch = cfg.train.batch_size
        for n in args.threads:
            torch.set_num_threads(n)
            ips = hw.measure(hw.backbone_probe(model, shape, batch, train=True), ("fp32", "bf16"),
                             seconds=args.seconds, min_steps=3)
            probe_batch = min(batch, 32 if len(shape) == 3 else 4)
            d = hw.decide_precision("auto", "cpu", hw.backbone_probe(model, shape, probe_batch, train=True))
            row = {"case": case, "threads": n, "batch": batch, "params_M": round(count_parameters(model) / 1e6, 2),
                   "fp32_img_s": round(ips["fp32"], 2), "bf16_img_s": round(ips["bf16"], 2),
                   "bf16_over_fp32": round(ips["bf16"] / ips["fp32"], 2), "auto": d.name, "auto_reason": d.reason}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "env": hw.environment_report()}
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
