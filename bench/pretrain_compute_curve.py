"""Feature quality against pretraining compute: the few-label probe at every saved DDPM checkpoint.

For each checkpoint (e.g. ``ckpt-0000250.pt`` .. of one DDPM run) and each head seed: the label-budget subsets of
``medfx.data.budgets`` (``--budget`` labels per class from the training split, the same per-class budget, at least
5, from the validation split; seeded, identical across checkpoints), a probe grid over (block, t) (C on
validation log-loss, best cell on validation AUC), and that cell's TEST metrics (complete test split, never used
for a choice). Features are extracted only for the rows a probe needs (budget train + budget val + test).

    OMP_NUM_THREADS=1 python bench/pretrain_compute_curve.py --ckpts bench/runs/ckpt_copies/pn-s0/ckpt-*.pt \
        --budget 10 --seeds 0 1 2 --out bench/results/pretrain_compute_pn-s0.json
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from medfx.config import GaussianityConfig
from medfx.data import DataConfig, load_splits
from medfx.data.budgets import nested_subsets, validation_subset
from medfx.diffusion.schedule import DiffusionConfig
from medfx.features.extractor import FeatureExtractor
from medfx.features.gaussianity import ks_map, select_blocks
from medfx.models.checkpoint import load_backbone
from medfx.probes import concat_probe, probe_grid
from medfx.utils.dataclass_io import from_dict


def features_in_memory(extractor, x: torch.Tensor, ids, batch_size: int = 64) -> dict:
    """Run ``extractor`` over a tensor in batches, concatenating per key (small data only)."""
    parts: dict = {}
    for i in range(0, x.shape[0], batch_size):
        f = extractor(x[i:i + batch_size], ids[i:i + batch_size])
        for k, v in f.items():
            parts.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpts", nargs="+", required=True)
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--timesteps", type=int, nargs="+", default=[0, 10, 50, 200])
    ap.add_argument("--ks-rows", type=int, default=500, help="unlabelled training images for the KS map")
    ap.add_argument("--data-from", default=None, metavar="CONFIG_YAML",
                    help="take the data settings from this run's config.yaml instead of the checkpoint's (a DDPM "
                         "pretrained on an unlabelled pool records the pool, not the labelled target)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)

    ckpts = sorted(args.ckpts, key=lambda p: int(re.findall(r"\d+", Path(p).stem)[-1]))
    _, ck0 = load_backbone(ckpts[0])
    data = ck0["config"]["data"]
    if args.data_from:
        data = yaml.safe_load(Path(args.data_from).read_text())["data"]
    data_cfg = from_dict(DataConfig, {**data, "max_per_split": None})
    splits = load_splits(data_cfg)
    y = {s: np.asarray(splits[s].labels) for s in ("train", "val", "test")}
    rows = {}
    for seed in args.seeds:
        tr = nested_subsets(y["train"], [args.budget], seed=seed)[args.budget]
        va = validation_subset(y["val"], args.budget, "budget", seed=seed, min_per_class=5)
        rows[seed] = (tr, va)
    ks_idx = np.sort(np.random.default_rng(0).permutation(len(y["train"]))[:args.ks_rows])
    need = {"train": sorted({int(i) for s in args.seeds for i in rows[s][0]} | {int(i) for i in ks_idx}),
            "val": sorted({int(i) for s in args.seeds for i in rows[s][1]}),
            "test": list(range(len(y["test"])))}

    results = []
    out = Path(args.out)
    for ck_path in ckpts:
        t0 = time.perf_counter()
        model, ck = load_backbone(ck_path)
        diffusion = from_dict(DiffusionConfig, ck["config"]["diffusion"])
        ext = FeatureExtractor(model, diffusion, timesteps=args.timesteps, pool="gap", seed=0)
        feats = {}
        for s, idx in need.items():
            x = torch.stack([splits[s][i][0] for i in idx])
            ids = [splits[s].ids[i] for i in idx]
            with torch.inference_mode():
                f = features_in_memory(ext, x, ids, batch_size=64)
            feats[s] = {k: v.float().numpy() for k, v in f.items()}
        t_extract = time.perf_counter() - t0
        pos = {s: {i: j for j, i in enumerate(idx)} for s, idx in need.items()}
        gc = GaussianityConfig()
        ks_rows = [pos["train"][int(i)] for i in ks_idx]
        ks = ks_map({k: v[ks_rows] for k, v in feats["train"].items()}, alpha=gc.alpha, max_dims=gc.max_dims,
                    aggregate=gc.aggregate, seed=0)
        ks_keys = select_blocks(ks, alpha=gc.alpha, top_k=gc.top_k)
        per_seed = []
        for seed in args.seeds:
            tr, va = rows[seed]
            sel = {"train": [pos["train"][int(i)] for i in tr], "val": [pos["val"][int(i)] for i in va],
                   "test": need["test"]}
            X = {k: np.concatenate([feats[s][k][sel[s]] for s in ("train", "val", "test")]) for k in feats["train"]}
            lab = np.concatenate([y["train"][tr], y["val"][va], y["test"]])
            split = np.array(["train"] * len(tr) + ["val"] * len(va) + ["test"] * len(y["test"]))
            grid = probe_grid(X, lab, split, mode="holdout", seed=0, progress=False)
            b, t = grid.best()
            row = grid.row(b, t)
            kr = concat_probe(X, ks_keys, lab, split, mode="holdout", seed=0)
            per_seed.append({"seed": seed, "cell": [b, t], "val_auc": row["val_auc"], "test_auc": row["auc_mean"],
                             "test_f1": row["f1_mean"], "test_bacc": row["bacc_mean"],
                             "ks_keys": [[str(b_), int(t_)] for b_, t_ in ks_keys], "ks_test_auc": kr["auc_mean"],
                             "ks_test_f1": kr["f1_mean"], "ks_test_bacc": kr["bacc_mean"],
                             "best_test_cell_auc": float(np.nanmax(grid.matrix("auc")))})
        step = int(ck["step"])
        res = {"checkpoint": str(ck_path), "step": step, "loss_info": ck.get("extra", {}).get("loss"),
               "budget_per_class": args.budget, "seeds": per_seed,
               **{f"{m}_mean": float(np.mean([p[m] for p in per_seed])) for m in ("test_auc", "test_f1", "test_bacc", "ks_test_auc", "ks_test_f1",
                                                                      "ks_test_bacc")},
               **{f"{m}_sd": float(np.std([p[m] for p in per_seed], ddof=1)) if len(per_seed) > 1 else 0.0
                  for m in ("test_auc", "test_f1", "test_bacc", "ks_test_auc", "ks_test_f1", "ks_test_bacc")},
               "pool": ck["config"]["data"].get("max_per_split"), "data": str(data_cfg.path),
               "extract_s": round(t_extract, 1), "total_s": round(time.perf_counter() - t0, 1)}
        results.append(res)
        print(f"step {step}: test AUC {res['test_auc_mean']:.3f} +- {res['test_auc_sd']:.3f}, "
              f"F1 {res['test_f1_mean']:.3f}; KS-keys probe AUC {res['ks_test_auc_mean']:.3f} +- "
              f"{res['ks_test_auc_sd']:.3f}, F1 {res['ks_test_f1_mean']:.3f}; cells {[p['cell'] for p in per_seed]} ({res['total_s']} s)", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"budget_per_class": args.budget, "timesteps": args.timesteps,
                                   "rows_extracted": {s: len(v) for s, v in need.items()}, "curve": results},
                                  indent=1, default=float))


if __name__ == "__main__":
    main()
