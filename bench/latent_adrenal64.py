"""Issue 16: latent diffusion vs pixel-space diffusion on AdrenalMNIST3D 64^3 at the same training wall clock.

Latent path: AutoencoderKL (64^3 -> 3 x 16^3) trained for ``--ae-steps``, then the DDPM trainer on the scaled
latents for ``--ldm-steps``; its wall time W (autoencoder + encoding + DDPM) is the budget. Pixel path: the same
U-Net on the 64^3 volumes, trained in chunks of ``--chunk`` steps (resumed run) until W is used up. Then, for
each, a feature bank (all blocks x ``--timesteps``, gap pooling, bf16) and the holdout probe grid (C on val, best
cell on val AUC, test reported). Every stage runs in its own process so that its peak RSS is its own.

    OMP_NUM_THREADS=1 python bench/latent_adrenal64.py --out bench/results/latent_adrenal64.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = "../shared/data/adrenalmnist3d/adrenalmnist3d_64.npz"
UNET = ["model.unet.spatial_dims=3", "model.unet.channels=[8,16,32,32]",
        "model.unet.attention_levels=[false,false,false,true]", "model.unet.num_head_channels=[32]",
        "model.unet.norm_num_groups=8"]


def overrides(args, name: str, latent: bool) -> list[str]:
    o = [f"data.path={args.data}", f"data.max_per_split={args.max_per_split}", "data.intensity_range=[-1,1]",
         f"run.out_dir={args.runs}", f"run.name={name}", "run.threads=1", "run.seed=0", *UNET,
         "diffusion.num_train_timesteps=1000", "train.batch_size=4", "train.lr=5e-4", "train.precision=bf16",
         "train.log_every=5", "train.num_samples=2", "train.sample_steps=10", "train.keep_ckpts=1",
         f"features.timesteps={json.dumps(args.timesteps)}", "features.pool=gap", "features.batch_size=4",
         "features.precision=bf16", "probe.mode=holdout"]
    if latent:
        o += ["latent.enabled=true", "latent.channels=[8,16,16]", "latent.attention_levels=[false,false,false]",
              "latent.norm_num_groups=8", "latent.latent_channels=3", f"latent.steps={args.ae_steps}",
              "latent.batch_size=4", "latent.lr=1e-3", "latent.precision=bf16", "latent.log_every=5",
              f"train.steps={args.ldm_steps}", f"train.ckpt_every={args.ldm_steps}"]
    else:
        o += ["train.steps=100000", f"train.ckpt_every={args.chunk}"]
    return o


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_train(args, latent: bool) -> dict:
    from medfx.config import load_config
    from medfx.workflows.train import pretrain

    name = "latent" if latent else "pixel"
    cfg = load_config(overrides=overrides(args, name, latent))
    t0 = time.perf_counter()
    if latent:
        res = pretrain(cfg)
        steps = res.step
    else:
        steps = 0
        while time.perf_counter() - t0 < args.budget_s:
            res = pretrain(cfg, stop_after=args.chunk)
            steps = res.step
    out = {"wall_s": time.perf_counter() - t0, "steps": steps, "peak_rss_mib": peak_rss_mib(),
           "checkpoint": str(Path(args.runs) / name / "last.pt")}
    if latent:
        import torch

        ae = torch.load(Path(args.runs) / name / "autoencoder" / "autoencoder.pt", weights_only=True)
        out["autoencoder"] = {"seconds": ae["metrics"]["train_seconds"], "params": ae["metrics"]["params"],
                              "val_l1": ae["metrics"].get("val_l1"), "scale_factor": ae["scale_factor"],
                              "history": ae["metrics"]["history"]}
        done = json.loads((Path(args.runs) / name / "done.json").read_text())
        out["ddpm_seconds"] = done["wall_time_s_last_session"]
        out["ddpm_params"] = done["parameters"]
    return out


def stage_probe(args, latent: bool) -> dict:
    from medfx.config import load_config
    from medfx.workflows.features import build_bank, run_probe

    name = "latent" if latent else "pixel"
    cfg = load_config(overrides=overrides(args, name, latent))
    ckpt = Path(args.runs) / name / "last.pt"
    t0 = time.perf_counter()
    bank = build_bank(cfg, ckpt, Path(args.runs) / name / "features", progress=False)
    t_extract = time.perf_counter() - t0
    result = run_probe(cfg, bank, Path(args.runs) / name / "probe", progress=False)
    best = result.best()
    row = result.row(*best)
    grid = {f"{r['block']}@{r['t']}": r["auc_mean"] for r in result.table}
    return {"extract_s": t_extract, "probe_s": time.perf_counter() - t0 - t_extract, "rows": len(bank.labels),
            "best": list(best), "best_val_auc": row["val_auc"], "best_test_auc": row["auc_mean"],
            "best_test_bacc": row["bacc_mean"], "max_test_auc_any_cell": max(v for v in grid.values() if v is not None),
            "test_auc_grid": grid, "peak_rss_mib": peak_rss_mib()}


def run_stage(args, stage: str, which: str, extra=()) -> dict:
    out = Path(args.runs) / f"{stage}-{which}.json"
    cmd = [sys.executable, __file__, "--stage", stage, "--which", which, "--stage-out", str(out),
           *sys.argv[1:], *extra]
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--max-per-split", type=int, default=100)
    ap.add_argument("--ae-steps", type=int, default=30)
    ap.add_argument("--ldm-steps", type=int, default=300)
    ap.add_argument("--chunk", type=int, default=3)
    ap.add_argument("--timesteps", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--runs", default="bench/runs/latent64")
    ap.add_argument("--out", default="bench/results/latent_adrenal64.json")
    ap.add_argument("--stage", choices=["train", "probe"])
    ap.add_argument("--which", choices=["latent", "pixel"])
    ap.add_argument("--stage-out")
    ap.add_argument("--budget-s", type=float, default=0.0)
    args = ap.parse_args()
    if args.stage:
        import torch

        torch.set_num_threads(1)
        fn = stage_train if args.stage == "train" else stage_probe
        Path(args.stage_out).write_text(json.dumps(fn(args, args.which == "latent"), indent=1))
        return
    t0 = time.time()
    res = {"command": " ".join(["python", *sys.argv]), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "args": {k: v for k, v in vars(args).items() if not k.startswith("stage")}}
    from medfx.utils.hardware import cpu_flags, cpu_model

    res["machine"] = {"cpu": cpu_model(), "flags": sorted(f for f in cpu_flags() if "bf16" in f or "amx" in f),
                      "note": "shared 2-vCPU machine (7 engineers + background jobs): wall times inflated"}
    res["latent_train"] = run_stage(args, "train", "latent")
    budget = res["latent_train"]["wall_s"]
    res["pixel_train"] = run_stage(args, "train", "pixel", ["--budget-s", str(budget)])
    res["latent_probe"] = run_stage(args, "probe", "latent")
    res["pixel_probe"] = run_stage(args, "probe", "pixel")
    res["total_s"] = time.time() - t0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    for k in ("latent", "pixel"):
        tr, pr = res[f"{k}_train"], res[f"{k}_probe"]
        print(f"{k:6s} train {tr['wall_s']:.0f}s ({tr['steps']} DDPM steps, peak {tr['peak_rss_mib']:.0f} MiB); "
              f"extract {pr['extract_s']:.0f}s (peak {pr['peak_rss_mib']:.0f} MiB); best {pr['best']} val AUC "
              f"{pr['best_val_auc']:.3f} test AUC {pr['best_test_auc']:.3f}")


if __name__ == "__main__":
    main()
