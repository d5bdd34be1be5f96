"""Bank extraction as the pipeline runs it, against a plain forward-only loop; and its peak memory vs data size.

``throughput``: the demo's U-Net (``preset=demo``, random weights, eval, fp32) on ``--n`` PneumoniaMNIST-shaped
images (28^2, random), ``--timesteps``. Variant A is ``extract_banks`` exactly as ``medfx run`` calls it (every
block, pooled ``gap`` bank + ``grid`` 4^2 bank of every key from the same passes: data loader, seeded noise,
noising, forward, pooling, memory-mapped writes); variant B is the bare loop over the same batches,
``for x in batches: for t in timesteps: net(x_t, t)`` (noise drawn once per batch with ``torch.randn``). Both run
back to back in one process, alternating, ``--repeats`` rounds; reported: samples/s of each and the ratio A/B
(goal >= 0.8).

``twopass``: the pipeline's extraction before and after one pass per (image, t), back to back in one process
(alternating, ``--repeats`` rounds): A = the former order, the pooled ``gap`` bank of every key, then a second
extraction of the grid bank of the keys the heads read (the demo run's 4 blocks x 3 timesteps: ``down.1``,
``mid``, ``up.0``, ``up.1`` x 0, 10, 50); B = ``extract_banks`` writing the gap bank and the grid maps of every
key from one set of passes. Wall and CPU seconds (``time.process_time``) of each.

``rss``: the same extraction (one timestep) in a fresh subprocess for ``--n`` and ``4 x --n`` images; each child
reports its own peak RSS (``resource.getrusage``). The bank streams to disk, so the peak should not grow.

    python bench/extraction_bank.py throughput --n 512 --out bench/results/extraction_bank_throughput.json
    python bench/extraction_bank.py twopass --n 256 --out bench/results/extraction_bank_twopass.json
    python bench/extraction_bank.py rss --n 1000 --out bench/results/extraction_bank_rss.json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


class _Split(torch.utils.data.Dataset):
    def __init__(self, x, prefix):
        self.x, self.labels = x, np.arange(len(x)) % 2
        self.ids, self.class_names = [f"{prefix}/{i}" for i in range(len(x))], ["0", "1"]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.labels[i]), self.ids[i]


def _setup(n: int, seed: int = 0):
    from medfx.config import load_config
    from medfx.models import build_backbone, resolve_backbone_spec

    cfg = load_config(None, ["preset=demo"])
    torch.manual_seed(seed)
    model = build_backbone(resolve_backbone_spec(cfg.model, (1, 28, 28), None)).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * 2 - 1
    a, b = int(n * 0.64), int(n * 0.81)
    splits = {"train": _Split(x[:a], "train"), "val": _Split(x[a:b], "val"), "test": _Split(x[b:], "test")}
    return cfg, model, splits


def _extract(cfg, model, splits, timesteps, out: Path, batch: int) -> float:
    from medfx.features.bank import extract_banks
    from medfx.features.extractor import FeatureExtractor

    ext = FeatureExtractor(model, cfg.diffusion, blocks=None, timesteps=list(timesteps), pool="gap", seed=0)
    t0 = time.perf_counter()
    extract_banks(model, ext, splits, [(out / "features", "gap", 2)], {"bench": time.time_ns()},
                  batch_size=batch, progress=False, ride_along=[(out / "features_grid", "grid", 4)])
    return time.perf_counter() - t0


@torch.inference_mode()
def _plain(cfg, model, splits, timesteps, batch: int) -> float:
    from medfx.diffusion.schedule import make_scheduler

    sched = make_scheduler(cfg.diffusion)
    net = model.net
    t0 = time.perf_counter()
    for s in ("train", "val", "test"):
        x_all = splits[s].x
        for i in range(0, len(x_all), batch):
            x = x_all[i:i + batch]
            eps = torch.randn_like(x)
            for t in timesteps:
                tt = torch.full((x.shape[0],), t, dtype=torch.long)
                net(sched.add_noise(x, eps, tt), tt)
    return time.perf_counter() - t0


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def twopass(args) -> dict:
    from medfx.features.bank import extract_bank, extract_banks
    from medfx.features.extractor import FeatureExtractor

    cfg, model, splits = _setup(args.n)
    ts = list(args.timesteps)
    ext = FeatureExtractor(model, cfg.diffusion, blocks=None, timesteps=ts, pool="gap", seed=0)
    heads = FeatureExtractor(model, cfg.diffusion, blocks=["down.1", "mid", "up.0", "up.1"],
                             timesteps=[t for t in (0, 10, 50) if t in ts] or ts[:1], pool="grid", grid=4, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            pair = {}
            for name in (("two", "one") if r % 2 == 0 else ("one", "two")):
                d = Path(tmp) / f"{name}{r}"
                if name == "two":
                    pair[name] = _timed(lambda d=d, r=r: (
                        extract_bank(model, ext, splits, d / "features", {"r": r}, args.batch, progress=False),
                        extract_bank(model, heads, splits, d / "features_grid", {"r": r}, args.batch,
                                     progress=False)))
                else:
                    pair[name] = _timed(lambda d=d, r=r: extract_banks(
                        model, ext, splits, [(d / "features", "gap", 2)], {"r": r}, args.batch, progress=False,
                        ride_along=[(d / "features_grid", "grid", 4)]))
            rows.append({"two_pass_wall_s": pair["two"][0], "two_pass_cpu_s": pair["two"][1],
                         "one_pass_wall_s": pair["one"][0], "one_pass_cpu_s": pair["one"][1],
                         "cpu_ratio_one_over_two": pair["one"][1] / pair["two"][1]})
            print(json.dumps(rows[-1]), flush=True)
    return {"n": args.n, "timesteps": ts, "batch": args.batch, "rounds": rows,
            "median_cpu_ratio": statistics.median(r["cpu_ratio_one_over_two"] for r in rows)}


def throughput(args) -> dict:
    cfg, model, splits = _setup(args.n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            pair = {}
            for name in (("bank", "plain") if r % 2 == 0 else ("plain", "bank")):
                if name == "bank":
                    pair[name] = _timed(lambda r=r: _extract(cfg, model, splits, args.timesteps, Path(tmp) / f"r{r}",
                                                         args.batch))
                else:
                    pair[name] = _timed(lambda: _plain(cfg, model, splits, args.timesteps, args.batch))
            rows.append({"bank_samples_per_s": args.n / pair["bank"][0],
                         "plain_samples_per_s": args.n / pair["plain"][0],
                         "ratio": pair["plain"][0] / pair["bank"][0],
                         "ratio_cpu_time": pair["plain"][1] / pair["bank"][1]})
            print(json.dumps(rows[-1]), flush=True)
    return {"n": args.n, "timesteps": args.timesteps, "batch": args.batch, "rounds": rows,
            "median_ratio": statistics.median(r["ratio"] for r in rows),
            "median_ratio_cpu_time": statistics.median(r["ratio_cpu_time"] for r in rows)}


def rss_child(args) -> None:
    cfg, model, splits = _setup(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        seconds = _extract(cfg, model, splits, args.timesteps, Path(tmp), args.batch)
    print(json.dumps({"n": args.n, "seconds": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def rss(args) -> dict:
    out = []
    for n in (args.n, 4 * args.n):
        cmd = [sys.executable, __file__, "rss-child", "--n", str(n), "--batch", str(args.batch), "--timesteps",
               *[str(t) for t in args.timesteps]]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(out[-1]), flush=True)
    return {"runs": out, "growth_mb": out[1]["peak_rss_mb"] - out[0]["peak_rss_mb"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["throughput", "twopass", "rss", "rss-child"])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--timesteps", type=int, nargs="+", default=None)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.timesteps is None:
        args.timesteps = [0] if args.mode.startswith("rss") else [0, 10, 50, 200]
    if args.mode == "rss-child":
        return rss_child(args)
    result = {"throughput": throughput, "twopass": twopass, "rss": rss}[args.mode](args)
    result.update({"torch": torch.__version__, "threads": torch.get_num_threads(),
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
