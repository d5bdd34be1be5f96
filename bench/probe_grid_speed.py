"""Wall time of the whole blocks x timesteps probe grid (``medfx.probes.probe_grid``, holdout mode, C="auto").

Features: a real bank (``--bank <run>/features``) or a seeded synthetic one shaped like the demo's pooled bank
(7 blocks x 4 timesteps, 32-64 dims, 2000 / 524 / 624 train / val / test samples, two classes). Prints and
writes (``--out``) the seconds, the best cell and the chosen C of every cell, so that two versions of medfx can
be compared on the same features by running this script under each (``PYTHONPATH=<checkout>``):

    PYTHONPATH=/path/to/old python bench/probe_grid_speed.py --out /tmp/old.json
    PYTHONPATH=.            python bench/probe_grid_speed.py --out /tmp/new.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DEMO_BLOCKS = (("down.0", 32), ("down.1", 64), ("down.2", 64), ("mid", 64), ("up.0", 64), ("up.1", 64),
               ("up.2", 32))


def synthetic(seed: int = 0, n=(2000, 524, 624), timesteps=(0, 10, 50, 200)):
    """Correlated, shifted features with a class signal that fades with t and differs by block."""
    rng = np.random.default_rng(seed)
    total = sum(n)
    y = (rng.random(total) < 0.7).astype(np.int64)
    split = np.array(["train"] * n[0] + ["val"] * n[1] + ["test"] * n[2])
    feats = {}
    for i, (b, d) in enumerate(DEMO_BLOCKS):
        mix = rng.standard_normal((d, d)) / np.sqrt(d)
        direction = rng.standard_normal(d)
        for j, t in enumerate(timesteps):
            signal = 0.6 * (1 + i % 3) / (1 + j)
            z = rng.standard_normal((total, d)) + signal * y[:, None] * direction / np.linalg.norm(direction) * 3
            feats[(b, t)] = (z @ mix * (1 + i) + 0.5 * i).astype(np.float32)
    return feats, y, split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", help="a feature bank folder (default: synthetic demo-shaped features)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args()
    import medfx
    from medfx.probes import probe_grid

    if args.bank:
        from medfx.features.bank import FeatureBank

        bank = FeatureBank(args.bank)
        feats, y, split = {k: np.asarray(bank[k]) for k in bank}, bank.labels, bank.split
    else:
        feats, y, split = synthetic()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = probe_grid(feats, y, split, progress=False)
        times.append(time.perf_counter() - t0)
    out = {"medfx": str(Path(medfx.__file__).parent), "cells": len(feats), "seconds": times,
           "best": list(res.best()), "C": {f"{r['block']}@{r['t']}": r["C"] for r in res.table},
           "val_auc": {f"{r['block']}@{r['t']}": r["val_auc"] for r in res.table},
           "features": args.bank or "synthetic demo-shaped"}
    print(json.dumps({k: out[k] for k in ("medfx", "cells", "seconds", "best")}))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
