"""Thirty-eighth session's training-data-only pilot (BENCHMARKS "Issue 13: thirty-eighth session"): which backbone
learning rate for ``backbone_ft`` (the DDPM's U-Net fine-tuned end to end), and is it worth a test-split run?

On a PneumoniaMNIST label-budget run's own subsets (labelled rows, budgeted validation rows) and its probe grid's
best (block, t) (chosen on that validation split, as the method does), this trains with the harness's settings of
the budget (``_scaled_train_config``; epoch chosen on the budgeted validation split, as in the harness)

  ft0.1 / ft1.0   backbone_ft with heads.ft_lr_scale = 0.1 / 1.0 (the backbone at 1e-4 / 1e-3)
  resnet18        the ResNet-18 from scratch, same settings as in the harness

and scores every model on the HIDDEN labels of the training-subsample rows outside the budget (next to the run's
KS-keys probe, refitted with its C). Never reads a test label.

    cd bench/.. && PYTHONPATH=.:bench python -P bench/pilot38_ft.py bench/runs/le-pn-s5-d38 10,25 0,1,2
"""

import json
import sys
import time

import torch
from pilot_data import FineTuneRun, score

from medfx.probes.linear import LinearProbe
from medfx.workflows.pipeline import build_method, fit_and_score

run = FineTuneRun(sys.argv[1])
budgets = [int(b) for b in sys.argv[2].split(",")]
seeds = [int(s) for s in sys.argv[3].split(",")]
y = run.y

print("budget\tseed\tmodel\tinput\thidden AUC\thidden macro-F1\tepochs\twall s")
for b in budgets:
    for s in seeds:
        lab, hid = run.rows(b, s)
        val = run.val_rows(b, s)
        groups, Cs = run.probes(b, s)["ks"]
        Z = run.X(groups[0])
        p = LinearProbe(C=float(Cs[0]), random_state=s).fit(Z[lab], y[lab]).predict_proba(Z[hid])
        print(f"{b}\t{s}\tlinear_ks\t{len(groups[0])} keys\t%.4f\t%.4f\t-\t-" % score(y[hid], p), flush=True)
        key = run.grid(b, s).best()
        for name in ("ft0.1", "ft1.0", "resnet18"):
            method = "resnet18" if name == "resnet18" else "backbone_ft"
            tcfg = run.train_config(method, b, s)
            torch.manual_seed(s)
            model = build_method("resnet18", run.cfg, {}, run.images.ndim - 2, run.k) if method == "resnet18" \
                else run.backbone_ft(key, float(name[2:]))
            t0 = time.perf_counter()
            res = fit_and_score(model, run.data(lab), run.data(val), run.data(hid), tcfg)
            auc, f1 = score(y[hid], res["proba"]["test"])
            inp = "image" if method == "resnet18" else f"{key[0]} t={key[1]}"
            print(f"{b}\t{s}\t{name}\t{inp}\t{auc:.4f}\t{f1:.4f}\t{res['fit'].best_epoch}/{len(res['fit'].history)}"
                  f"\t{time.perf_counter() - t0:.0f}", flush=True)
print(json.dumps({"run": str(run.run), "checkpoint": str(run.cfg.pipeline.checkpoint)}))
