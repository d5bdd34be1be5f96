"""Paper reproduction switches: CATS paper budget from the pipeline config, EMA warm-up as documented, NaN
seeds in summaries, and the ``dcube-paper`` settings."""

import math

import numpy as np
import pytest
import torch

from medfx.config import load_config
from medfx.models import count_parameters
from medfx.probes import ProbeGridResult
from medfx.utils.ema import EMA, effective_decay
from medfx.workflows.pipeline import _summarize, build_method, cats_inputs


def _probe(blocks, ts, auc):
    table = [{"block": b, "t": t, "val_auc": auc(b, t)} for b in blocks for t in ts]
    return ProbeGridResult(list(blocks), list(ts), table)


# -- MRI paper: the 1.7M CATS-like configuration --------------------------------------------------------------
def test_cats_preset_paper_gives_9_inputs_and_the_published_budget():
    cfg = load_config(None, ["heads.cats_preset=paper"])
    blocks = ["down.4", "down.5", "mid", "up.0", "up.1"]
    score = {"down.4": 0.6, "down.5": 0.8, "mid": 0.9, "up.0": 0.85, "up.1": 0.7}
    probe = _probe(blocks, [0, 10, 50, 100, 200], lambda b, t: score[b] - t / 1e4)
    keys = cats_inputs(probe, cfg.heads)
    # top-3 blocks by validation AUC, each at its 3 best timesteps
    assert keys == [(b, t) for b in ("mid", "up.0", "down.5") for t in (0, 10, 50)]
    model = build_method("cats", cfg, {k: (512, 5, 7, 5) for k in keys}, 3, 2)
    assert count_parameters(model) == 1_690_435  # the MRI paper's 1.7M budget (512-channel paper-3d blocks)
    assert model.get_config()["width"] == 184 and model.get_config()["depth"] == 2
    default = load_config(None, [])
    assert len(cats_inputs(probe, default.heads)) == 3  # medfx default: 3 inputs, one per block


def test_cats_preset_paper_rejects_contradicting_width():
    with pytest.raises(ValueError, match="cats_preset=paper fixes"):
        load_config(None, ["heads.cats_preset=paper", "heads.cats_width=64"])
    with pytest.raises(ValueError, match="cats_preset must be"):
        load_config(None, ["heads.cats_preset=big"])


# -- EMA: the documented warm-up -----------------------------------------------------------------------------
def test_ema_effective_decay_matches_docs():
    assert effective_decay(0.999, 250) == pytest.approx(251 / 260)  # ~0.965 in a short head run
    assert 0.96 < effective_decay(0.999, 250) < 0.97 and 0.98 < effective_decay(0.999, 600) < 0.99
    assert effective_decay(0.999, 20_000) == 0.999 and effective_decay(0.999, 5, warmup=False) == 0.999


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_update_follows_effective_decay(warmup):
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, 0.999, warmup=warmup)
    ref = 0.0
    for step in range(30):
        with torch.no_grad():
            net.weight.fill_(float(step + 1))
        ema.update(net, step)
        d = min(0.999, (1 + step) / (10 + step)) if warmup else 0.999
        ref = d * ref + (1 - d) * (step + 1)
    assert ema.module.weight.item() == pytest.approx(ref, rel=1e-5)


def test_heads_ema_warmup_reaches_the_harness():
    from medfx.workflows.pipeline import head_train_config

    cfg = load_config(None, ["heads.ema_warmup=false"])
    assert head_train_config(cfg, 0, False).ema_warmup is False
    assert head_train_config(load_config(None, []), 0, True).ema_warmup is True


# -- one NaN behaviour ---------------------------------------------------------------------------------
def test_summarize_propagates_nan_like_summarize_seeds():
    from medfx.metrics.classification import summarize_seeds

    seeds = {"0": {"auc": 0.9, "acc": 0.8}, "1": {"auc": float("nan"), "acc": 0.7}}
    s = _summarize({"seeds": seeds})["summary"]
    ref = summarize_seeds(list(seeds.values()))
    assert math.isnan(s["auc"][0]) and math.isnan(ref["auc"][0])
    assert s["acc"][0] == pytest.approx(ref["acc"][0]) and s["acc"][1] == pytest.approx(ref["acc"][1])
    assert np.isfinite(_summarize({"seeds": {"0": {"auc": 0.9}, "1": {"auc": 0.7}}})["summary"]["auc"][0])
