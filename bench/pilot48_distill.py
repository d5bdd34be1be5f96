"""Forty-eighth session's training-data-only pilot (BENCHMARKS "Issue 13: forty-eighth session"): does
**distillation over the unlabelled pool** help the late fusion at 5 labels per class? A student small CNN (the
23K-parameter ``small_cnn``) is trained on the unlabelled training images with the teacher's class probabilities as
soft targets (plus the labelled images with their one-hot labels), so the diffusion features' knowledge reaches an
image model through the images the labels do not cover.

The hidden training rows of a (budget, head seed) (every training row of the run's bank outside the labelled subset)
are split in two halves by a seeded permutation: the POOL (the student trains on these images, never on their
labels) and the SCORE half (nothing trains on them; the pilot scores on their hidden labels). Never reads a test
label. Epochs are chosen on the budgeted validation subset with the harness's settings, as for every trained cell.

  topk           the run's top-5 probe ensemble (linear_topk; its probes refitted here on the labelled rows)
  small_cnn      the small CNN on the labelled rows (the harness's settings)
  fused          (topk + small_cnn) / 2: the late fusion whose 5-label result is "not established"
  st_topk        the student trained on topk's probabilities over the pool
  st_fused       the student trained on fused's probabilities over the pool
  fuse_st        (topk + st_topk) / 2
  fuse3          (topk + small_cnn + st_fused) / 3

Pilot rule (declared in BENCHMARKS before this ran): a variant is taken to a pre-registered test-split run only if,
at 5 labels per class, head seeds 42-47, on both PneumoniaMNIST (le-pn-s9-d46, le-pn-s10-d46) and brain MRI
(le-b64-s9-d47, le-b64-s10-d47), its mean score-half AUC is >= fused's + 0.01 and its mean macro-F1 >= fused's
- 0.01 (argmax decisions for every method).

    cd bench/.. && PYTHONPATH=.:bench OMP_NUM_THREADS=1 python -P bench/pilot48_distill.py bench/runs/le-pn-s9-d46 5 42,43,44,45,46,47
"""

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from pilot_data import FineTuneRun, topk_proba

from medfx.heads.trainer import ClassifierData, model_logits
from medfx.metrics.classification import classification_metrics
from medfx.workflows.label_budgets import _scaled_train_config
from medfx.workflows.pipeline import build_method, fit_and_score


def split_hidden(hid, s):
    """The POOL and SCORE halves of the hidden training rows (a permutation seeded with 1000 + head seed)."""
    perm = np.random.default_rng(1000 + s).permutation(hid)
    return np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:])


def small_cnn(run, lab, val, rows, s):
    """The small CNN on the labelled rows with the harness's settings: its probabilities on ``rows`` and fit."""
    tcfg = _scaled_train_config(run.cfg, s, "small_cnn", len(lab), run.axis)
    torch.manual_seed(s)
    cnn = build_method("small_cnn", run.cfg, {}, run.images.ndim - 2, run.k)
    res = fit_and_score(cnn, run.data(lab), run.data(val), run.data(rows), tcfg)
    return res["proba"]["test"], res["fit"]


def student(run, lab, pool, soft_pool, val, score_rows, s):
    """The small CNN trained on the labelled rows (one-hot) and the pool (soft targets): the training data's
    ``labels`` are row numbers into the target table, which the loss looks up."""
    y, k = run.y, run.k
    rows = np.concatenate([lab, pool])
    targets = torch.from_numpy(np.concatenate([np.eye(k)[y[lab]], soft_pool]).astype(np.float32))

    def soft_ce(model, batch, generator=None):
        logp = F.log_softmax(model_logits(model, batch).float(), dim=1)
        ce = -(targets[batch.labels] * logp).sum(1).mean()
        return {"total": ce, "ce": ce}

    tr = ClassifierData(torch.arange(len(rows)), images=run.images[torch.from_numpy(rows)])
    tcfg = _scaled_train_config(run.cfg, s, "small_cnn", len(rows), run.axis)
    torch.manual_seed(s)
    model = build_method("small_cnn", run.cfg, {}, run.images.ndim - 2, k)
    res = fit_and_score(model, tr, run.data(val), run.data(score_rows), tcfg, loss_fn=soft_ce)
    return res["proba"]["test"], res["fit"]


def pilot_cells(argv):
    """Both pilots' loop (argv: RUN BUDGETS SEEDS): prints the header, then yields per (budget, head seed) the run
    and the labelled, validation, POOL and SCORE rows."""
    torch.set_num_threads(1)
    run = FineTuneRun(argv[0], ddpm=False)  # the images, not the backbone
    print("budget\tseed\tmethod\tscore AUC\tscore macro-F1\tn pool\tn score\tepochs\twall s", flush=True)
    for b in [int(x) for x in argv[1].split(",")]:
        for s in [int(x) for x in argv[2].split(",")]:
            lab, hid = run.rows(b, s)
            yield run, b, s, lab, run.val_rows(b, s), *split_hidden(hid, s)


def print_cell(run, b, s, name, p, pool, score_rows, ep="-", w=0.0):
    """One output row: the SCORE half's AUC and macro-F1 of the probabilities ``p`` (argmax decisions)."""
    m = classification_metrics(run.y[score_rows], p, num_classes=run.k)
    print(f"{b}\t{s}\t{name}\t{m['auc']:.4f}\t{m['f1']:.4f}\t{len(pool)}\t{len(score_rows)}\t{ep}\t{w:.0f}", flush=True)


def main(argv):
    for run, b, s, lab, val, pool, score_rows in pilot_cells(argv):
        P, info = {}, {}
        t0 = time.perf_counter()
        P["topk"] = topk_proba(run, lab, score_rows, b, s)
        info["topk"] = ("-", time.perf_counter() - t0)
        t0 = time.perf_counter()
        p, fit = small_cnn(run, lab, val, np.concatenate([score_rows, pool]), s)
        P["small_cnn"], cnn_pool = p[: len(score_rows)], p[len(score_rows):]
        info["small_cnn"] = (f"{fit.best_epoch}/{len(fit.history)}", time.perf_counter() - t0)
        P["fused"] = (P["topk"] + P["small_cnn"]) / 2
        info["fused"] = ("-", 0.0)
        teach_topk = topk_proba(run, lab, pool, b, s)
        for name, soft in (("st_topk", teach_topk), ("st_fused", (teach_topk + cnn_pool) / 2)):
            t0 = time.perf_counter()
            P[name], fit = student(run, lab, pool, soft, val, score_rows, s)
            info[name] = (f"{fit.best_epoch}/{len(fit.history)}", time.perf_counter() - t0)
        P["fuse_st"] = (P["topk"] + P["st_topk"]) / 2
        P["fuse3"] = (P["topk"] + P["small_cnn"] + P["st_fused"]) / 3
        for name in ("topk", "small_cnn", "fused", "st_topk", "st_fused", "fuse_st", "fuse3"):
            print_cell(run, b, s, name, P[name], pool, score_rows, *info.get(name, ("-", 0.0)))


if __name__ == "__main__":
    main(sys.argv[1:])
