"""CNN baselines alone, with the harness, splits, seeds and settings of a `medfx train-head` run.

Used on 2026-11-22 to train the ResNet-18 baselines of the brain and adrenal benchmarks beside their
`bench/heads_cpu_budget.sh` runs (whose pipelines would have reached ResNet-18 last, after the CPU budget).

    python bench/baseline_only.py bench/runs/heads-brain64 --method resnet18 --out bench/results/resnet18_brain64.json
    python bench/baseline_only.py bench/runs/heads-brain64 --method resnet18 --out ... --seeds 1 2   # add seeds
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from medfx.config import config_from_dict
from medfx.data import load_splits
from medfx.heads import ClassifierData, evaluate, fit_classifier
from medfx.models.baselines import build_baseline
from medfx.workflows.pipeline import head_train_config


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("run", type=Path, help="a train-head run directory (its config.yaml is reused)")
    p.add_argument("--method", default="resnet18")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="*", default=None,
                   help="seeds to train (default: the run's heads.seeds); rows already in --out are kept")
    p.add_argument("--epochs", type=int, default=None, help="override heads.baseline_epochs")
    p.add_argument("--select-metric", default=None, help="override heads.select_metric (auc, acc, bacc, f1, loss)")
    a = p.parse_args(argv)
    cfg = config_from_dict(yaml.safe_load((a.run / "config.yaml").read_text()))
    if a.epochs is not None:
        cfg.heads.baseline_epochs = a.epochs
    if a.select_metric is not None:
        cfg.heads.select_metric = a.select_metric
    hc = cfg.heads
    splits = load_splits(cfg.data)
    data = {}
    for s in ("train", "val", "test"):
        ds = splits[s]
        x = torch.stack([ds[i][0] for i in range(len(ds))])
        data[s] = ClassifierData(torch.as_tensor(np.asarray(ds.labels)), None, x)
    k = len(splits["train"].class_names)
    rows = json.loads(a.out.read_text())["seeds"] if a.out.exists() else {}
    for seed in (a.seeds if a.seeds is not None else hc.seeds):
        tcfg = head_train_config(cfg, seed, baseline=True)
        torch.manual_seed(seed)
        model = build_baseline(a.method, data["train"].images.ndim - 2, k)
        t0 = time.perf_counter()
        fit = fit_classifier(model, data["train"], data["val"], tcfg)
        m = evaluate(fit.model, data["test"])
        rows[str(seed)] = {**{x: float(m[x]) for x in ("acc", "bacc", "precision", "recall", "f1", "auc")},
                           "best_epoch": fit.best_epoch, "wall_time_s": time.perf_counter() - t0,
                           "params": fit.num_trainable}
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"method": a.method, "run": str(a.run), "baseline_epochs": hc.baseline_epochs,
                                     "select_metric": hc.select_metric,
                                     "seeds": rows}, indent=2))
        print(seed, rows[str(seed)], flush=True)


if __name__ == "__main__":
    main()
