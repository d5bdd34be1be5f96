"""What the training-data-only pilots (bench/pilot36_grid.py, pilot36_semisup.py, pilot37_feats.py,
pilot37_readout.py, pilot38_ft.py, pilot38_lpft.py) read from a label-budget run: its feature bank, labels and
subsets; the labelled and the HIDDEN training rows of a (budget, head seed); the run's own probe keys and C (chosen on
its budgeted validation split); and the score on the hidden labels. ``FineTuneRun`` adds what the fine-tuning pilots
train with: the run's config, DDPM and images, and the harness settings of a budget. Nothing here reads a test label
(the fine-tuning pilots choose the epoch on the budgeted validation split, as the harness does)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score

from medfx.config import load_config
from medfx.features.bank import FeatureBank
from medfx.heads.finetune import BackboneClassifier
from medfx.heads.trainer import ClassifierData
from medfx.probes.grid import ProbeGridResult
from medfx.probes.linear import LinearProbe
from medfx.workflows.label_budgets import _scaled_train_config
from medfx.workflows.pipeline import DCubeLosses, _load_images, flip_axis


class PilotRun:
    """A label-budget run directory ``run`` (``<run>/features``, ``<run>/budgets``)."""

    def __init__(self, run: str | Path):
        self.run = Path(run)
        self.bank = FeatureBank(f"{self.run}/features")
        self.ids = list(self.bank.ids)
        self.pos = {i: n for n, i in enumerate(self.ids)}
        self.y = np.asarray(self.bank.labels)
        self.tr_all = np.flatnonzero(np.asarray(self.bank.split) == "train")
        self.sub = json.loads((self.run / "budgets" / "subsets.json").read_text())
        self.k = len(np.unique(self.y))

    def rows(self, b: int, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Bank rows of the budget's labelled training images, and of the other training-subsample images (whose
        labels the pilots score on)."""
        lab = np.array([self.pos[i] for i in self.sub["seeds"][str(s)][str(b)]["train_ids"]])
        return lab, np.setdiff1d(self.tr_all, lab)

    def val_rows(self, b: int, s: int) -> np.ndarray:
        """Bank rows of the budget's validation subset."""
        return np.array([self.pos[i] for i in self.sub["seeds"][str(s)][str(b)]["val_ids"]])

    def grid(self, b: int, s: int) -> ProbeGridResult:
        return ProbeGridResult.from_json(self.run / "budgets" / f"b{b}" / f"seed{s}" / "probe_grid.json")

    def X(self, keys, bank: FeatureBank | None = None) -> np.ndarray:
        """``[n, dims]`` features of the (block, t) ``keys``, concatenated, from ``bank`` (default: the run's)."""
        bank = bank or self.bank
        return np.concatenate([np.asarray(bank[k]).reshape(len(self.ids), -1) for k in keys], axis=1)

    def probes(self, b: int, s: int) -> dict[str, tuple[list, list]]:
        """The run's probes as ``{method: (groups of keys, C per group)}``: ``ks`` (one probe on the concatenated KS
        keys, where the run has ``linear_ks``) and ``topk`` (one probe per top-5 cell, averaged)."""
        grid = self.grid(b, s)
        top = grid.top(5)
        out = {"topk": ([[k] for k in top], [grid.row(*k)["C"] for k in top])}
        ks = self.run / "budgets" / f"b{b}" / f"seed{s}" / "linear_ks" / "metrics.json"
        if ks.exists():
            ks = json.loads(ks.read_text())
            out = {"ks": ([[tuple(k) for k in ks["input"]]], [ks["C"]]), **out}
        return out


class FineTuneRun(PilotRun):
    """A ``PilotRun`` plus the run's config, its DDPM (EMA weights) and every image in bank order (in memory).
    ``ddpm=False``: without the DDPM (pilots that train image models only, e.g. bench/pilot48_distill.py)."""

    def __init__(self, run: str | Path, ddpm: bool = True):
        super().__init__(run)
        self.cfg = load_config(self.run / "config.yaml", [])
        self.images = _load_images(self.cfg, self.bank, in_memory=True)
        self.axis = flip_axis(self.cfg, self.images.ndim - 2)
        if ddpm:  # the DDPM as the harness's backbone_ft gets it (EMA weights, the checkpoint's DiffusionConfig)
            self.backbone, _, self.diffusion = DCubeLosses(self.cfg, self.cfg.pipeline.checkpoint, self.axis).ddpm()

    def data(self, rows: np.ndarray) -> ClassifierData:
        return ClassifierData(torch.from_numpy(self.y[rows]), images=self.images[torch.from_numpy(rows)])

    def train_config(self, method: str, b: int, s: int):
        """The label-budget harness's settings of ``method`` at budget ``b``, head seed ``s``."""
        return _scaled_train_config(self.cfg, s, method, len(self.rows(b, s)[0]), self.axis)

    def backbone_ft(self, key, scale: float) -> BackboneClassifier:
        """``backbone_ft``'s model from the (block, t) ``key`` with backbone learning-rate scale ``scale``."""
        return BackboneClassifier(self.backbone, key[0], key[1], self.k, self.diffusion, tuple(self.images.shape[1:]),
                                  backbone_lr_scale=scale, noise_seed=self.cfg.features.seed)


def topk_proba(run: PilotRun, lab: np.ndarray, rows: np.ndarray, b: int, s: int) -> np.ndarray:
    """linear_topk as the run has it: one probe per top-5 cell with the run's C, fitted on the bank's ``lab`` rows,
    class probabilities of ``rows`` averaged."""
    groups, Cs = run.probes(b, s)["topk"]
    y, p = run.y, np.zeros((len(rows), run.k))
    for g, c in zip(groups, Cs):
        X = run.X(g)
        p += LinearProbe(C=float(c), random_state=s).fit(X[lab], y[lab]).predict_proba(X[rows]) / len(groups)
    return p


def score(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """AUC and macro-F1 (argmax) of two-class probabilities ``p``."""
    return roc_auc_score(y, p[:, 1]), f1_score(y, p.argmax(1), average="macro")
