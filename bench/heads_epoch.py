"""Seconds per epoch of the demo's classifiers (``preset=demo``): CATS-like head, D-Cube head, ResNet-18 baseline.

Data are random tensors with the demo's shapes (PneumoniaMNIST 28^2, 2000 training / 524 validation samples;
CATS and D-Cube read 3 grid-pooled (block, t) maps of 64 channels at 4^2), so no DDPM or bank is needed. Each
method is trained for ``--epochs`` epochs with the pipeline's harness settings (``head_train_config``), and the
script reports the wall time per epoch (``FitResult.wall_time_s / epochs``, evaluation on validation included)
plus, with ``--profile``, the top functions of a cProfile run. Run it under two checkouts to compare versions:

    PYTHONPATH=/path/to/old python bench/heads_epoch.py --out /tmp/old.json
    PYTHONPATH=.            python bench/heads_epoch.py --out /tmp/new.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def demo_data(n_train=2000, n_val=524, size=(28, 28), keys=(("up.0", 0), ("mid", 10), ("down.2", 50)),
              channels=64, grid=4, seed=0):

    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = (torch.rand(n, generator=g) < 0.7).long()
        feats = {k: torch.randn(n, channels, grid, grid, generator=g) + y.view(-1, 1, 1, 1) * 0.3 for k in keys}
        images = torch.rand(n, 1, *size, generator=g) * 2 - 1 + y.view(-1, 1, 1, 1) * 0.2
        return y, feats, images

    ytr, ftr, itr = make(n_train)
    yva, fva, iva = make(n_val)
    return (ytr, ftr, itr), (yva, fva, iva)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["cats", "dcube", "resnet18"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    import medfx
    from medfx.config import load_config
    from medfx.heads import ClassifierData, fit_classifier

    try:
        from medfx.workflows.pipeline import build_method, head_train_config
    except ImportError:  # checkouts before the workflows/ layout
        from medfx.workflows.pipeline import build_method, head_train_config
    cfg = load_config(None, ["preset=demo", "run.device=cpu"])
    (ytr, ftr, itr), (yva, fva, iva) = demo_data()
    # one-time costs of the process (torch.optim imports torch._dynamo on first use, sklearn.metrics, ...) are
    # not per-epoch costs; the pipeline has paid them before its heads (DDPM training) -- pay them here first
    from medfx.models.baselines import build_baseline

    fit_classifier(build_baseline("small_cnn", 2, 2), ClassifierData(ytr[:8], None, itr[:8]),
                   ClassifierData(yva[:4], None, iva[:4]), head_train_config(cfg, 0, True))
    shapes = {k: tuple(v.shape[1:]) for k, v in ftr.items()}
    out = {"medfx": str(Path(medfx.__file__).parent), "epochs": args.epochs, "threads": torch.get_num_threads(),
           "methods": {}}
    for method in args.methods:
        baseline = method not in ("cats", "dcube")
        feats = method in ("cats", "dcube")
        img = method != "cats"
        tr = ClassifierData(ytr, ftr if feats else None, itr if img else None)
        va = ClassifierData(yva, fva if feats else None, iva if img else None)
        tcfg = head_train_config(cfg, 0, baseline)
        tcfg.epochs, tcfg.patience = args.epochs, 0
        torch.manual_seed(0)
        model = build_method(method, cfg, shapes, 2, 2)
        prof = None
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        fit = fit_classifier(model, tr, va, tcfg)
        wall = time.perf_counter() - t0
        if prof is not None:
            import io
            import pstats

            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(15)
            print(s.getvalue())
        row = {"s_per_epoch": wall / args.epochs, "params": sum(p.numel() for p in model.parameters()),
               "val_auc": fit.val_metrics.get("auc"), "history": fit.history}
        out["methods"][method] = row
        print(json.dumps({"method": method, "s_per_epoch": round(row["s_per_epoch"], 2),
                          "val_auc": row["val_auc"]}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
