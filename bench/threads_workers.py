"""Demo training step: torch threads 1 vs 2 and DataLoader workers 0 vs 2 (``medfx pretrain preset=demo``).

Each setting trains the demo U-Net for ``--steps`` steps (fp32, so that the precision choice does not enter) in
this process; settings alternate over ``--repeats`` rounds so machine load hits all alike. Steady-state img/s is
taken from ``metrics.jsonl`` between step ``--warmup`` and the last step.

    PYTHONPATH=. python bench/threads_workers.py --out bench/results/threads_workers.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from medfx.config import load_config
from medfx.train import train_diffusion


def run(threads: int, workers: int, steps: int, warmup: int, tmp: str) -> float:
    torch.set_num_threads(threads)
    name = f"t{threads}w{workers}-{time.time_ns()}"
    cfg = load_config(None, ["preset=demo", "train.precision=fp32", f"train.num_workers={workers}",
                             f"train.steps={steps}", f"train.ckpt_every={steps}", "train.log_every=1",
                             "train.sample_every=0", "train.num_samples=1", "train.sample_steps=2",
                             f"run.out_dir={tmp}", f"run.name={name}", f"run.threads={threads}"])
    train_diffusion(cfg)
    rows = [json.loads(x) for x in (Path(tmp) / name / "metrics.jsonl").read_text().splitlines()]
    a, z = rows[warmup - 1], rows[-1]
    return (z["step"] - a["step"]) * cfg.train.batch_size / (z["time"] - a["time"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=14)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out")
    args = p.parse_args(argv)
    settings = [(1, 0), (2, 0), (1, 2), (2, 2)]
    res = {s: [] for s in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for th, w in settings:
                ips = run(th, w, args.steps, args.warmup, tmp)
                res[(th, w)].append(ips)
                print(json.dumps({"threads": th, "workers": w, "img_s": round(ips, 2)}), flush=True)
    rows = [{"threads": th, "workers": w, "img_s_best": round(max(v), 2), "img_s_all": [round(x, 2) for x in v]}
            for (th, w), v in res.items()]
    print(json.dumps(rows, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                              "results": rows}, indent=2))


if __name__ == "__main__":
    main()
