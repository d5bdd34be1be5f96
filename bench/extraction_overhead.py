"""Cost of ``FeatureExtractor`` against plain MONAI ``DiffusionModelUNet`` forward passes (inference, fp32).

Per case (a randomly initialised U-Net preset, eval mode, ``torch.inference_mode``):

1. one timestep, all blocks: ``FeatureExtractor(model, diffusion, blocks=ALL, timesteps=[t], pool="gap")(x, ids)``
   (per-sample seeded noise + noising + forward + pooling) against one ``model.net(x_t, t)``. Goal: ratio <= 1.03.
   Its parts are timed as well: the seeded noise alone (``extractor.noise``, a CPU generator loop) and
   ``model.forward_blocks(x_t, t, ALL)`` alone, so that a missed goal can be attributed.
2. grid: all blocks x T timesteps in one extractor call against T plain forward passes. Goal: ratio <= 1.05.
3. early stopping: ``forward_blocks`` for the encoder + mid blocks (``down.*``, ``mid``) against
   ``forward_intermediates`` (full pass) for the same blocks; reports the saving in %.

Every variant is timed ``--iters`` calls in a row (``time.perf_counter``). Each comparison runs its two variants
back to back, in alternating order, once per round (``--repeats`` rounds), and takes the ratio per pair so that
drifts in machine load cancel; reported are medians over rounds (times per call in ms, paired ratios); the JSON
also has every round and the ratio of the minima. Defaults (3 rounds, 1 call) take about
2-3 minutes for the three cases on 2 CPU cores; raise ``--repeats``/``--iters`` for a quieter estimate.

    python bench/extraction_overhead.py --out bench/results/extraction_overhead.json
    python bench/extraction_overhead.py --cases 2d-28 --repeats 3 --iters 2
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from medfx.config import load_config
from medfx.diffusion.schedule import make_scheduler
from medfx.features.extractor import FeatureExtractor
from medfx.models import build_backbone, count_parameters, resolve_backbone_spec

# case -> (preset, spatial size, batch)
CASES = {
    "2d-28": ("cpu-28", (28, 28), 64),
    "2d-64": ("cpu-64", (64, 64), 16),
    "3d-28": ("cpu-3d-28", (28, 28, 28), 4),
}
GRID_TIMESTEPS = (0, 10, 50, 100, 200, 400)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, iters: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` (mean of ``iters`` consecutive calls)."""
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / iters


def run_case(case: str, t: int, timesteps: tuple[int, ...], repeats: int, iters: int, warmup: int,
             device: torch.device, seed: int = 0) -> dict:
    preset, size, batch = CASES[case]
    cfg = load_config(None, [f"preset={preset}"])
    torch.manual_seed(seed)
    model = build_backbone(resolve_backbone_spec(cfg.model, (1, *size), None)).to(device).eval()
    net = model.net  # the plain MONAI DiffusionModelUNet
    sched = make_scheduler(cfg.diffusion)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, 1, *size), generator=g).to(device)
    ids = list(range(batch))
    all_blocks = model.block_names()
    enc_mid = [b for b in all_blocks if b.startswith("down.") or b == "mid"]

    ext1 = FeatureExtractor(model, cfg.diffusion, blocks=all_blocks, timesteps=[t], pool="gap", seed=seed)
    extT = FeatureExtractor(model, cfg.diffusion, blocks=all_blocks, timesteps=list(timesteps), pool="gap",
                            seed=seed)
    with torch.inference_mode():
        eps = ext1.noise(x, ids, 0)
        tts = {s: torch.full((batch,), s, dtype=torch.long, device=device) for s in (t, *timesteps)}
        xts = {s: sched.add_noise(x, eps, tts[s]) for s in tts}
    xt, tt = xts[t], tts[t]

    # (numerator, denominator) of each comparison; the two run back to back, in alternating order, and the ratio
    # is taken per pair, so that slow drifts in machine load cancel
    pairs = {
        "1t": (lambda: ext1(x, ids), lambda: net(xt, tt)),
        "forward_blocks": (lambda: model.forward_blocks(xt, tt, all_blocks), lambda: net(xt, tt)),
        "grid": (lambda: extT(x, ids), lambda: [net(xts[s], tts[s]) for s in timesteps]),
        "early_stop": (lambda: model.forward_blocks(xt, tt, enc_mid),
                       lambda: model.forward_intermediates(xt, tt, enc_mid)),
    }
    num: dict[str, list[float]] = {k: [] for k in pairs}
    den: dict[str, list[float]] = {k: [] for k in pairs}
    noise: list[float] = []
    with torch.inference_mode():
        for k in ("1t", "forward_blocks", "early_stop"):  # warm-up; the grid runs the same ops as "1t"
            for fn in pairs[k]:
                for _ in range(warmup):
                    fn()
        for r in range(repeats):
            for k, (a, b) in pairs.items():
                if r % 2 == 0:
                    num[k].append(_timed(a, iters, device))
                    den[k].append(_timed(b, iters, device))
                else:
                    den[k].append(_timed(b, iters, device))
                    num[k].append(_timed(a, iters, device))
            noise.append(_timed(lambda: ext1.noise(x, ids, 0), 10 * iters, device))

    def ms(v: list[float]) -> float:
        return round(statistics.median(v) * 1e3, 3)

    comparisons = {}
    for k in pairs:
        ratios = [a / b for a, b in zip(num[k], den[k])]
        comparisons[k] = {
            "num_ms": ms(num[k]), "den_ms": ms(den[k]),
            "ratio": statistics.median(ratios),  # median of the paired ratios
            "ratio_of_min": min(num[k]) / min(den[k]),  # least disturbed runs; robust on a busy machine
            "ratios": [round(q, 4) for q in ratios],
            "num_all_ms": [round(v * 1e3, 3) for v in num[k]], "den_all_ms": [round(v * 1e3, 3) for v in den[k]],
        }
    comparisons["1t"]["what"] = "FeatureExtractor(all blocks, 1 timestep, gap) / model.net(x_t, t)"
    comparisons["forward_blocks"]["what"] = "model.forward_blocks(x_t, t, all blocks) / model.net(x_t, t)"
    comparisons["grid"]["what"] = f"FeatureExtractor(all blocks, {len(timesteps)} timesteps, gap) / " \
                                  f"{len(timesteps)} x model.net(x_t, t)"
    comparisons["early_stop"]["what"] = "model.forward_blocks(down.*, mid) / model.forward_intermediates(same)"
    noise_ms = statistics.median(noise) * 1e3
    return {
        "case": case, "preset": preset, "size": list(size), "batch": batch, "t": t,
        "grid_timesteps": list(timesteps), "blocks": all_blocks, "enc_mid_blocks": enc_mid,
        "params_M": round(count_parameters(model) / 1e6, 3),
        "noise_ms": round(noise_ms, 3),  # FeatureExtractor.noise: per-sample seeded CPU generators (+ transfer)
        "noise_share_of_plain_1t": noise_ms / comparisons["1t"]["den_ms"],
        "early_stop_saving_pct": 100 * (1 - comparisons["early_stop"]["ratio"]),
        "comparisons": comparisons,
    }


def markdown(rows: list[dict]) -> str:
    head = ("| case | batch | plain 1t ms | extract 1t ms | ratio 1t (goal <=1.03) | seeded noise ms (% of plain) "
            "| forward_blocks / plain | plain x{T} ms | extract grid ms | ratio grid (goal <=1.05) "
            "| enc+mid early-stop ms | full pass ms | saving |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        c1, fb, g, e = (r["comparisons"][k] for k in ("1t", "forward_blocks", "grid", "early_stop"))
        lines.append(
            f"| {r['case']} | {r['batch']} | {c1['den_ms']:.1f} | {c1['num_ms']:.1f} | {c1['ratio']:.3f} "
            f"| {r['noise_ms']:.2f} ({100 * r['noise_share_of_plain_1t']:.2f}%) | {fb['ratio']:.3f} "
            f"| {g['den_ms']:.1f} | {g['num_ms']:.1f} | {g['ratio']:.3f} "
            f"| {e['num_ms']:.1f} | {e['den_ms']:.1f} | {r['early_stop_saving_pct']:.1f}% |"
        )
    T = len(rows[0]["grid_timesteps"]) if rows else 0
    return "\n".join(lines).replace("{T}", str(T))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--t", type=int, default=100, help="timestep of the single-timestep comparison")
    p.add_argument("--timesteps", type=int, nargs="+", default=list(GRID_TIMESTEPS), help="timesteps of the grid")
    p.add_argument("--repeats", type=int, default=3, help="alternating rounds; medians are over rounds")
    p.add_argument("--iters", type=int, default=1, help="consecutive calls per variant per round")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per variant before timing")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results = []
    for case in args.cases:
        row = run_case(case, args.t, tuple(args.timesteps), args.repeats, args.iters, args.warmup, device)
        summary = {k: round(c["ratio"], 4) for k, c in row["comparisons"].items()}
        print(f"{case}: paired median ratios {summary}, seeded noise {row['noise_ms']:.2f} ms", flush=True)
        results.append(row)
    print()
    print(markdown(results))
    meta = {"date": date.today().isoformat(),
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
            "device": str(device), "torch": torch.__version__, "precision": "fp32", "pool": "gap",
            "repeats": args.repeats, "iters": args.iters, "warmup": args.warmup}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
