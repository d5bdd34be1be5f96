"""Forty-ninth session's training-data-only pilot (BENCHMARKS "Issue 13: forty-ninth session"): do augmented copies
of the few labelled volumes, as extra training rows of the probes, help the top-5 probe ensemble (`linear_topk`)?

On a label-budget run's own subsets, keys and C (chosen on its budgeted validation split, as the method does), every
(budget, head seed) cell's `linear_topk` is refitted on

  base     the labelled rows alone (the run's method; checked equal to what the bank gives)
  flip     + the 2^d - 1 mirror images of each labelled image (every non-empty set of spatial axes flipped)
  sde100   + K partially noised and denoised copies of each labelled image (SDEdit: noise to t0 = 100 with a seeded
  sde300     draw, then a deterministic DDIM pass back to 0 in STEPS steps with the run's own DDPM, EMA weights;
             t0 = 300: larger changes)
  all      + every copy above

and scored on the HIDDEN labels of the training-subsample images outside the budget (no validation or test label is
read). The copies' features come from the run's extractor settings (same keys, noise seed salted by copy); each
probe's C is divided by the rows per labelled image so that the L2 penalty weighs as it did on the labelled rows alone
(the same images repeated n times with C/n give the same logistic fit). One TSV row per (budget, seed, variant).

    PYTHONPATH=.:bench python -P bench/pilot49_aug.py bench/runs/le-a3d-s7-d49 5,10 0,1,2,3,4,5 \
        bench/results/pilot49_a3d_s7.tsv
    python bench/pilot49_summary.py bench/results/pilot49_a3d_s7.tsv bench/results/pilot49_a3d_s8.tsv
(the TSV goes to the optional fourth argument, else to stdout; progress to stderr). K (default 3) copies per strength, STEPS (default 4) DDIM steps; env PILOT_K, PILOT_STEPS.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time

import numpy as np
import torch
from pilot_data import FineTuneRun, score, topk_proba

from medfx.diffusion.noise import sample_seeds, seeded_noise
from medfx.diffusion.samplers import sampling_timesteps
from medfx.diffusion.schedule import NoiseProcess
from medfx.features.extractor import FeatureExtractor
from medfx.probes.linear import LinearProbe

K = int(os.environ.get("PILOT_K", 3))
STEPS = int(os.environ.get("PILOT_STEPS", 4))
T0S = (100, 300)
SDE_SEED = 49


def flips(x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Every non-empty set of spatial axes of ``x`` ([B, C, *spatial]) mirrored."""
    d = x.ndim - 2
    out = []
    for n in range(1, d + 1):
        for axes in itertools.combinations(range(d), n):
            out.append(("f" + "".join(map(str, axes)), x.flip([2 + a for a in axes])))
    return out


@torch.no_grad()
def sdedit(model, process: NoiseProcess, x: torch.Tensor, ids: list[str], t0: int, lo: float, hi: float):
    """Noise ``x`` to ``t0`` with per-image seeded noise, then denoise deterministically (DDIM, ``STEPS`` steps)."""
    eps = seeded_noise(sample_seeds(SDE_SEED, ids, salt=f"sde{t0}"), x.shape[1:], dtype=x.dtype)
    xt = process.add_noise(x, eps, torch.full((x.shape[0],), t0, dtype=torch.long))
    ts = [t for t in sampling_timesteps(t0 + 1, STEPS)]  # t0 ... 0, evenly spaced
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        a_t, a_prev = process.alpha_bar(t), process.alpha_bar(t_prev)
        e = model(xt, torch.full((x.shape[0],), t, dtype=torch.long), None).double()
        x0 = process.predict_x0(xt.double(), e, a_t).clamp(lo, hi)
        e = process.predict_eps(xt.double(), x0, a_t)
        xt = (a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e).float()
    return xt.clamp(lo, hi)


def main(run_dir: str, budgets: list[int], seeds: list[int], out=sys.stdout) -> None:
    torch.manual_seed(0)
    run = FineTuneRun(run_dir)
    fc = run.cfg.features
    keys = list(run.bank.keys())
    blocks = list(dict.fromkeys(b for b, _ in keys))
    times = sorted({t for _, t in keys})
    ext = FeatureExtractor(run.backbone, run.diffusion, blocks=blocks, timesteps=times, pool=fc.pool, seed=fc.seed,
                           grid=fc.grid, noise_draws=fc.noise_draws, clean=fc.clean, precision=fc.precision)
    process = NoiseProcess(run.diffusion)
    lo, hi = (float(v) for v in run.cfg.data.intensity_range)
    lab_rows = sorted({int(r) for b in budgets for s in seeds for r in run.rows(b, s)[0]})
    ids = [str(run.ids[r]) for r in lab_rows]
    x = run.images[torch.as_tensor(lab_rows)].float()

    def feats(xb: torch.Tensor, idb: list[str]) -> dict:
        out: dict = {}
        for a in range(0, len(idb), 16):
            f = ext(xb[a:a + 16], idb[a:a + 16])
            for k in keys:
                out.setdefault(k, []).append(f[k].reshape(f[k].shape[0], -1).numpy())
        return {k: np.concatenate(v) for k, v in out.items()}

    t = time.time()
    orig = feats(x, ids)  # the extractor must reproduce the bank before any copy is trusted
    for k in keys:
        ref = np.asarray(run.bank[k])[lab_rows].reshape(len(lab_rows), -1)
        if not np.allclose(orig[k], ref, rtol=1e-4, atol=1e-4):
            raise SystemExit(f"{run_dir}: re-extracted features of {k} differ from the bank "
                             f"(max {np.abs(orig[k] - ref).max():.2e})")
    copies: dict[str, list[dict]] = {"flip": [], "sde100": [], "sde300": []}
    for name, xf in flips(x):
        copies["flip"].append(feats(xf, [f"{i}#{name}" for i in ids]))
    for t0 in T0S:
        for c in range(K):
            cid = [f"{i}#sde{t0}-{c}" for i in ids]
            xs = torch.cat([sdedit(run.backbone, process, x[a:a + 16], cid[a:a + 16], t0, lo, hi)
                            for a in range(0, len(ids), 16)])
            copies[f"sde{t0}"].append(feats(xs, cid))
            print(f"# sde{t0} copy {c}: mean |copy - image| {float((xs - x).abs().mean()):.4f} "
                  f"(image range {lo:g}..{hi:g})", file=sys.stderr, flush=True)
    copies["all"] = copies["flip"] + copies["sde100"] + copies["sde300"]
    print(f"# {run_dir}: {len(lab_rows)} labelled images, {sum(len(v) for k, v in copies.items() if k != 'all')} "
          f"copies each, {time.time() - t:.0f} s (K={K}, DDIM steps {STEPS}, t0 {T0S})", file=sys.stderr, flush=True)
    at = {r: n for n, r in enumerate(lab_rows)}
    print("budget\tseed\tvariant\tscore AUC\tscore macro-F1\tbase check", file=out, flush=True)
    for b in budgets:
        for s in seeds:
            lab, hid = run.rows(b, s)
            groups, Cs = run.probes(b, s)["topk"]
            loc = [at[int(r)] for r in lab]
            for v in ("base", "flip", "sde100", "sde300", "all"):
                extra = [] if v == "base" else copies[v]
                p = np.zeros((len(hid), run.k))
                for g, c in zip(groups, Cs, strict=True):
                    X = np.concatenate([orig[k][loc] for k in g], axis=1)
                    Xa = np.concatenate([X] + [np.concatenate([e[k][loc] for k in g], axis=1) for e in extra])
                    ya = np.concatenate([run.y[lab]] * (1 + len(extra)))
                    lp = LinearProbe(C=float(c) / (1 + len(extra)), random_state=s).fit(Xa, ya)
                    p += lp.predict_proba(run.X(g)[hid]) / len(groups)
                auc, f1 = score(run.y[hid], p)
                check = ""
                if v == "base":  # the same fit on the bank's own rows
                    check = f"{np.abs(p - topk_proba(run, lab, hid, b, s)).max():.1e}"
                print(f"{b}\t{s}\t{v}\t{auc:.4f}\t{f1:.4f}\t{check}", file=out, flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) not in (3, 4):
        raise SystemExit(__doc__)
    with open(args[3], "w") if len(args) == 4 else contextlib.nullcontext(sys.stdout) as fh:
        main(args[0], [int(b) for b in args[1].split(",")], [int(s) for s in args[2].split(",")], fh)
