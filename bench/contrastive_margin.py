"""Why the contrastive distance must be normalised: block-feature distances of real image pairs.

D-Cube's contrastive term is ``(1 - y) d + y max(0, 0.1 - d)`` with ``d`` the squared L2 distance summed over a
whole block's features (``sum_sq``; 256 x 512 = 131k values for its 128^2 U-ViT mid block). This script draws
same- and different-class pairs from PneumoniaMNIST, noises both images of a pair at the same random t with the
same noise (as in training), and measures the ``mid``-block distance under ``sum_sq``, ``mean_sq`` and
``unit_sq`` (the medfx default, in [0, 4]). It reports quantiles and the fraction of different-class pairs for
which the hinge acts (``d < margin``): D-Cube's margin 0.1 for the raw distances, the medfx default 1.0 for
``unit_sq``.

Models: the ``cpu-28`` U-Net (class-conditional, 28^2) at random init and after a short eps-MSE run, and the
D-Cube-scale U-ViT (``dcube-128``: patch 8, width 512, 13 blocks; 44M parameters) at random init on the same
images upsampled to 128^2.

    python bench/contrastive_margin.py --out bench/results/contrastive_margin.json
    python bench/contrastive_margin.py --train-steps 0 --uvit-pairs 0   # random-init U-Net only, seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from medfx.config import load_config
from medfx.data import DataConfig, load_splits
from medfx.diffusion.losses import DISTANCES, diffusion_loss, feature_distance
from medfx.diffusion.schedule import NoiseProcess
from medfx.models import build_backbone, count_parameters, resolve_backbone_spec
from medfx.models.uvit import UViT, uvit_config
from medfx.train.loop import _pair_indices

DCUBE_MARGIN = 0.1
MARGINS = {"sum_sq": DCUBE_MARGIN, "mean_sq": DCUBE_MARGIN, "unit_sq": 1.0}  # unit_sq: ContrastiveConfig default


def stack_split(ds) -> tuple[torch.Tensor, np.ndarray]:
    xs = [ds[i][0] for i in range(len(ds))]
    return torch.stack(xs), np.asarray(ds.labels)


@torch.no_grad()
def pair_distances(model, scheduler, x, labels, n_pairs, block, seed, device, chunk) -> dict:
    """Distances of ``n_pairs`` pairs (half same-class), both images at one random t with one noise draw."""
    gen = torch.Generator().manual_seed(seed)
    anchors = torch.randint(len(x), (n_pairs,), generator=gen).tolist()
    partners, different = _pair_indices(labels, anchors, 0.5, gen)
    t = torch.randint(0, scheduler.num_train_timesteps, (n_pairs,), generator=gen)
    noise = torch.randn((n_pairs, *x.shape[1:]), generator=gen)
    y1, y2 = torch.as_tensor(labels[anchors]), torch.as_tensor(labels[partners])
    model.eval()
    out = {d: [] for d in DISTANCES}
    numel = None
    for s in range(0, n_pairs, chunk):
        sl = slice(s, s + chunk)
        xt = torch.cat([scheduler.add_noise(x[anchors][sl], noise[sl], t[sl]),
                        scheduler.add_noise(x[partners][sl], noise[sl], t[sl])]).to(device)
        tt = torch.cat([t[sl], t[sl]]).to(device)
        yy = torch.cat([y1[sl], y2[sl]]).to(device) if model.num_classes is not None else None
        f = model.forward_blocks(xt, tt, [block], y=yy)[block].float().cpu()
        numel = f[0].numel()
        b = f.shape[0] // 2
        for d in DISTANCES:
            out[d].append(feature_distance(f[:b], f[b:], d))
    return {"d": {k: torch.cat(v).numpy() for k, v in out.items()}, "different": different.numpy(),
            "t": t.numpy(), "numel": numel, "T": scheduler.num_train_timesteps}


def summarise(raw: dict) -> dict:
    diff = raw["different"]
    q = (0.1, 0.5, 0.9)
    res = {"feature_values": raw["numel"], "pairs_same": int((~diff).sum()), "pairs_different": int(diff.sum()),
           "distances": {}}
    quarter = np.minimum(raw["t"] * 4 // raw["T"], 3)
    for name, d in raw["d"].items():
        m = MARGINS[name]
        active = d[diff] < m
        res["distances"][name] = {
            "margin": m,
            "same_q10_q50_q90": [float(v) for v in np.quantile(d[~diff], q)] if (~diff).any() else None,
            "different_q10_q50_q90": [float(v) for v in np.quantile(d[diff], q)] if diff.any() else None,
            "hinge_active_fraction": float(active.mean()) if diff.any() else None,
            # by t quartile [0, T/4), ..., [3T/4, T): the hinge acts mostly where the images are mostly noise
            "hinge_active_fraction_by_t_quartile": [
                float(active[quarter[diff] == k].mean()) if (quarter[diff] == k).any() else None for k in range(4)],
        }
    return res


def train_briefly(model, scheduler, x, labels, steps, batch, lr, seed, device, class_dropout=0.1):
    """A short eps-MSE run (AdamW), so that the features are those of a model that has started to learn."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    k = model.num_classes
    y_all = torch.as_tensor(labels)
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(x), (batch,), generator=gen)
        t = torch.randint(0, scheduler.num_train_timesteps, (batch,), generator=gen)
        noise = torch.randn((batch, *x.shape[1:]), generator=gen)
        y = None
        if k is not None:
            y = torch.where(torch.rand(batch, generator=gen) < class_dropout, torch.full((batch,), k), y_all[idx])
            y = y.to(device)
        loss = diffusion_loss(model, scheduler, x[idx].to(device), t.to(device), noise.to(device), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def fmt_q(q) -> str:
    if q is None:
        return "-"
    return f"{q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}]"


def markdown(results: list[dict]) -> str:
    lines = [("| model | feature values | distance | margin | same-class d: median [q10, q90] | "
              "different-class d: median [q10, q90] | hinge active (different, d < margin) | by t quartile |"),
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name, s in r["distances"].items():
            by_t = " / ".join("-" if v is None else f"{100 * v:.0f}%"
                              for v in s["hinge_active_fraction_by_t_quartile"])
            act = s["hinge_active_fraction"]
            lines.append(f"| {r['model']} | {r['feature_values']:,} | {name} | {s['margin']:g} | "
                         f"{fmt_q(s['same_q10_q50_q90'])} | {fmt_q(s['different_q10_q50_q90'])} | "
                         f"{'-' if act is None else f'{100 * act:.1f}%'} ({r['pairs_different']} pairs) | {by_t} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=256, help="pairs for the 28^2 U-Net")
    ap.add_argument("--train-steps", type=int, default=100,
                    help="eps-MSE steps before the 'trained' U-Net row (0: skip)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--uvit-pairs", type=int, default=32, help="pairs for the dcube-128 U-ViT (0: skip)")
    ap.add_argument("--max-images", type=int, default=512, help="PneumoniaMNIST training images used (stratified)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t_start = time.perf_counter()
    results = []

    # the cpu-28 U-Net, class-conditional as in contrastive training
    cfg = load_config(None, ["preset=cpu-28", "model.conditional=true", f"data.max_per_split={args.max_images}"])
    ds = load_splits(cfg.data)["train"]
    x, labels = stack_split(ds)
    spec = resolve_backbone_spec(cfg.model, tuple(x.shape[1:]), len(ds.class_names))
    torch.manual_seed(args.seed)
    unet = build_backbone(spec).to(device)
    scheduler = NoiseProcess(cfg.diffusion)
    unet_name = f"cpu-28 U-Net ({count_parameters(unet) / 1e6:.1f}M), 28^2"

    def run(model, name, sched, xs, ys, n, extra):
        t0 = time.perf_counter()
        raw = pair_distances(model, sched, xs, ys, n, "mid", args.seed + 1, device, chunk=64)
        results.append({"model": name, **extra, **summarise(raw), "seconds": time.perf_counter() - t0})

    run(unet, f"{unet_name}, random init", scheduler, x, labels, args.pairs, {"train_steps": 0})
    if args.train_steps:
        t0 = time.perf_counter()
        losses = train_briefly(unet, scheduler, x, labels, args.train_steps, args.batch_size, args.lr, args.seed,
                               device)
        k = max(1, len(losses) // 10)
        run(unet, f"{unet_name}, {args.train_steps} steps", scheduler, x, labels, args.pairs,
            {"train_steps": args.train_steps, "train_seconds": time.perf_counter() - t0,
             "mse_first_last": [float(np.mean(losses[:k])), float(np.mean(losses[-k:]))]})

    # D-Cube's U-ViT at 128^2 (random init): the 256 x 512 mid-block token map
    if args.uvit_pairs:
        ds128 = load_splits(DataConfig(path="builtin:pneumoniamnist", size=(128, 128),
                                       max_per_split=4 * args.uvit_pairs))["train"]
        x128, labels128 = stack_split(ds128)
        torch.manual_seed(args.seed)
        uvit = UViT(uvit_config("dcube-128", num_classes=len(ds128.class_names))).to(device)
        run(uvit, f"dcube-128 U-ViT ({count_parameters(uvit) / 1e6:.0f}M), 128^2, random init", scheduler, x128,
            labels128, args.uvit_pairs, {"train_steps": 0})

    table = markdown(results)
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"date": date.today().isoformat(), "torch": torch.__version__, "machine": platform.processor() or
                platform.machine(), "device": str(device), "threads": args.threads, "args": {
                    k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "margins": MARGINS, "seconds": time.perf_counter() - t_start}
        args.out.write_text(json.dumps({"meta": meta, "results": results, "table_markdown": table}, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
