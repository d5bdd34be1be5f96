"""End to end on brain_tumor_mri_4class: the same small CNN trained on the dataset's own (leaky) split and on the
`medfx data check --dedup` manifest; the leaky model is also scored on its leaked and clean test images.

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/data_check_e2e.py ../shared/data/brain_tumor_mri_4class \
        bench/data/brain4_dedup.csv --out bench/results/data_check/e2e_small_cnn.json

Uses the medfx harness (`fit_classifier`, early stopping on validation AUC, `heads.*` defaults of the config),
32x32 inputs and a few epochs to stay within a shared-CPU budget.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from medfx.config import load_config
from medfx.data import load_splits
from medfx.data.check import check_data
from medfx.heads import ClassifierData, evaluate, fit_classifier
from medfx.models.baselines import build_baseline
from medfx.workflows.pipeline import head_train_config

METRICS = ("acc", "bacc", "f1", "auc")


def tensors(ds, keep=None):
    idx = [i for i in range(len(ds)) if keep is None or ds.ids[i] in keep]
    x = torch.stack([ds[i][0] for i in idx])
    return ClassifierData(torch.as_tensor(np.asarray(ds.labels)[idx]), None, x)


def train_eval(path: str, epochs: int, size: int, subsets: dict | None = None) -> dict:
    cfg = load_config(None, [f"data.path={path}", f"data.size=[{size},{size}]", f"heads.baseline_epochs={epochs}"])
    splits = load_splits(cfg.data)
    data = {s: tensors(ds) for s, ds in splits.items()}
    torch.manual_seed(0)
    model = build_baseline("small_cnn", 2, len(splits["train"].class_names))
    t = time.perf_counter()
    fit = fit_classifier(model, data["train"], data["val"], head_train_config(cfg, 0, baseline=True))
    out = {"n": {s: len(ds) for s, ds in splits.items()}, "best_epoch": fit.best_epoch,
           "train_s": time.perf_counter() - t,
           "test": {m: float(evaluate(fit.model, data["test"])[m]) for m in METRICS}}
    for name, ids in (subsets or {}).items():
        sub = tensors(splits["test"], ids)
        out[f"test_{name}"] = {"n": len(sub.labels), **{m: float(evaluate(fit.model, sub)[m]) for m in METRICS}}
    print(path, json.dumps(out), flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("manifest")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    a = p.parse_args(argv)
    res = check_data(a.folder, cache_dir=a.out.parent / "cache")
    leaked = set(res.leaked_ids.get("test", []))
    clean = {res.items.ids[i] for i in range(len(res.items.ids)) if res.items.splits[i] == "test"} - leaked
    out = {"leaky_split": train_eval(a.folder, a.epochs, a.size, {"leaked": leaked, "clean": clean}),
           "dedup_manifest": train_eval(a.manifest, a.epochs, a.size)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
