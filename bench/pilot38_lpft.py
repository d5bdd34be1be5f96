"""Thirty-eighth session's second training-data-only pilot (BENCHMARKS "Issue 13: thirty-eighth session"): does
linear-probe-then-fine-tune (LP-FT: the new linear layer initialised from a logistic regression on the frozen
features, then the whole network fine-tuned) beat plain fine-tuning (``backbone_ft``) and the frozen KS-keys probe?

Same run, cells, best (block, t), harness settings and hidden-label score as bench/pilot38_ft.py:

  lp          the initial model alone: frozen U-Net up to the cell, LayerNorm, and a logistic regression (C = 1,
              scikit-learn) fitted on the labelled images' evaluation-mode features, copied into the linear layer
  lpft1.0     lp, then fine-tuned end to end with heads.ft_lr_scale = 1.0 (what the test-split plan used)
  lpft0.1     the same with the backbone at 0.1 x the learning rate

Never reads a test label.

    cd bench/.. && PYTHONPATH=.:bench python -P bench/pilot38_lpft.py bench/runs/le-pn-s5-d38 10,25 0,1,2
"""

import sys
import time

import numpy as np
import torch
from pilot_data import FineTuneRun, score
from sklearn.linear_model import LogisticRegression

from medfx.heads.finetune import BackboneClassifier
from medfx.heads.trainer import predict_proba
from medfx.workflows.pipeline import fit_and_score

run = FineTuneRun(sys.argv[1])
budgets = [int(b) for b in sys.argv[2].split(",")]
seeds = [int(s) for s in sys.argv[3].split(",")]
y = run.y


@torch.no_grad()
def lp_init(model: BackboneClassifier, rows: np.ndarray) -> None:
    """Copy a logistic regression on the evaluation-mode features of ``rows`` into the model's linear layer (two
    classes: +-w/2, +-b/2, the same softmax)."""
    model.eval()
    x = run.images[torch.from_numpy(rows)]
    xt = model.signal * x + model.sigma * model.eval_noise.expand_as(x)
    f = model.norm(model.pool(xt)).numpy()
    lr = LogisticRegression(C=1.0, max_iter=5000).fit(f, y[rows])
    w, b = torch.tensor(lr.coef_[0], dtype=torch.float32), float(lr.intercept_[0])
    model.fc.weight.copy_(torch.stack([-w / 2, w / 2]))
    model.fc.bias.copy_(torch.tensor([-b / 2, b / 2]))
    model.train()


print("budget\tseed\tmodel\tinput\thidden AUC\thidden macro-F1\tepochs\twall s")
for b in budgets:
    for s in seeds:
        lab, hid = run.rows(b, s)
        val = run.val_rows(b, s)
        key = run.grid(b, s).best()
        inp = f"{key[0]} t={key[1]}"
        for name in ("lp", "lpft1.0", "lpft0.1"):
            tcfg = run.train_config("backbone_ft", b, s)
            torch.manual_seed(s)
            model = run.backbone_ft(key, 1.0 if name == "lp" else float(name[4:]))
            lp_init(model, lab)
            t0 = time.perf_counter()
            if name == "lp":
                p, ep = predict_proba(model, run.data(hid)), "-"
            else:
                res = fit_and_score(model, run.data(lab), run.data(val), run.data(hid), tcfg)
                p, ep = res["proba"]["test"], f"{res['fit'].best_epoch}/{len(res['fit'].history)}"
            auc, f1 = score(y[hid], p)
            print(f"{b}\t{s}\t{name}\t{inp}\t{auc:.4f}\t{f1:.4f}\t{ep}\t{time.perf_counter() - t0:.0f}", flush=True)
